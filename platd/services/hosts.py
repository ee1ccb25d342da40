"""The cluster's hosts as users see them, join tokens, and accepting a joining host.

What a host is comes from replicated ``hosts`` rows (each host describes itself); whether it is
alive comes from gossip, passed in as ``members``; how far behind this host is comes from the
replicator (``lag``). Only the host admin (a token with no org) manages hosts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlmodel import col, select

from platd.auth.tokens import Principal
from platd.gossip.types import Member
from platd.secrets import join
from platd.services.context import ServiceContext
from platd.spec.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from platd.spec.timeparse import format_age
from platd.store.models import Event, Host, JoinToken

STATES = ("alive", "suspect", "failed", "left")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden(
            "managing hosts needs the host admin token or an admin user (this caller belongs "
            "to orgs, not to the host)",
            hint="use the admin token platd init printed (or PLAT_TOKEN set to it)",
        )


def _state(member: Member | None, row: Host) -> str:
    if row.deleted:
        return "removed"
    if member is None:
        return "unknown"
    return {"alive": "alive", "leaving": "left", "left": "left", "failed": "failed"}.get(
        member.status, "unknown"
    )


def host_view(row: Host, member: Member | None, lag: float | None, me: str,
              now: float) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "api": row.api,
        "gossip": row.gossip,
        "region": row.region,
        "labels": json.loads(row.labels_json),
        "state": _state(member, row),
        "this_host": row.id == me,
        "cpus": row.cpus,
        "memory": row.memory,
        "cordoned": row.cordoned,
        "draining": row.draining,
        "joined_at": row.joined_at,
        "joined": format_age(now - row.joined_at),
        "lag_seconds": lag,
    }


def list_hosts(ctx: ServiceContext, principal: Principal, members: list[Member],
               lag: Mapping[str, float]) -> dict[str, Any]:
    by_name = {m.name: m for m in members}
    now = ctx.clock.time()
    with ctx.store.read() as session:
        rows = session.exec(select(Host).where(Host.deleted == False)  # noqa: E712
                            .order_by(col(Host.name))).all()
    hosts = [host_view(r, by_name.get(r.id), lag.get(r.id, 0.0 if r.id == ctx.store.host_id
                                                        else None), ctx.store.host_id, now)
             for r in rows]
    if not hosts:  # a host of its own: itself, as the only member
        hosts = []
    alive = sum(1 for h in hosts if h["state"] == "alive")
    return {"hosts": hosts, "alive": alive, "total": len(hosts),
            "lag_seconds": max(lag.values(), default=0.0)}


def find_host(session: Any, text: str) -> Host:
    text = text.strip()
    if not text or len(text) > 128:
        raise InvalidInput("name a host by its name or id", hint="see them with: plat hosts")
    rows = session.exec(select(Host).where(Host.deleted == False)).all()  # noqa: E712
    matches = [h for h in rows if h.name == text or h.id == text or h.id.endswith(text)]
    if len(matches) != 1:
        raise NotFound(f"no host {text!r} in this cluster" if not matches else
                       f"{text!r} names {len(matches)} hosts; use the id",
                       hint="see them with: plat hosts")
    found: Host = matches[0]
    return found


def describe_host(ctx: ServiceContext, principal: Principal, text: str, members: list[Member],
                  lag: Mapping[str, float]) -> dict[str, Any]:
    with ctx.store.read() as session:
        row = find_host(session, text)
        events = session.exec(
            select(Event).where(Event.env_id == "", Event.instance_id == row.id)
            .order_by(col(Event.at).desc()).limit(10)
        ).all()
        view = host_view(row, {m.name: m for m in members}.get(row.id),
                         lag.get(row.id), ctx.store.host_id, ctx.clock.time())
        view["events"] = [{"at": e.at, "outcome": e.outcome, "message": e.message}
                          for e in events]
    return view


def remove_host(ctx: ServiceContext, principal: Principal, text: str,
                members: list[Member]) -> dict[str, Any]:
    """Forget a host for good. Only a host that is not alive: a live one must leave itself."""
    _require_admin(principal)
    with ctx.store.write() as session:
        row = find_host(session, text)
        if row.id == ctx.store.host_id:
            raise Conflict("a host cannot remove itself",
                           hint="run plat hosts remove from another host of the cluster")
        member = {m.name: m for m in members}.get(row.id)
        if member is not None and member.status == "alive":
            raise Conflict(
                f"host {row.name} is alive; removing it would leave it running on its own",
                hint="stop platd on it first (then it shows as failed), and run this again",
            )
        row.deleted = True
        session.add(row)
        session.add(Event(id=_uuid(), at=ctx.clock.time(), env_id="", step="host", outcome="info",
                          message=f"host {row.name} was removed from the cluster by "
                                  f"{principal.name}", actor=principal.name, instance_id=row.id))
    return {"removed": row.id, "name": row.name}


SCHEDULE_ACTIONS = ("cordon", "uncordon", "drain")


def set_schedule(ctx: ServiceContext, principal: Principal, text: str,
                 action: str) -> dict[str, Any]:
    """Cordon (take no new instances), drain (and move the ones it has), or uncordon a host.

    The change is a replicated row, and placement reads it in the same commit: a drain's moves
    are written here, and each instance on the host stops only once its replacement elsewhere
    is healthy (``platd.spec.assign.surplus_to_keep``)."""
    from platd.services import placement

    _require_admin(principal)
    if action not in SCHEDULE_ACTIONS:
        raise NotFound(f"no host action {action!r}",
                       hint="plat hosts cordon|uncordon|drain HOST")
    with ctx.store.write() as session:
        row = find_host(session, text)
        before = ("draining" if row.draining else "cordoned" if row.cordoned else "schedulable")
        row.cordoned = action in ("cordon", "drain")
        row.draining = action == "drain"
        session.add(row)
        words = {"cordon": "cordoned (takes no new instances; keeps what it runs)",
                 "uncordon": "uncordoned (takes instances again)",
                 "drain": "drained (its instances move to other hosts, each stopping once its "
                          "replacement is healthy)"}[action]
        session.add(Event(id=_uuid(), at=ctx.clock.time(), env_id="", step="host",
                          outcome="info", message=f"host {row.name} was {words} by "
                          f"{principal.name}", actor=principal.name, instance_id=row.id))
        session.flush()
        answer = placement.replace(session, ctx.clock, ctx.membership, actor=principal.name)
        moving = sum(1 for a in answer for n in a.notes if f"moved from {row.name} " in n)
    return {"host": row.id, "name": row.name, "action": action, "was": before,
            "cordoned": row.cordoned, "draining": row.draining, "moving": moving,
            "message": f"host {row.name} {words}"}


def create_join_token(ctx: ServiceContext, principal: Principal,
                      ttl: float = join.DEFAULT_TTL) -> dict[str, Any]:
    _require_admin(principal)
    if not 60 <= ttl <= join.MAX_TTL:
        raise InvalidInput("a join token lasts between 1 minute and 7 days",
                           hint="e.g. plat hosts join-token --ttl 1h")
    token = join.new_token()
    now = ctx.clock.time()
    with ctx.store.write() as session:
        session.add(JoinToken(
            id=token.id,
            sealed_secret=ctx.box.seal({"secret": join.b64url(token.secret)}, token.id),
            expires_at=now + ttl, created_at=now, created_by=principal.name,
        ))
    return {"token": str(token), "id": token.id, "expires_at": now + ttl,
            "expires_in_seconds": ttl}


def token_secret(ctx: ServiceContext, token_id: str) -> bytes:
    """The secret of a join token that may still be used; Unauthenticated otherwise."""
    refused = Unauthenticated("this join token is unknown, used or expired",
                              hint="make a new one on a cluster member: plat hosts join-token")
    with ctx.store.read() as session:
        row = session.get(JoinToken, token_id)
    if row is None or row.deleted or row.used_by or row.expires_at < ctx.clock.time():
        raise refused
    return join.unb64url(ctx.box.open(row.sealed_secret, row.id)["secret"])


def accept_join(ctx: ServiceContext, body: dict[str, Any],
                cluster: dict[str, Any]) -> dict[str, Any]:
    """Check a join request, use up its token, record the host, and seal the keys for it."""
    token_id = str(body.get("token_id", ""))[:64]
    secret = token_secret(ctx, token_id)
    client_public = join.check_request(secret, body)
    host = body.get("host") or {}
    host_id, name = str(host.get("id", "")), str(host.get("name", ""))
    if not host_id or not name or len(host_id) > 64 or len(name) > 64:
        raise InvalidInput("a joining host must say its id and name")
    now = ctx.clock.time()
    with ctx.store.write() as session:
        row = session.get(JoinToken, token_id)
        if row is None or row.used_by:
            raise Unauthenticated("this join token was used meanwhile")
        row.used_by, row.deleted = host_id, True
        session.add(row)
        existing = session.get(Host, host_id)
        if existing is not None and not existing.deleted:
            raise Conflict(f"host {host_id} is already a member",
                           hint="a host joins once; its data dir keeps the membership")
        session.add(Host(
            id=host_id, name=name, api=str(host.get("api", ""))[:256],
            gossip=str(host.get("gossip", ""))[:128], region=str(host.get("region", ""))[:64],
            labels_json=json.dumps(host.get("labels") or {}, sort_keys=True)[:2048],
            joined_at=now,
        ))
        session.add(Event(id=_uuid(), at=now, env_id="", step="host", outcome="ok",
                          message=f"host {name} joined the cluster (token {token_id})",
                          instance_id=host_id))
        peers = [h.gossip for h in session.exec(select(Host).where(Host.deleted == False))  # noqa: E712
                 if h.gossip and h.id != host_id]
    return join.seal_answer(secret, token_id, client_public, {**cluster, "peers": peers})


def _uuid() -> str:
    from platd.spec.ids import uuid7

    return uuid7()
