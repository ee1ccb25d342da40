"""Creating, listing and revoking API tokens, and turning a bearer token into a Principal."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from platd.auth.tokens import Principal, check_role, hash_token, new_token
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import NotFound, Unauthenticated
from platd.spec.ids import uuid7
from platd.spec.names import check_name
from platd.spec.timeparse import format_utc
from platd.store.db import Store
from platd.store.models import Membership, Org, Token, User

# Every request runs it: built once (building it cost as much as running it).
_BY_HASH = select(Token).where(Token.token_hash == bindparam("token_hash"),
                               Token.deleted == False)  # noqa: E712


def authenticate(session: Session, bearer: str | None, now: float) -> Principal:
    if not bearer:
        raise Unauthenticated(
            "no API token was sent",
            hint="log in with: plat login --api URL (or set PLAT_TOKEN)",
        )
    token = session.exec(_BY_HASH, params={"token_hash": hash_token(bearer)}).first()
    if token is None:
        raise Unauthenticated(
            "the API token is not valid (unknown or revoked)",
            hint="log in again: plat login (or ask an owner: plat tokens create --org ORG "
            "--role ROLE)",
        )
    if token.expires_at is not None and now >= token.expires_at:
        raise Unauthenticated(
            f"the API token {token.name!r} expired at {format_utc(token.expires_at)}",
            hint="log in again: plat login",
        )
    if token.user_id is not None:
        return _user_principal(session, token)
    org_name = None
    roles: dict[str, tuple[str, str]] = {}
    if token.org_id is not None:
        org = session.get(Org, token.org_id)
        if org is None or org.deleted:
            raise Unauthenticated("the token's org no longer exists")
        org_name = org.name
        roles[org.id] = (org.name, token.role)
    return Principal(token.id, token.name, token.org_id, org_name, token.role,
                     admin=token.org_id is None, token_name=token.name,
                     expires_at=token.expires_at, roles=roles)


def _user_principal(session: Session, token: Token) -> Principal:
    """A user's token acts with the user's memberships as they are now."""
    user = session.get(User, token.user_id)
    if user is None or user.deleted:
        raise Unauthenticated("the token's user no longer exists",
                              hint="ask an owner for an invite: plat members invite NAME")
    rows = session.exec(select(Membership, Org).where(
        Membership.user_id == user.id, Membership.deleted == False,  # noqa: E712
        Membership.org_id == Org.id, Org.deleted == False,  # noqa: E712
    )).all()
    roles = {org.id: (org.name, m.role) for m, org in rows}
    return Principal(token.id, user.name, None, None, "user", admin=user.admin,
                     user_id=user.id, token_name=token.name, expires_at=token.expires_at,
                     roles=roles)


def principal_for(ctx: ServiceContext, bearer: str | None) -> Principal:
    """Who a request's bearer token belongs to (a few indexed lookups)."""
    with ctx.store.read() as session:
        return authenticate(session, bearer, ctx.clock.time())


def create_admin_token(store: Store, clock: Clock) -> str:
    """The host admin token, made once by ``platd init``."""
    secret = new_token()
    with store.write() as session:
        session.add(_row(clock, secret, "admin", None, "owner", "platd init"))
    return secret


def reset_admin_token(store: Store, clock: Clock, revoke_old: bool) -> tuple[str, int]:
    """A new host admin token (``platd token reset``, on the host: recovery when the old one
    is lost); with ``revoke_old``, every earlier admin token is revoked in the same write.
    Returns the token and how many were revoked."""
    from sqlmodel import select

    secret = new_token()
    revoked = 0
    with store.write() as session:
        if revoke_old:
            old = session.exec(select(Token).where(
                Token.org_id.is_(None), Token.user_id.is_(None),  # type: ignore[union-attr]
                Token.role == "owner", Token.deleted == False)).all()  # noqa: E712
            for token in old:
                token.deleted = True
                session.add(token)
                revoked += 1
        session.add(_row(clock, secret, "admin", None, "owner", "platd token reset"))
    return secret, revoked


def _row(clock: Clock, secret: str, name: str, org_id: str | None, role: str, by: str) -> Token:
    return Token(
        id=uuid7(),
        token_hash=hash_token(secret),
        hint=secret[-4:],
        name=name,
        org_id=org_id,
        role=role,
        created_at=clock.time(),
        created_by=by,
    )


def _describe(token: Token, org_name: str | None, user_name: str | None = None) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "org": org_name,
        "user": user_name,
        "role": token.role,
        "hint": "…" + token.hint,
        "created_at": token.created_at,
        "created_by": token.created_by,
        "expires_at": token.expires_at,
    }


def create(
    ctx: ServiceContext, principal: Principal, org: str, role: str, name: str | None
) -> dict[str, Any]:
    check_role(role)
    name = check_name("token", name) if name else f"{org}-{role}"
    secret = new_token()
    with ctx.store.write() as session:
        (org_row,) = tenancy.resolve(session, principal, [org])
        principal.require(org_row.id, "owner")
        token = _row(ctx.clock, secret, name, org_row.id, role, principal.name)
        session.add(token)
    # The only time the secret is ever returned.
    return {**_describe(token, org_row.name), "token": secret}


def create_user_token(session: Session, clock: Clock, user: User, name: str,
                      ttl: float) -> tuple[str, Token]:
    """A token that acts as ``user`` (the device flow's), valid for ``ttl`` seconds."""
    secret = new_token()
    token = _row(clock, secret, name, None, "user", user.name)
    token.user_id = user.id
    token.expires_at = clock.time() + ttl
    session.add(token)
    return secret, token


def _visible(principal: Principal, token: Token, owned: set[str]) -> bool:
    """A caller sees its own user's tokens and, as an owner, its orgs' tokens."""
    if principal.is_admin:
        return True
    if token.user_id is not None:
        return token.user_id == principal.user_id
    return token.org_id is not None and token.org_id in owned


def _owned(principal: Principal) -> set[str]:
    return {org_id for org_id, (_n, role) in principal.roles.items() if role == "owner"}


def list_tokens(
    ctx: ServiceContext, principal: Principal, org: str | None
) -> list[dict[str, Any]]:
    with ctx.store.read() as session:
        query = select(Token).where(Token.deleted == False)  # noqa: E712
        orgs = {o.id: o.name for o in session.exec(select(Org)).all()}
        users = {u.id: u.name for u in session.exec(select(User)).all()}
        owned = _owned(principal)
        if org is not None:
            (org_row,) = tenancy.resolve(session, principal, [org])
            principal.require(org_row.id, "owner")
            query = query.where(Token.org_id == org_row.id)
        elif not principal.is_admin and principal.user_id is None:
            principal.require(principal.org_id, "owner")
        rows = session.exec(query.order_by(col(Token.created_at))).all()
        return [_describe(t, orgs.get(t.org_id) if t.org_id else None,
                          users.get(t.user_id) if t.user_id else None)
                for t in rows if _visible(principal, t, owned)]


def revoke(ctx: ServiceContext, principal: Principal, token_id: str) -> dict[str, Any]:
    with ctx.store.write() as session:
        token = session.get(Token, token_id)
        if token is None or token.deleted or not _visible(principal, token, _owned(principal)):
            raise NotFound(
                f"no token with id {token_id!r}", hint="list them with: plat tokens list"
            )
        if token.user_id is None:
            principal.require(token.org_id, "owner")
        token.deleted = True
        session.add(token)
        org = session.get(Org, token.org_id) if token.org_id else None
        user = session.get(User, token.user_id) if token.user_id else None
        return _describe(token, org.name if org else None, user.name if user else None)


def whoami(principal: Principal) -> dict[str, Any]:
    return {
        "token_id": principal.token_id,
        "name": principal.token_name or principal.name,
        "user": principal.name if principal.user_id else None,
        "org": principal.org_name,
        "role": "admin" if principal.is_admin else principal.role,
        "admin": principal.is_admin,
        "orgs": [{"org": name, "role": role}
                 for name, role in sorted(principal.roles.values())],
        "expires_at": principal.expires_at,
    }
