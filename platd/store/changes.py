"""The store's change seam: every replicated row is stamped when it is flushed, and every commit
tells its listeners what changed.

Stamping by hand at each call site was easy to forget and impossible to check; here a
``before_flush`` hook stamps every new or modified row of a replicated table (one whose table
has ``hlc`` and ``origin`` columns) with the host's clock and id, and collects which ids of
which tables were written. After the commit, listeners receive that as a ``ChangeSet``: the
reconciler, long-poll followers and, for a cluster, the gossip layer that announces the new
high-water mark to peers.

Rows merged from a peer (``Store.apply_remote``) keep the stamps they came with: the session is
marked ``remote`` and the hook only records them. A replicated row is never hard-deleted: a
``session.delete`` of one raises, because a deletion that does not travel as a tombstone would
come back from the next peer that still has the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlmodel import Session, SQLModel

from platd.spec.hlc import HybridLogicalClock

LOCAL_TABLES = frozenset({"meta", "replication_marks"})  # per-host facts, never replicated


def is_replicated(table: Table) -> bool:
    return "hlc" in table.c and "origin" in table.c and table.name not in LOCAL_TABLES


@cache
def replicated_tables() -> dict[str, type[SQLModel]]:
    """Every replicated table of the state database, by name, from the models' metadata."""
    import platd.store.models  # noqa: F401  (registers the tables)

    out: dict[str, type[SQLModel]] = {}
    for mapper in SQLModel._sa_registry.mappers:  # type: ignore[attr-defined]
        table = mapper.local_table
        if isinstance(table, Table) and is_replicated(table):
            out[table.name] = mapper.class_
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class ChangeSet:
    """What one commit wrote: ids per table, and the highest stamp among them.

    ``remote`` is true when the rows came from a peer (``apply_remote``): the gossip layer
    announces only local changes, since the origin of remote rows has announced them already.
    """

    tables: Mapping[str, frozenset[str]] = field(default_factory=dict)
    hlc: int = 0
    remote: bool = False

    def __bool__(self) -> bool:
        return any(self.tables.values())

    def touches(self, *names: str) -> bool:
        return any(self.tables.get(n) for n in names)


class ChangeRecorder:
    """Per write session: stamps rows on flush and remembers what was written."""

    def __init__(self, clock: HybridLogicalClock, host_id: str, *, remote: bool = False) -> None:
        self.clock = clock
        self.host_id = host_id
        self.remote = remote
        self.ids: dict[str, set[str]] = {}
        self.top = 0
        self.local_writes = False  # rows of LOCAL_TABLES: no stamp, but still a change

    def before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        for obj in session.deleted:
            table = getattr(obj, "__table__", None)
            if isinstance(table, Table) and is_replicated(table):
                raise TypeError(
                    f"{table.name} rows replicate: mark them deleted (a tombstone), never DELETE"
                )
        for obj in _written(session):
            table = obj.__table__
            if not is_replicated(table):
                self.local_writes = True
                continue
            if not self.remote:
                # An update must supersede the version it changes, even one stamped ahead of
                # this host's clock (merged from a peer whose clock runs ahead, before the
                # clock saw it): stamped below it, the update would lose everywhere but here,
                # and this host would keep its version while every peer kept the other one.
                held = obj.hlc or 0
                obj.hlc = self.clock.observe(held) if held else self.clock.now()
                obj.origin = self.host_id
            self.ids.setdefault(table.name, set()).add(obj.id)
            self.top = max(self.top, obj.hlc)

    def change_set(self) -> ChangeSet:
        return ChangeSet(
            {name: frozenset(ids) for name, ids in self.ids.items()}, self.top, self.remote
        )


def _written(session: Session) -> Iterable[Any]:
    yield from session.new
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            yield obj
