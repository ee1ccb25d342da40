"""Browser sessions of the sign-in and approval pages, in memory.

A visitor gets a session at the first page (anonymous: it only carries the CSRF token the
forms echo back, which also stops login CSRF); signing in replaces it with a fresh one (a new
id, so a planted cookie is worth nothing) bound to the user. Sessions are short (an approval
takes a minute) and die with the daemon; ``end_user`` ends every session of a user at once,
when they are removed or their tokens revoked. Pure: ``now`` comes from the caller.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "plat_session"
TTL = 15 * 60.0
MAX_SESSIONS = 10_000


@dataclass
class WebSession:
    id: str
    csrf: str
    expires_at: float
    user_id: str | None = None

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, sent or "")


@dataclass
class WebSessions:
    ttl: float = TTL
    _by_id: dict[str, WebSession] = field(default_factory=dict)

    def get(self, sid: str | None, now: float) -> WebSession | None:
        s = self._by_id.get(sid) if sid else None
        if s is None or now >= s.expires_at:
            if s is not None:
                del self._by_id[s.id]
            return None
        return s

    def new(self, now: float, user_id: str | None = None) -> WebSession:
        if len(self._by_id) >= MAX_SESSIONS:
            for old in [s for s in self._by_id.values() if now >= s.expires_at]:
                del self._by_id[old.id]
            if len(self._by_id) >= MAX_SESSIONS:  # still full: drop the oldest anonymous
                anon = [s for s in self._by_id.values() if s.user_id is None]
                for old in sorted(anon, key=lambda s: s.expires_at)[: len(anon) // 2 + 1]:
                    del self._by_id[old.id]
        s = WebSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.ttl,
                       user_id)
        self._by_id[s.id] = s
        return s

    def sign_in(self, old: WebSession | None, user_id: str, now: float) -> WebSession:
        if old is not None:
            self._by_id.pop(old.id, None)
        return self.new(now, user_id)

    def end(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def end_user(self, user_id: str) -> int:
        gone = [s.id for s in self._by_id.values() if s.user_id == user_id]
        for sid in gone:
            del self._by_id[sid]
        return len(gone)

    def users(self) -> set[str]:
        return {s.user_id for s in self._by_id.values() if s.user_id}
