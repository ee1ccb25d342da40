"""Concurrent writes that the merge resolved, made visible and usable.

The merge keeps one version of every row, but two *rows* can still collide. Two cases matter:

- **The same name made twice** (an org, project, app, env, secret bundle, volume or endpoint
  created under one name on both sides of a partition): both rows survive the merge. The one
  created first keeps the name (UUIDv7 ids order by creation time; a row's stamp would not do,
  it changes with every later write). The other is renamed ``NAME-XXXX`` (the end of its id),
  so both stay reachable, and a ``conflict`` event names both.
- **One workload scaled on both sides** before either had a scale row for it: two rows for one
  (env, workload). The later write (larger ``(hlc, origin)``) is kept, the other tombstoned.
- **Two deploys (or rollbacks) to one env** on two sides: the env's pointer is one row, so the
  later change (larger ``(hlc, origin)``) is current everywhere; both releases stay listed. The
  two changes are found as two moves away from the same release, and a ``conflict`` event says
  which won and why.

Every host that merges finds the same conflicts and writes the same rename and the same event
(its id is derived from the rows involved), so they converge like any other write.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict
from typing import Any

from sqlmodel import Session, SQLModel, select

from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.models import (
    App,
    EndpointRow,
    Env,
    EnvChange,
    Event,
    Org,
    Project,
    Release,
    Scale,
    SecretBundle,
    Volume,
)

# table -> (model, the column that scopes its names, what people call it)
NAMED: dict[str, tuple[type[SQLModel], str | None, str]] = {
    "orgs": (Org, None, "org"),
    "projects": (Project, "org_id", "project"),
    "apps": (App, "project_id", "app"),
    "envs": (Env, "app_id", "env"),
    "secret_bundles": (SecretBundle, "env_id", "secret bundle"),
    "volumes": (Volume, "env_id", "volume"),
    "endpoints": (EndpointRow, "env_id", "endpoint"),
}


def conflict_id(*row_ids: str) -> str:
    """The same event id on every host that finds this conflict."""
    digest = hashlib.sha256("\0".join(sorted(row_ids)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))  # name-based, as uuid5 is


def renamed(name: str, row_id: str) -> str:
    suffix = "-" + row_id.replace("-", "")[-4:]
    return name[: 40 - len(suffix)].rstrip("-") + suffix


def resolve(store: Store, changes: ChangeSet) -> list[str]:
    """After a merge: rename name collisions and record both kinds of conflict; returns the
    event messages written (for logs and tests)."""
    touched = [t for t in NAMED if changes.touches(t)]
    scales = changes.touches("scales")
    envs = set(changes.tables.get("envs", ())) | _envs_of_changes(
        store, changes.tables.get("env_changes", frozenset()))
    if not touched and not envs and not scales:
        return []
    written: list[str] = []
    with store.write() as session:
        if scales:
            written += _scales(session)
        for table in touched:
            written += _names(session, table)
        for env_id in sorted(envs):
            written += _deploys(session, env_id)
    return written


def _envs_of_changes(store: Store, change_ids: frozenset[str]) -> set[str]:
    if not change_ids:
        return set()
    with store.read() as session:
        return {c.env_id for c in session.exec(select(EnvChange)) if c.id in change_ids}


def _names(session: Session, table: str) -> list[str]:
    model, scope, noun = NAMED[table]
    groups: dict[tuple[Any, str], list[Any]] = defaultdict(list)
    for row in session.exec(select(model).where(model.deleted == False)):  # type: ignore[attr-defined]  # noqa: E712
        groups[(getattr(row, scope) if scope else None, getattr(row, "name"))].append(row)  # noqa: B009
    out = []
    for (_scope, name), rows in sorted(groups.items(), key=lambda g: str(g[0])):
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: r.id)
        keeper = rows[0]
        for loser in rows[1:]:
            new_name = renamed(name, loser.id)
            loser.name = new_name
            session.add(loser)
            message = (
                f"two hosts created {noun} {name} while they could not reach each other: "
                f"the first made (id {keeper.id[-12:]}) keeps the name, the other "
                f"(id {loser.id[-12:]}) is now {new_name}"
            )
            out.append(message)
            _event(session, conflict_id(keeper.id, loser.id), _env_of(table, keeper), message)
    return out


def _scales(session: Session) -> list[str]:
    groups: dict[tuple[str, str], list[Scale]] = defaultdict(list)
    for row in session.exec(select(Scale).where(Scale.deleted == False)):  # noqa: E712
        groups[(row.env_id, row.workload)].append(row)
    out = []
    for (_env, workload), rows in sorted(groups.items()):
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: (r.hlc, r.origin))
        for loser in rows[:-1]:
            loser.deleted = True
            session.add(loser)
        out.append(f"workload {workload} was scaled on two sides; the later scale holds")
    return out


def _env_of(table: str, row: Any) -> str:
    if table == "envs":
        return str(row.id)
    return str(getattr(row, "env_id", "") or "")


def _deploys(session: Session, env_id: str) -> list[str]:
    env = session.get(Env, env_id)
    if env is None:
        return []
    by_previous: dict[str | None, list[EnvChange]] = defaultdict(list)
    for change in session.exec(select(EnvChange).where(EnvChange.env_id == env_id)):
        by_previous[change.previous_release_id].append(change)
    out = []
    for siblings in by_previous.values():
        targets = {c.release_id for c in siblings}
        if len(siblings) < 2 or len(targets) < 2:
            continue
        winner = max(siblings, key=lambda c: (c.hlc, c.origin))
        if env.current_change_id in {c.id for c in siblings}:
            winner = next(c for c in siblings if c.id == env.current_change_id)
        releases = {r.id: r for r in session.exec(
            select(Release).where(Release.env_id == env_id))}

        losers = [c for c in siblings if c.id != winner.id]
        message = (
            f"concurrent changes to this env while hosts could not reach each other: "
            f"{_label(winner, releases)} is current because it was the later change; "
            + "; ".join(f"{_label(c, releases)} was superseded" for c in losers)
            + " (both releases stay listed: plat releases)"
        )
        out.append(message)
        _event(session, conflict_id(*[c.id for c in siblings]), env_id, message)
    return out


def _label(change: EnvChange, releases: dict[str, Release]) -> str:
    r = releases.get(change.release_id)
    seq = f"v{r.seq}" if r is not None else "?"
    return f"{change.action} of {seq} (release {change.release_id[-12:]}, by {change.by})"


def _event(session: Session, event_id: str, env_id: str, message: str) -> None:
    """Write the conflict's event, or correct it: a host that merged part of the rows first
    (pages, or origins pulled one after another) may have explained it from a partial view;
    every host rewrites it from the final one, so the explanation converges too."""
    existing = session.exec(select(Event).where(Event.id == event_id)).first()
    if existing is None:
        session.add(Event(id=event_id, at=time.time(), env_id=env_id, step="conflict",
                          outcome="info", message=message))
    elif existing.message != message:
        existing.message = message
        session.add(existing)
