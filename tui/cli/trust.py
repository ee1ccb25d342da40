"""The certificate authorities ``plat login`` pinned, one per API address.

An ``https://`` API is trusted through the cluster CA its user accepted at login (after
comparing its fingerprint, or with ``--ca-fingerprint``), never through the system's CAs: a
plat cluster makes its own CA at ``platd init`` and no public CA vouches for it. Each pin is a
file ``ca/<sha256 of the address>.pem`` in the config folder (0600 in a 0700 folder), so every
member's address can carry its own pin and a login elsewhere never overwrites it.
``PLAT_CA_FILE`` names a PEM file to trust instead, for CI that sets ``PLAT_API`` and
``PLAT_TOKEN`` without logging in.

Standard library only (``ssl`` is imported only for an https address).
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlsplit

from tui.cli import settings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import ssl

MAX_PEM = 16384


def origin(api: str) -> str:
    parts = urlsplit(api if "://" in api else f"http://{api}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    return f"{parts.scheme}://[{host}]:{port}" if ":" in host else f"{parts.scheme}://{host}:{port}"


def pin_file(api: str) -> str:
    digest = hashlib.sha256(origin(api).encode()).hexdigest()[:32]
    return os.path.join(settings.config_dir(), "ca", digest + ".pem")


def pinned(api: str) -> str | None:
    """The CA to trust for ``api``: ``PLAT_CA_FILE``, else the one pinned at login."""
    path = os.environ.get("PLAT_CA_FILE") or pin_file(api)
    try:
        with open(path, encoding="ascii") as f:
            return f.read(MAX_PEM)
    except (OSError, ValueError):
        return None


def pin(api: str, pem: str) -> str:
    """Remember ``pem`` as the CA of ``api``; the file written."""
    path = pin_file(api)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(pem.strip() + "\n")
    os.replace(tmp, path)
    return path


def context(api: str, ca: str | None = None) -> ssl.SSLContext:
    """The TLS context for ``api``: ``ca`` or the pinned CA when there is one (hostname
    checked as usual), else the system's CAs."""
    import ssl

    pem = ca if ca is not None else pinned(api)
    if pem:
        return ssl.create_default_context(cadata=pem)
    return ssl.create_default_context()


def unverified() -> ssl.SSLContext:
    """For the one request that fetches the CA to show its fingerprint: nothing from that
    answer is trusted until the fingerprint is accepted."""
    import ssl

    return ssl._create_unverified_context()
