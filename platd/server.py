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
    tls: bool = False,
) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    daemon = open_daemon(data_path, runtime=runtime, docker_url=docker_url)
    try:
        files = _tls_files(daemon, host, tls)
        return asyncio.run(_serve(daemon, host, port, files))
    finally:
        daemon.close()


def _tls_files(daemon: Daemon, host: str, forced: bool) -> tuple[Path, Path] | None:
    """The certificate and key to serve with: always beyond loopback (platd never sends
    tokens in the clear over a network), on loopback only when asked (``--tls``)."""
    from platd import certs
    from platd.spec.errors import InvalidInput
    from platd.spec.fingerprint import is_loopback

    if not forced and is_loopback(host):
        return None
    if certs.ca_pem(daemon.data.path) is None:
        raise InvalidInput(
            f"refusing to listen on {host} without TLS: {daemon.data.path} has no cluster CA",
            hint=["make one (a host of its own): platd ca --create --data "
                  f"{daemon.data.path}",
                  "or listen on loopback only: --listen 127.0.0.1:7400"],
        )
    settings = daemon.settings
    names = certs.wanted_names(host, settings.api_url, settings.tls_names)
    return certs.ensure_host_cert(daemon.data.path, daemon.host_name, names)


async def _serve(daemon: Daemon, host: str, port: int,
                 tls: tuple[Path, Path] | None = None) -> int:
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        daemon.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    http = HttpServer(daemon.app, host, port, tls)
    log.info("platd %s serving on %s://%s:%d (data %s)", daemon.host_name,
             "https" if tls else "http", host if ":" not in host else f"[{host}]", port,
             daemon.data.path)
    ended = await daemon.run(http)
    if ended is not None:
        return 1
    return 130 if received and received[0] == signal.SIGINT else 0
