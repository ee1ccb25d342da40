"""The device authorization grant (RFC 8628) as pure state: codes, approval and polling.

``plat login`` asks for a device code; the daemon answers with a secret ``device_code`` (the
CLI polls with it) and a short ``user_code`` that a person types or follows in a browser. The
person signs in and approves or denies; the next poll learns the outcome. Everything here takes
``now`` from the caller, so expiry and ``slow_down`` are tested without waiting.

User codes are 8 letters from 20 consonants (RFC 8628 section 6.1: no vowels, so no words;
20^8 is about 2.6e10) shown as XXXX-XXXX. Typing is forgiving: case, dashes and spaces are
ignored. Grants live in memory: they last minutes, and a daemon restart only means running
``plat login`` again. Only the SHA-256 of a device code is kept.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
CODE_LENGTH = 8
SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5: each slow_down adds 5 seconds to the interval
MAX_PENDING = 1000  # grants held at once: requests are unauthenticated, memory is not


def new_user_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalize_user_code(text: str) -> str | None:
    """The 8 letters of what a person typed, or None if it cannot be a user code."""
    letters = "".join(c for c in text.upper() if c not in "- \t")
    if len(letters) != CODE_LENGTH or any(c not in ALPHABET for c in letters):
        return None
    return letters


def _hash(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()


@dataclass
class Grant:
    """One pending login: who asks (``client``, from ``address``, at ``requested_at``)."""

    device_hash: str
    user_code: str
    client: str
    address: str
    requested_at: float
    expires_at: float
    interval: float
    status: str = "pending"  # pending | approved | denied | issued
    user_id: str | None = None
    last_poll: float | None = None

    @property
    def display_code(self) -> str:
        return format_user_code(self.user_code)


@dataclass(frozen=True)
class Poll:
    """What one poll answers: an RFC 8628 error code, or ``approved`` with the grant (the
    caller mints the token, once: the grant is ``issued`` from then on)."""

    outcome: str  # approved | authorization_pending | slow_down | expired_token |
    # access_denied | invalid_grant
    grant: Grant | None = None


@dataclass
class DeviceFlow:
    ttl: float = 600.0
    interval: float = 5.0
    _by_device: dict[str, Grant] = field(default_factory=dict)
    _by_user: dict[str, Grant] = field(default_factory=dict)

    def start(self, client: str, address: str, now: float) -> tuple[str, Grant]:
        """A new grant; returns the device code (shown once) and the grant."""
        self._sweep(now)
        if len(self._by_device) >= MAX_PENDING:
            raise OverflowError("too many logins in progress")
        device_code = secrets.token_urlsafe(32)
        user_code = new_user_code()
        while user_code in self._by_user:
            user_code = new_user_code()
        grant = Grant(_hash(device_code), user_code, client, address, now, now + self.ttl,
                      self.interval)
        self._by_device[grant.device_hash] = grant
        self._by_user[user_code] = grant
        return device_code, grant

    def pending(self, typed: str, now: float) -> Grant | None:
        """The grant a person's code names, if it still waits for a decision."""
        code = normalize_user_code(typed)
        grant = self._by_user.get(code) if code else None
        if grant is None or grant.status != "pending" or now >= grant.expires_at:
            return None
        return grant

    def decide(self, grant: Grant, user_id: str, approve: bool, now: float) -> bool:
        """Approve or deny ``grant`` for ``user_id``; False if it is no longer pending."""
        if grant.status != "pending" or now >= grant.expires_at:
            return False
        grant.status = "approved" if approve else "denied"
        grant.user_id = user_id
        return True

    def poll(self, device_code: str, now: float) -> Poll:
        grant = self._by_device.get(_hash(device_code))
        if grant is None:
            return Poll("invalid_grant")
        if grant.last_poll is not None and now - grant.last_poll < grant.interval:
            grant.last_poll = now
            grant.interval += SLOW_DOWN_STEP
            return Poll("slow_down", grant)
        grant.last_poll = now
        if grant.status == "denied":
            self._drop(grant)
            return Poll("access_denied", grant)
        if grant.status == "approved":
            grant.status = "issued"
            self._drop(grant)
            return Poll("approved", grant)
        if now >= grant.expires_at:
            self._drop(grant)
            return Poll("expired_token", grant)
        return Poll("authorization_pending", grant)

    def _drop(self, grant: Grant) -> None:
        self._by_device.pop(grant.device_hash, None)
        self._by_user.pop(grant.user_code, None)

    def _sweep(self, now: float) -> None:
        # Expired grants nobody polls any more; a poller that comes back gets invalid_grant.
        for grant in [g for g in self._by_device.values() if now >= g.expires_at + self.ttl]:
            self._drop(grant)
