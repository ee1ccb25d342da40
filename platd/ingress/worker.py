"""A built-in ingress worker process: one more ``Engine`` on the same listeners (SO_REUSEPORT).

platd writes one JSON line per request on stdin and reads one JSON line back for each:
``{"listeners": [...], "hold": bool}`` (the whole configuration; the answer names the
listeners that could not be bound and those held, see ``Engine.apply``) or ``{"release":
true}`` (accept again on held listeners, once every process has the change). When stdin
closes (platd stopped or died), the worker exits.
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
            request = json.loads(line)
            if request.get("release"):
                engine.release().result()
                answer: dict[str, object] = {"released": True}
            else:
                config = config_from_wire(request["listeners"])
                result, held = apply_locally(engine, config, bool(request.get("hold")))
                answer = {"failed": [list(k) for k in result.failed],
                          "held": [list(k) for k in sorted(held)]}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
