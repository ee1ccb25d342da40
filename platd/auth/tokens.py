"""API tokens, roles and the principal a request acts as.

Tokens are 32 random bytes, shown once and stored only as their SHA-256: a leaked database gives
an attacker nothing to replay. A slow hash would add nothing for values with this much entropy.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    """Who is calling, and what they hold in which org.

    Three kinds of caller: the host admin (its token, or a user made admin by the setup link),
    an org-scoped token (one org, one role), and a user's token, whose roles are the user's
    memberships *now*: changing a member's role changes what their tokens may do at once.
    ``name`` is who events name as the actor: the token's name, or the user's.
    """

    token_id: str
    name: str
    org_id: str | None
    org_name: str | None
    role: str
    admin: bool | None = None  # None: as the token says (no org and no user: the admin)
    user_id: str | None = None
    token_name: str = ""
    expires_at: float | None = None
    # org id -> (org name, role): the one org of an org token, a user's memberships
    roles: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.roles and self.org_id is not None:
            object.__setattr__(self, "roles", {self.org_id: (self.org_name or "", self.role)})

    @property
    def is_admin(self) -> bool:
        if self.admin is not None:
            return self.admin
        return self.org_id is None and self.user_id is None

    def can_see(self, org_id: str) -> bool:
        return self.is_admin or org_id in self.roles

    def role_in(self, org_id: str) -> str | None:
        held = self.roles.get(org_id)
        return held[1] if held else None

    def require(self, org_id: str | None, role: str) -> None:
        """Raise unless this principal holds at least ``role`` in ``org_id``.

        ``org_id`` None means a host-level action (creating orgs), which only the admin may do.
        Callers check visibility first, so another org's resources read as not found.
        """
        if self.is_admin:
            return
        held = self.roles.get(org_id) if org_id is not None else None
        if held is None:
            raise Forbidden(
                "this caller is not a host admin and cannot do host-level actions"
                if org_id is None else "this caller has no role in that org",
                hint="use the admin token printed by `platd init`, or sign in as a host admin",
            )
        org_name, have = held
        if _RANK[have] < _RANK[role]:
            if self.user_id:
                raise Forbidden(
                    f"user {self.name!r} has role {have} in org {org_name}; this needs {role} "
                    "or above",
                    hint=f"ask an owner of {org_name}: plat members set-role {self.name} {role} "
                    f"--org {org_name}",
                )
            raise Forbidden(
                f"token {self.name!r} has role {have}; this needs {role} or above",
                hint=f"ask an owner for a token: plat tokens create --org {org_name} "
                f"--role {role}",
            )
