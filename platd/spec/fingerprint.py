"""A CA certificate's fingerprint, and whether a listen address stays on this machine.

Standard library only: ``plat login`` shows and compares fingerprints without loading the
``cryptography`` package, and ``platd serve`` decides on TLS before it opens anything.
The fingerprint is the SHA-256 of the certificate's DER bytes, written ``sha256:`` and 64 hex
digits, the form ``openssl x509 -fingerprint -sha256`` prints once its colons are dropped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl

from platd.spec.errors import InvalidInput

PREFIX = "sha256:"
_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_PEM = 16384  # a CA certificate is about 600 bytes; more is not one


def fingerprint(pem: str) -> str:
    """``sha256:HEX`` of the first certificate in ``pem``."""
    if len(pem) > MAX_PEM:
        raise InvalidInput("the CA certificate is too large to be one")
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except ValueError:
        raise InvalidInput("the CA certificate is not a PEM certificate") from None
    return PREFIX + hashlib.sha256(der).hexdigest()


def normalise(text: str) -> str:
    """A fingerprint as given (``sha256:`` optional, colons and case free) in the form above;
    InvalidInput when it cannot be one."""
    raw = text.strip().lower()
    if raw.startswith(PREFIX):
        raw = raw[len(PREFIX):]
    raw = raw.replace(":", "")
    if not _HEX.match(raw):
        raise InvalidInput(
            f"{text[:100]!r} is not a CA fingerprint",
            hint="give it as printed by `platd ca` on a host: sha256: and 64 hex digits",
        )
    return PREFIX + raw


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses no other machine reaches."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
