"""``platd serve``: one daemon in this process, until a signal or the death of a vital task.

SIGTERM and SIGINT stop the daemon in order (long polls answer at once, the requests in flight
finish, then the reconciler, the ingress controller and the log service stop) and the process
exits 0 (130 after SIGINT). When a vital root task dies the daemon stops the same way and exits
1, so systemd (``Restart=on-failure``) starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from platd.daemon import Daemon, HttpServer, open_daemon, secrets_root

__all__ = ["secrets_root", "serve"]

log = logging.getLogger("platd")


def serve(
    data_path: Path | None,
    host: str,
    port: int,
    *,
    runtime: str = "docker",
    docker_url: str | None = None,
) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    daemon = open_daemon(data_path, runtime=runtime, docker_url=docker_url)
    try:
        return asyncio.run(_serve(daemon, host, port))
    finally:
        daemon.close()


async def _serve(daemon: Daemon, host: str, port: int) -> int:
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        daemon.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    http = HttpServer(daemon.app, host, port)
    log.info("platd %s serving on %s:%d (data %s)", daemon.host_name, host, port,
             daemon.data.path)
    ended = await daemon.run(http)
    if ended is not None:
        return 1
    return 130 if received and received[0] == signal.SIGINT else 0
