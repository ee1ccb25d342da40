"""What the campaign checks once the hosts agree (or do not): the categories of problem, a run's
``Result``, and the checks on the end state (no two live siblings share a name, one current
release per env everywhere, one scale override per workload, conflict events that name the
release that is current).

Reads the stores only; kept apart from the world so the checks can be tested against stores
built by hand (``test_campaign``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from platd.cluster import conflicts
from platd.store import queries
from platd.store.db import Store
from platd.store.models import Env, EnvChange, Event, Release, Scale

# What a problem is about. All but "explanation" mean hosts disagree on what to run.
CATEGORIES = {
    "diverged": "state digests still differ",
    "names": "live siblings share a name",
    "current": "an env's current release differs or dangles",
    "scale": "hosts apply different scale overrides to one workload",
    "crash": "a replicator died or a task failed",
    "explanation": "a deploy-conflict event names a winner that is not current",
}
DIVERGENCE = frozenset(CATEGORIES) - {"explanation"}
Problem = tuple[str, str]  # (category, what)


@dataclass
class Result:
    seed: int
    hosts: int
    steps: int
    converged: bool = False
    seconds: float | None = None  # heal to equal, stable state
    problems: list[Problem] = field(default_factory=list)
    conflicts: int = 0  # conflict events in the end state
    writes: int = 0
    refused: int = 0
    rows_moved: int = 0
    slow: list[str] = field(default_factory=list)  # each host's state while convergence lagged

    def divergent(self, tolerate: frozenset[str] = frozenset()) -> bool:
        """Hosts disagree on what to run (problems of a ``tolerate``d category aside)."""
        return any(c in DIVERGENCE - tolerate for c, _ in self.problems)


def check_end_state(stores: list[Store]) -> tuple[list[Problem], int]:
    """Problems of converged stores, and how many conflict events they hold."""
    problems: list[Problem] = []
    views = [_view(s) for s in stores]
    first = views[0]
    for table, rows in first["names"].items():
        clashes = [k for k, n in Counter(rows).items() if n > 1]
        if clashes:
            problems.append(("names", f"live {table} share a name: {sorted(map(str, clashes))}"))
    for i, view in enumerate(views[1:], 1):
        if view["current"] != first["current"]:
            problems.append(("current", f"host-{i} has other current releases than host-0"))
        if view["scales"] != first["scales"]:
            problems.append(("scale", f"host-{i} applies other scale overrides than host-0: "
                                      f"{view['scales']} vs {first['scales']}"))
    for env_id, (release, change_release, valid) in first["current"].items():
        if release is not None and not valid:
            problems.append(("current", f"env {env_id[-8:]} points at a release it lacks"))
        if change_release != release:
            problems.append(("current", f"env {env_id[-8:]}: current change and current "
                                        "release disagree"))
    for key, count in first["scale_rows"].items():
        if count > 1:
            problems.append(("scale", f"{count} live scale rows for one workload {key}"))
    problems += [("explanation", text) for text in first["misleading"]]
    return problems, first["conflicts"]


_CURRENT_RE = re.compile(r"\(release (\w{12}), by [^)]*\) is current")


def _view(store: Store) -> dict[str, Any]:
    with store.read() as session:
        names: dict[str, list[tuple[Any, str]]] = {}
        for table, (model, scope, _noun) in conflicts.NAMED.items():
            rows = session.exec(select(model).where(model.deleted == False)).all()  # type: ignore[attr-defined]  # noqa: E712
            names[table] = [(getattr(r, scope) if scope else None, getattr(r, "name"))  # noqa: B009
                            for r in rows]
        envs = session.exec(select(Env)).all()
        release_env = {r.id: r.env_id for r in session.exec(select(Release))}
        changes = list(session.exec(select(EnvChange)))
        by_id = {c.id: c for c in changes}
        current = {}
        for env in envs:
            change = by_id.get(env.current_change_id or "")
            current[env.id] = (env.current_release_id,
                               change.release_id if change else None,
                               release_env.get(env.current_release_id or "") == env.id)
        live_envs = [e for e in envs if not e.deleted]
        # What the scale service and the reconciler apply: one override per workload.
        scales = {e.id: {w: s.count for w, s in queries.live_scales(session, e.id).items()}
                  for e in live_envs}
        scale_rows = Counter((s.env_id[-8:], s.workload) for s in session.exec(
            select(Scale).where(Scale.deleted == False)))  # noqa: E712
        conflict_events = {e.id: e for e in session.exec(
            select(Event).where(Event.step == "conflict"))}
        misleading = _misleading(envs, changes, conflict_events)
    return {"names": names, "current": current, "scales": scales, "scale_rows": scale_rows,
            "misleading": misleading, "conflicts": len(conflict_events)}


def _misleading(envs: Any, changes: list[EnvChange], found: dict[str, Event]) -> list[str]:
    """Concurrent moves of an env (changes away from the same release) whose conflict event is
    missing, or names another release as current while one of them is still current."""
    groups: dict[tuple[str, str | None], list[EnvChange]] = defaultdict(list)
    for change in changes:
        groups[(change.env_id, change.previous_release_id)].append(change)
    env_by_id = {e.id: e for e in envs}
    out = []
    for (env_id, _previous), siblings in groups.items():
        if len(siblings) < 2 or len({c.release_id for c in siblings}) < 2:
            continue
        env = env_by_id.get(env_id)
        event = found.get(conflicts.conflict_id(*[c.id for c in siblings]))
        if event is None:
            out.append(f"env {env_id[-8:]}: {len(siblings)} concurrent changes, no event")
            continue
        match = _CURRENT_RE.search(event.message)
        if env is None or match is None:
            continue
        current = env.current_release_id or ""
        if env.current_change_id in {c.id for c in siblings} and match[1] != current[-12:]:
            out.append(f"env {env_id[-8:]}: the event says release {match[1]} is current, "
                       f"but {current[-12:]} is")
    return out
