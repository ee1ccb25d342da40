"""The event log: what happened to an env, in order, for ``plat events``, ``wait`` and receipts.

Events are insert-only. ``seq`` is this host's local cursor: a follower asks for everything after
the last ``seq`` it saw, so a follow that reconnects resumes without gaps or duplicates.
"""

from __future__ import annotations

import time
from typing import Any

from sqlmodel import Session, col, select

from platd.auth.tokens import Principal
from platd.services import tenancy
from platd.spec.ids import uuid7
from platd.store.db import Store
from platd.store.models import Event

CATEGORIES = ("config", "image", "scheduling", "runtime", "health")
TERMINAL_STEPS = {"rollout"}


def record(
    session: Session, store: Store, *, env_id: str, step: str, outcome: str, message: str,
    release_id: str | None = None, workload: str | None = None, instance_id: str | None = None,
    category: str | None = None, actor: str | None = None,
) -> Event:
    event = Event(
        id=uuid7(), at=time.time(), env_id=env_id, release_id=release_id, workload=workload,
        instance_id=instance_id, step=step, outcome=outcome, category=category,
        message=message, actor=actor,
    )
    session.add(event)
    return event


def to_dict(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq, "id": event.id, "at": event.at, "release_id": event.release_id,
        "workload": event.workload, "instance_id": event.instance_id, "step": event.step,
        "outcome": event.outcome, "category": event.category, "message": event.message,
        "actor": event.actor,
    }


def query(
    session: Session, env_id: str, *, after: int = 0, release_id: str | None = None,
    since: float | None = None, limit: int = 500,
) -> list[Event]:
    q = select(Event).where(Event.env_id == env_id, col(Event.seq) > after)
    if release_id:
        q = q.where(Event.release_id == release_id)
    if since is not None:
        q = q.where(Event.at >= since)
    return list(session.exec(q.order_by(col(Event.seq)).limit(limit)).all())


def last_events(
    session: Session, env_id: str, *, release_id: str | None, since: float | None, limit: int,
) -> list[Event]:
    """The newest ``limit`` events, oldest first: what `plat events` shows without --follow."""
    q = select(Event).where(Event.env_id == env_id)
    if release_id:
        q = q.where(Event.release_id == release_id)
    if since is not None:
        q = q.where(Event.at >= since)
    rows = list(session.exec(q.order_by(col(Event.seq).desc()).limit(limit)).all())
    return rows[::-1]


def list_events(
    store: Store, principal: Principal, target: str, *, after: int | None,
    release_id: str | None, since: float | None, limit: int,
) -> dict[str, Any]:
    with store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        if release_id:
            from platd.services.releases import find_release

            release_id = find_release(session, ref, release_id).id
        if after is None:
            rows = last_events(session, ref.env.id, release_id=release_id, since=since,
                               limit=limit)
        else:
            rows = query(session, ref.env.id, after=after, release_id=release_id, since=since,
                         limit=limit)
        cursor = rows[-1].seq if rows else (after or _top_seq(session))
        return {"target": ref.path, "events": [to_dict(e) for e in rows], "cursor": cursor}


def _top_seq(session: Session) -> int:
    top = session.connection().exec_driver_sql("SELECT MAX(seq) FROM events").scalar()
    return int(top or 0)
