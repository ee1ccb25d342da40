"""Users and org membership: the setup link, invites, sign-in, members and their roles.

A user is a person with a password (argon2id); what they may do comes from their memberships,
one role per org, read at every request (``services.tokens``), so a role change or a removal
takes effect on their very next call. Invites are single-use links that expire, stored only as
the SHA-256 of their code. The setup link ``platd init`` prints is an invite that makes the
first host admin (what the admin token can do, as a person who can sign in to approve logins).

An org always keeps an owner: the last one can be neither removed nor demoted.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.passwords import DUMMY_HASH, hash_password, verify_password
from platd.auth.tokens import Principal, check_role, hash_token
from platd.clock import Clock
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.names import check_name
from platd.store.db import Store
from platd.store.models import Invite, Membership, Org, Token, User

SETUP_TTL = 24 * 3600.0
INVITE_TTL = 7 * 24 * 3600.0
MAX_INVITE_TTL = 30 * 24 * 3600.0


def user_id(name: str) -> str:
    return f"user-{name}"


def membership_id(uid: str, org_id: str) -> str:
    return f"{uid}:{org_id}"


def _new_invite(clock: Clock, kind: str, name: str | None, org_id: str | None, role: str,
                ttl: float, by: str) -> tuple[str, Invite]:
    code = secrets.token_urlsafe(24)
    now = clock.time()
    row = Invite(id=uuid7(), code_hash=hash_token(code), kind=kind, name=name, org_id=org_id,
                 role=role, expires_at=now + ttl, created_at=now, created_by=by)
    return code, row


def create_setup_link(store: Store, clock: Clock) -> str:
    """The one-time code of the setup link ``platd init`` prints (the path is /setup?code=)."""
    code, row = _new_invite(clock, "setup", None, None, "owner", SETUP_TTL, "platd init")
    with store.write() as session:
        session.add(row)
    return code


def invite(ctx: ServiceContext, principal: Principal, org: str, name: str, role: str,
           ttl: float | None) -> dict[str, Any]:
    check_name("user", name)
    check_role(role)
    ttl = INVITE_TTL if ttl is None else ttl
    if not 60 <= ttl <= MAX_INVITE_TTL:
        raise InvalidInput("an invite lasts between 1 minute and 30 days",
                           hint="for example: --expires 7d")
    with ctx.store.write() as session:
        (org_row,) = tenancy.resolve(session, principal, [org])
        principal.require(org_row.id, "owner")
        held = session.get(Membership, membership_id(user_id(name), org_row.id))
        if held is not None and not held.deleted:
            raise Conflict(f"{name} is already a member of {org_row.name} ({held.role})",
                           hint=f"change the role with: plat members set-role {name} ROLE "
                           f"--org {org_row.name}")
        code, row = _new_invite(ctx.clock, "org", name, org_row.id, role, ttl, principal.name)
        session.add(row)
    return {"id": row.id, "org": org_row.name, "name": name, "role": role,
            "expires_at": row.expires_at, "code": code, "path": f"/invite?code={code}"}


def open_invite(session: Session, code: str, now: float) -> tuple[Invite, str | None]:
    """The live invite ``code`` names and its org's name; NotFound in the same words for a
    wrong, used or expired code (a guess learns nothing)."""
    row = session.exec(select(Invite).where(Invite.code_hash == hash_token(code),
                                            Invite.deleted == False)).first()  # noqa: E712
    if row is None or now >= row.expires_at:
        raise NotFound("this link is not valid: it was used already, has expired or is wrong",
                       hint="ask for a new one")
    org_name = None
    if row.org_id is not None:
        org = session.get(Org, row.org_id)
        if org is None or org.deleted:
            raise NotFound("the org of this invite no longer exists")
        org_name = org.name
    return row, org_name


def describe_invite(ctx: ServiceContext, code: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        row, org_name = open_invite(session, code, ctx.clock.time())
        existing = row.name is not None and _live_user(session, row.name) is not None
    return {"kind": row.kind, "name": row.name, "org": org_name, "role": row.role,
            "expires_at": row.expires_at, "existing_user": existing}


def accept_invite(ctx: ServiceContext, code: str, name: str, password: str) -> User:
    """Use the invite: make the user (or, for an existing user, check their password) and
    give them the role. Single use: the invite is a tombstone afterwards."""
    now = ctx.clock.time()
    with ctx.store.write() as session:
        row, _org = open_invite(session, code, now)
        if row.kind == "org":
            name = row.name or name
        check_name("user", name)
        user = _live_user(session, name)
        if row.kind == "setup" and user is not None:
            raise Conflict(f"a user named {name} already exists", hint="choose another name")
        if user is None:
            user = User(id=user_id(name), name=name, password_hash=hash_password(password),
                        admin=row.kind == "setup", created_at=now,
                        created_by=f"invite {row.id}")
            session.merge(user)
        elif not verify_password(user.password_hash, password):
            raise InvalidInput(f"wrong password for {name}",
                               hint="this invite is for an existing user: use their password")
        if row.kind == "org" and row.org_id is not None:
            _set_membership(session, now, user.id, row.org_id, row.role, row.created_by)
        row.deleted = True
        row.used_by = user.id
        session.add(row)
    return user


def _set_membership(session: Session, now: float, uid: str, org_id: str, role: str,
                    by: str) -> None:
    mid = membership_id(uid, org_id)
    row = session.get(Membership, mid)
    if row is None:
        session.add(Membership(id=mid, user_id=uid, org_id=org_id, role=role, created_at=now,
                               created_by=by, updated_at=now))
        return
    row.deleted, row.role, row.updated_at = False, role, now
    session.add(row)


def _live_user(session: Session, name: str) -> User | None:
    user = session.get(User, user_id(name))
    return user if user is not None and not user.deleted else None


def sign_in(ctx: ServiceContext, name: str, password: str) -> User | None:
    """The user if ``password`` is theirs; unknown names cost the same time as wrong passwords."""
    with ctx.store.read() as session:
        user = _live_user(session, name) if name else None
    if user is None:
        verify_password(DUMMY_HASH, password)
        return None
    return user if verify_password(user.password_hash, password) else None


def get_user(ctx: ServiceContext, uid: str) -> User | None:
    with ctx.store.read() as session:
        user = session.get(User, uid)
        return user if user is not None and not user.deleted else None


def members(ctx: ServiceContext, principal: Principal, org: str) -> dict[str, Any]:
    with ctx.store.read() as session:
        (org_row,) = tenancy.resolve(session, principal, [org])
        principal.require(org_row.id, "viewer")
        rows = session.exec(
            select(Membership, User)
            .where(Membership.org_id == org_row.id, Membership.deleted == False,  # noqa: E712
                   Membership.user_id == User.id, User.deleted == False)  # noqa: E712
            .order_by(col(User.name))
        ).all()
        invites = session.exec(select(Invite).where(
            Invite.org_id == org_row.id, Invite.deleted == False,  # noqa: E712
            Invite.expires_at > ctx.clock.time())).all()
    return {
        "org": org_row.name,
        "members": [{"name": u.name, "role": m.role, "since": m.created_at,
                     "added_by": m.created_by} for m, u in rows],
        "invites": [{"id": i.id, "name": i.name, "role": i.role, "expires_at": i.expires_at,
                     "created_by": i.created_by} for i in invites],
    }


def _membership(session: Session, principal: Principal, org: str,
                name: str) -> tuple[Org, Membership]:
    (org_row,) = tenancy.resolve(session, principal, [org])
    principal.require(org_row.id, "owner")
    row = session.get(Membership, membership_id(user_id(name), org_row.id))
    if row is None or row.deleted:
        raise NotFound(f"{name} is not a member of {org_row.name}",
                       hint=f"see the members with: plat members list --org {org_row.name}")
    return org_row, row


def _keep_an_owner(session: Session, org: Org, row: Membership, what: str) -> None:
    if row.role != "owner":
        return
    owners = session.exec(select(Membership).where(
        Membership.org_id == org.id, Membership.role == "owner",
        Membership.deleted == False)).all()  # noqa: E712
    if len(owners) <= 1:
        raise Conflict(f"cannot {what}: they are the last owner of {org.name}",
                       hint=f"make another member owner first: plat members set-role NAME "
                       f"owner --org {org.name}")


def set_role(ctx: ServiceContext, principal: Principal, org: str, name: str,
             role: str) -> dict[str, Any]:
    check_role(role)
    with ctx.store.write() as session:
        org_row, row = _membership(session, principal, org, name)
        before = row.role
        if role != "owner":
            _keep_an_owner(session, org_row, row, f"make {name} {role}")
        row.role, row.updated_at = role, ctx.clock.time()
        session.add(row)
    return {"org": org_row.name, "name": name, "role": role, "previous_role": before}


def remove(ctx: ServiceContext, principal: Principal, org: str, name: str) -> dict[str, Any]:
    with ctx.store.write() as session:
        org_row, row = _membership(session, principal, org, name)
        _keep_an_owner(session, org_row, row, f"remove {name}")
        row.deleted, row.updated_at = True, ctx.clock.time()
        session.add(row)
    return {"org": org_row.name, "name": name, "removed": True, "role": row.role}


def token_count(ctx: ServiceContext, uid: str) -> int:
    with ctx.store.read() as session:
        return len(session.exec(select(Token).where(Token.user_id == uid,
                                                    Token.deleted == False)).all())  # noqa: E712
