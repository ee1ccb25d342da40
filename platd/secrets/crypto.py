"""Secret values at rest: AES-256-GCM with a per-host key file.

Every secret version is sealed with a fresh nonce and bound (as associated data) to the row it
belongs to, so ciphertext copied onto another bundle or version fails to open. The key file lives
in the data dir with mode 0600 and never leaves the host except through replication tooling.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platd.spec.errors import PlatError

NONCE_BYTES = 12


def create_key_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(AESGCM.generate_key(bit_length=256))


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        return cls(path.read_bytes())

    def seal(self, values: dict[str, str], bound_to: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(values, sort_keys=True).encode()
        return nonce + self._aead.encrypt(nonce, plain, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> dict[str, str]:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, bound_to.encode())
        except InvalidTag:
            raise PlatError(
                "a stored secret cannot be decrypted: this host's secret.key is not the key it "
                "was sealed with",
                hint="restore DATA/secret.key from the backup taken with the database",
            ) from None
        values: dict[str, str] = json.loads(plain)
        return values


_BARE = re.compile(r"[A-Za-z0-9_./:@+,=%-]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_value(value: str) -> str:
    """A value as one dotenv token: bare when it holds only safe characters, else in double
    quotes with \\ \" \n \r \t escaped (as dotenv readers decode them), so no value can
    span or add a line. The exact bytes are also in /run/secrets/NAME.d/KEY."""
    if _BARE.fullmatch(value):
        return value
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def render_bundle_file(values: dict[str, str]) -> str:
    """The file an instance sees at /run/secrets/NAME: one ``KEY=value`` line per key, sorted,
    values quoted where needed (``quote_value``; docs/cli.md#plat-secrets)."""
    return "".join(f"{k}={quote_value(v)}\n" for k, v in sorted(values.items()))
