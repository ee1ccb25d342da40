"""Writes of observed state by the host that owns it: instances and release progress.

Only the reconciler of a host calls these, for its own instances, so rows never conflict between
hosts; they replicate like the rest so any host can answer ``plat status``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from platd.clock import Clock
from platd.spec.errors import StorageFull
from platd.store import eventlog
from platd.store.db import Store
from platd.store.models import ENGINE_UNREACHABLE, Env, Instance, ReleaseState

log = logging.getLogger("platd.reconcile")


@dataclass(frozen=True)
class InstanceRow:
    instance_id: str
    env_id: str
    workload: str
    release_id: str
    spec_hash: str
    container_id: str | None
    state: str
    health: str
    restarts: int
    exit_code: int | None
    started_at: float | None
    ports: dict[int, str]
    reason: str | None
    ip: str | None = None  # bridge address, for ingress


@dataclass(frozen=True)
class Verdict:
    """Where a release stands on this host, as ``mark_release`` writes it."""

    env_id: str
    release_id: str
    status: str
    step: str | None
    category: str | None
    message: str


def load_restarts(store: Store) -> dict[str, int]:
    """Restart counts survive a daemon restart; everything else is re-observed."""
    with store.read() as session:
        rows = session.exec(
            select(Instance).where(Instance.host_id == store.host_id, Instance.deleted == False)  # noqa: E712
        )
        return {r.id: r.restarts for r in rows}


def write_instances(
    store: Store, clock: Clock, rows: list[InstanceRow], verdicts: Sequence[Verdict] = (),
) -> None:
    """Replace this host's instance rows with ``rows``; vanished ones become tombstones.

    ``verdicts`` are written in the same transaction: whoever reads a converged verdict finds
    the healthy instances it was decided on, and a rollout's last step is one commit, not two
    one after the other (each a thread hop and a commit the user waits for)."""
    now = clock.time()
    seen = {r.instance_id for r in rows}
    with store.write() as session:
        existing = {
            i.id: i for i in session.exec(select(Instance).where(Instance.host_id == store.host_id))
        }
        for r in rows:
            fields: dict[str, Any] = {
                "env_id": r.env_id, "workload": r.workload, "release_id": r.release_id,
                "spec_hash": r.spec_hash, "container_id": r.container_id, "state": r.state,
                "health": r.health, "restarts": r.restarts, "exit_code": r.exit_code,
                "started_at": r.started_at, "ports_json": json.dumps(r.ports), "reason": r.reason,
                "ip": r.ip,
            }
            row = existing.get(r.instance_id)
            if row is None:
                row = Instance(id=r.instance_id, host_id=store.host_id, updated_at=now, **fields)
            elif not row.deleted and all(getattr(row, k) == v for k, v in fields.items()):
                continue
            for key, value in fields.items():
                setattr(row, key, value)
            row.deleted, row.updated_at = False, now
            session.add(row)
        for instance_id, row in existing.items():
            if instance_id not in seen and not row.deleted:
                row.deleted, row.state, row.updated_at = True, "gone", now
                session.add(row)
        for verdict in verdicts:
            _mark(session, store, clock, verdict)


def mark_engine_unreachable(store: Store, clock: Clock, reason: str) -> None:
    """This host's engine stopped answering: its running instances are no longer known to run,
    so they are shown as ``unknown`` with ``reason`` (not as the running, healthy rows last
    written), and each env they belong to gets one event. Ingress keeps dialling them (they
    may well still run). The next successful observation rewrites them."""
    now = clock.time()
    with store.write() as session:
        rows = session.exec(
            select(Instance).where(Instance.host_id == store.host_id, Instance.deleted == False)  # noqa: E712
        )
        envs = set()
        for row in rows:
            if row.state != "running":
                continue
            row.state, row.health, row.reason, row.updated_at = (
                ENGINE_UNREACHABLE, ENGINE_UNREACHABLE, reason, now)
            session.add(row)
            envs.add(row.env_id)
        for env_id in sorted(envs):
            eventlog.record(session, clock, env_id=env_id, step="runtime", outcome="failed",
                            category="runtime", message=reason)


def mark_release(
    store: Store, clock: Clock, *, env_id: str, release_id: str, status: str, step: str | None,
    category: str | None, message: str,
) -> None:
    with store.write() as session:
        _mark(session, store, clock, Verdict(env_id, release_id, status, step, category, message))


def _mark(session: Session, store: Store, clock: Clock, v: Verdict) -> None:
    state_id = f"{v.release_id}:{store.host_id}"
    state = session.get(ReleaseState, state_id) or ReleaseState(
        id=state_id, release_id=v.release_id, host_id=store.host_id, status=v.status,
        updated_at=0,
    )
    env = session.get(Env, v.env_id)
    if env is not None and env.current_release_id == v.release_id:
        # The verdict answers to the rollout the env's latest pointer move started.
        state.change_id = env.current_change_id
    state.status, state.step, state.category, state.message = (
        v.status, v.step, v.category, v.message)
    state.updated_at = clock.time()
    session.add(state)
    outcome = {"rolling": "started", "converged": "ok", "failed": "failed",
               "degraded": "failed"}[v.status]
    # A degraded release's rollout had ended: its verdict is the watch's, not a rollout's
    # (a follower waits for the rollout step and has already concluded).
    eventlog.record(
        session, clock, env_id=v.env_id, release_id=v.release_id,
        step="watch" if v.status == "degraded" else "rollout",
        outcome=outcome, category=v.category, message=v.message,
    )


def record_event(store: Store, clock: Clock, **fields: Any) -> None:
    """One event in a transaction of its own (what the host saw, not a change it made).

    On a full disk the event is dropped with a warning in platd's log: an observation lost is
    better than a stop or a health probe that dies half-way (the next pass observes again).
    """
    try:
        with store.write() as session:
            eventlog.record(session, clock, **fields)
    except StorageFull as e:
        log.warning("dropped an event (%s: %s): %s", fields.get("step"),
                    fields.get("message"), e.message)
