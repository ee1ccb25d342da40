"""A built-in ingress worker process: one more ``Engine`` on the same listeners (SO_REUSEPORT).

platd writes the whole configuration as one JSON line per change on stdin; the worker applies
it and answers one JSON line. When stdin closes (platd stopped or died), the worker exits.
"""

from __future__ import annotations

import json
import signal
import sys

from platd.ingress.builtin import Engine, apply_locally
from platd.ingress.builtin_driver import config_from_wire


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # platd decides when workers stop
    engine = Engine()
    engine.start()
    try:
        for line in sys.stdin:
            config = config_from_wire(json.loads(line))
            result = apply_locally(engine, config)
            sys.stdout.write(json.dumps({"failed": [list(k) for k in result.failed]}) + "\n")
            sys.stdout.flush()
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
