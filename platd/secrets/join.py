"""Joining a cluster: a single-use token, and a key exchange that hands the new host its keys.

A join token reads ``platj_ID_SECRET``. The cluster keeps only the secret sealed with its secret
key (so any member can check a join, and the database holds nothing usable in clear). The token
is never sent: the joining host proves it holds it with an HMAC over an ephemeral X25519 public
key, the member answers with its own public key and proof, and the keys travel encrypted under
a key derived from the Diffie-Hellman secret and the token. Someone who reads the traffic learns
nothing; someone in the middle without the token can neither pass as the new host nor as the
cluster. Over plain HTTP on a LAN this is what keeps the cluster key off the wire.

Pure functions on bytes: the HTTP route and ``platd init --join`` call them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from platd.spec.errors import InvalidInput, Unauthenticated

PREFIX = "platj_"
DEFAULT_TTL = 3600.0  # a join token lasts an hour unless asked otherwise
MAX_TTL = 7 * 86400.0


@dataclass(frozen=True)
class JoinToken:
    id: str
    secret: bytes

    def __str__(self) -> str:
        return f"{PREFIX}{self.id}_{b64url(self.secret)}"

    def __repr__(self) -> str:
        return f"JoinToken(id={self.id!r})"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_token() -> JoinToken:
    return JoinToken(secrets.token_hex(6), os.urandom(32))


def parse_token(text: str) -> JoinToken:
    text = text.strip()
    bad = InvalidInput(
        "that is not a join token (they look like platj_0123456789ab_...)",
        hint="make one on a cluster member with: plat hosts join-token",
    )
    if not text.startswith(PREFIX) or len(text) > 200:
        raise bad
    token_id, _, secret = text[len(PREFIX):].partition("_")
    try:
        raw = unb64url(secret)
    except ValueError:
        raise bad from None
    if len(token_id) != 12 or len(raw) != 32:
        raise bad
    return JoinToken(token_id, raw)


def _mac(secret: bytes, *parts: bytes) -> str:
    return hmac.new(secret, b"\x00".join(parts), hashlib.sha256).hexdigest()


def _session_key(secret: bytes, shared: bytes, client: bytes, server: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=secret,
                info=b"plat-join\x00" + client + server).derive(shared)


@dataclass
class JoinRequest:
    """What the joining host sends; keep ``private`` to open the answer."""

    body: dict[str, Any]
    private: X25519PrivateKey


def make_request(token: JoinToken, host: dict[str, Any]) -> JoinRequest:
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    host_bytes = json.dumps(host, sort_keys=True).encode()
    body = {
        "token_id": token.id,
        "host": host,
        "public": b64(public),
        "proof": _mac(token.secret, b"request", token.id.encode(), public, host_bytes),
    }
    return JoinRequest(body, private)


def check_request(secret: bytes, body: dict[str, Any]) -> bytes:
    """The client's public key if ``body`` proves it holds the token; else Unauthenticated."""
    try:
        public = unb64(body["public"])
        host_bytes = json.dumps(body["host"], sort_keys=True).encode()
        expected = _mac(secret, b"request", str(body["token_id"]).encode(), public, host_bytes)
        ok = len(public) == 32 and hmac.compare_digest(str(body["proof"]), expected)
    except (KeyError, ValueError, TypeError):
        ok = False
    if not ok:
        raise Unauthenticated("the join token does not match",
                              hint="make a new one with: plat hosts join-token")
    return public


def seal_answer(secret: bytes, token_id: str, client_public: bytes,
                payload: dict[str, Any]) -> dict[str, Any]:
    private = X25519PrivateKey.generate()
    server_public = private.public_key().public_bytes_raw()
    shared = private.exchange(X25519PublicKey.from_public_bytes(client_public))
    key = _session_key(secret, shared, client_public, server_public)
    nonce = os.urandom(12)
    aad = token_id.encode() + client_public + server_public
    sealed = AESGCM(key).encrypt(nonce, json.dumps(payload).encode(), aad)
    return {
        "public": b64(server_public),
        "proof": _mac(secret, b"answer", token_id.encode(), client_public, server_public),
        "nonce": b64(nonce),
        "sealed": b64(sealed),
    }


def open_answer(token: JoinToken, request: JoinRequest, answer: dict[str, Any]) -> dict[str, Any]:
    """The cluster's keys and facts, if the answer came from a holder of the token."""
    client_public = request.private.public_key().public_bytes_raw()
    refused = Unauthenticated(
        "the host that answered could not prove it issued this join token",
        hint="check the address you are joining, and make a fresh token there",
    )
    try:
        server_public = unb64(answer["public"])
        expected = _mac(token.secret, b"answer", token.id.encode(), client_public, server_public)
        if not hmac.compare_digest(str(answer["proof"]), expected):
            raise refused
        shared = request.private.exchange(X25519PublicKey.from_public_bytes(server_public))
        key = _session_key(token.secret, shared, client_public, server_public)
        aad = token.id.encode() + client_public + server_public
        plain = AESGCM(key).decrypt(unb64(answer["nonce"]), unb64(answer["sealed"]), aad)
    except (KeyError, ValueError, TypeError, InvalidTag):
        raise refused from None
    result: dict[str, Any] = json.loads(plain)
    return result
