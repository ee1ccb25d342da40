"""Peers sign each request with the cluster key; a user token is never a peer, nor the reverse.

A request from host H carries ``Authorization: PlatPeer host=H,ts=UNIX,sig=HEX`` where ``sig``
is HMAC-SHA256 under the cluster key of the method, the path with its query, the timestamp,
H, and the SHA-256 of the body. The peer routes accept nothing else (a bearer token is refused
there), and the user routes accept only bearer tokens, so neither credential opens the other's
door. A signature is good for ``MAX_SKEW`` seconds either way, which bounds replay of a read.
Standard library only: the CLI never loads it, the daemon checks it on every peer request.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from platd.spec.errors import Unauthenticated

SCHEME = "PlatPeer"
MAX_SKEW = 60.0


def _signature(key: bytes, method: str, target: str, ts: int, host: str, body: bytes) -> str:
    message = "\n".join(
        [method.upper(), target, str(ts), host, hashlib.sha256(body).hexdigest()]
    ).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, host: str, method: str, target: str, body: bytes = b"",
         now: float | None = None) -> str:
    """The Authorization header value for a request to ``target`` (path and query)."""
    ts = int(time.time() if now is None else now)
    return f"{SCHEME} host={host},ts={ts},sig={_signature(key, method, target, ts, host, body)}"


def verify(key: bytes, header: str | None, method: str, target: str, body: bytes = b"",
           now: float | None = None) -> str:
    """The signing host's id, or Unauthenticated with why (never what the right value was)."""
    if not header or not header.startswith(SCHEME + " "):
        raise Unauthenticated(
            "this route is for cluster peers only (a user token does not open it)",
            hint="peers sign requests with the cluster key; users call the /v1 routes",
        )
    try:
        fields = dict(part.split("=", 1) for part in header[len(SCHEME) + 1:].split(","))
        host, ts, sig = fields["host"], int(fields["ts"]), fields["sig"]
    except (ValueError, KeyError):
        raise Unauthenticated("malformed peer signature") from None
    current = time.time() if now is None else now
    if abs(current - ts) > MAX_SKEW:
        raise Unauthenticated(
            f"peer signature from host {host} is {abs(current - ts):.0f} s off this host's clock",
            hint="keep the hosts' clocks in sync (NTP); at most 60 s apart",
        )
    if not hmac.compare_digest(sig, _signature(key, method, target, ts, host, body)):
        raise Unauthenticated(f"bad peer signature from host {host}",
                              hint="is that host in this cluster (same cluster key)?")
    return host
