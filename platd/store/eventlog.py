"""The event log: what happened to an env, in order, for ``plat events``, ``wait`` and receipts.

A leaf that everyone who acts writes to (services for what people do, the reconciler and the
ingress controller for what the host does), inside the transaction that does the thing, so an
event exists exactly when its change does. Events are insert-only. ``seq`` is this host's local
cursor: a follower asks for everything after the last ``seq`` it saw, so a follow that
reconnects resumes without gaps or duplicates.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from platd.clock import Clock
from platd.spec.ids import uuid7
from platd.store.models import Event

CATEGORIES = ("config", "image", "scheduling", "runtime", "health")
TERMINAL_STEPS = {"rollout"}


def record(
    session: Session, clock: Clock, *, env_id: str, step: str, outcome: str, message: str,
    release_id: str | None = None, workload: str | None = None, instance_id: str | None = None,
    category: str | None = None, actor: str | None = None,
) -> Event:
    event = Event(
        id=uuid7(), at=clock.time(), env_id=env_id, release_id=release_id, workload=workload,
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


def top_seq(session: Session) -> int:
    """The newest event's cursor on this host (0 when there is none)."""
    top = session.connection().exec_driver_sql("SELECT MAX(seq) FROM events").scalar()
    return int(top or 0)
