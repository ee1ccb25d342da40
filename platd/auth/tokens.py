"""API tokens and roles.

Tokens are 32 random bytes, shown once and stored only as their SHA-256: a leaked database gives
an attacker nothing to replay. A slow hash would add nothing for values with this much entropy.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from platd.spec.errors import Forbidden, InvalidInput

TOKEN_PREFIX = "plat_"
ROLES = ("viewer", "deployer", "owner")
_RANK = {role: i for i, role in enumerate(ROLES)}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in _RANK:
        raise InvalidInput(
            f"unknown role {role!r}", hint=f"choose one of: {', '.join(ROLES)}"
        )
    return role


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token, its org (None for the host admin) and its role."""

    token_id: str
    name: str
    org_id: str | None
    org_name: str | None
    role: str

    @property
    def is_admin(self) -> bool:
        return self.org_id is None

    def can_see(self, org_id: str) -> bool:
        return self.is_admin or self.org_id == org_id

    def require(self, org_id: str | None, role: str) -> None:
        """Raise unless this principal holds at least ``role`` in ``org_id``.

        ``org_id`` None means a host-level action (creating orgs), which only the admin may do.
        Callers check visibility first, so another org's resources read as not found.
        """
        if self.is_admin:
            return
        if org_id is None or org_id != self.org_id:
            raise Forbidden(
                "this token is scoped to one org and cannot do host-level actions",
                hint="use the admin token printed by `platd init`",
            )
        if _RANK[self.role] < _RANK[role]:
            raise Forbidden(
                f"token {self.name!r} has role {self.role}; this needs {role} or above",
                hint=f"ask an owner for a token: plat tokens create --org {self.org_name} "
                f"--role {role}",
            )
