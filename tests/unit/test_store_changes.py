"""The store's change seam: rows are stamped by the store, commits announce what they changed,
and no replicated row can be written unstamped or deleted outright.

The reconciler, long-poll followers and (in a cluster) the gossip layer all hang off this: a row
written without a stamp would never reach a peer, and a hard delete would come back from one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table
from sqlmodel import SQLModel, select

from platd.spec.hlc import HybridLogicalClock
from platd.store.changes import LOCAL_TABLES, ChangeSet, replicated_tables
from platd.store.models import Env, Event, Instance, Org
from tests.unit.store_support import make_store

REPLICATION_COLUMNS = {"id", "hlc", "origin"}


def minimal_row(model: type[SQLModel], row_id: str) -> Any:
    """A row of ``model`` with every required column filled with a plain value."""
    values: dict[str, Any] = {}
    table: Table = model.__table__  # type: ignore[attr-defined]
    for column in table.c:
        if column.name in {"hlc", "origin"} or column.nullable or column.autoincrement is True:
            continue
        python = column.type.python_type
        python = str if python is object else python  # SQLModel's AutoString
        values[column.name] = {str: "x", int: 1, float: 1.0, bool: False, bytes: b"x"}[python]
    values["id"] = row_id
    return model(**values)


def test_every_table_replicates_unless_it_is_declared_local() -> None:
    """Adding a table without the replication columns fails here, not in a cluster later."""
    tables = SQLModel.metadata.tables
    replicated = set(replicated_tables())
    for name, table in tables.items():
        if name in LOCAL_TABLES:
            continue
        missing = REPLICATION_COLUMNS - set(table.c.keys())
        assert not missing, f"table {name} lacks {missing}: replicate it or list it in LOCAL_TABLES"
        assert name in replicated
    assert "meta" not in replicated
    assert len(replicated) == len(tables) - len(LOCAL_TABLES) >= 17


@pytest.mark.parametrize("table", sorted(replicated_tables()))
def test_every_replicated_write_is_stamped_and_announced(tmp_path: Path, table: str) -> None:
    store = make_store(tmp_path, "host-a")
    seen: list[ChangeSet] = []
    store.listeners.append(seen.append)
    model = replicated_tables()[table]
    with store.write() as session:
        session.add(minimal_row(model, "row-1"))
    assert len(seen) == 1
    assert seen[0].tables == {table: frozenset({"row-1"})}
    assert not seen[0].remote
    with store.read() as session:
        row = session.exec(select(model)).one()
    assert row.origin == "host-a"  # type: ignore[attr-defined]
    assert row.hlc == seen[0].hlc > 0  # type: ignore[attr-defined]


def test_an_update_is_restamped_and_announced(tmp_path: Path) -> None:
    store = make_store(tmp_path, "host-a")
    with store.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0))
    with store.read() as session:
        first = session.get(Org, "o1")
    assert first is not None
    seen: list[ChangeSet] = []
    store.listeners.append(seen.append)
    with store.write() as session:
        org = session.get(Org, "o1")
        assert org is not None
        org.name = "acme2"
        session.add(org)
    with store.read() as session:
        second = session.get(Org, "o1")
    assert second is not None
    assert second.hlc > first.hlc
    assert seen == [ChangeSet({"orgs": frozenset({"o1"})}, second.hlc)]


def test_a_write_that_changes_nothing_wakes_nobody(tmp_path: Path) -> None:
    """A reconciler pass ends with a write; an empty one must not wake the next pass."""
    store = make_store(tmp_path, "host-a")
    with store.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0))
    seen: list[ChangeSet] = []
    store.listeners.append(seen.append)
    with store.write() as session:
        org = session.get(Org, "o1")
        assert org is not None
        org.name = "acme"  # the same value: nothing changed
        session.add(org)
        session.exec(select(Org)).all()
    assert seen == []


def test_a_replicated_row_cannot_be_deleted_outright(tmp_path: Path) -> None:
    store = make_store(tmp_path, "host-a")
    with store.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0))
    def hard_delete() -> None:
        with store.write() as session:
            session.delete(session.get(Org, "o1"))

    with pytest.raises(TypeError, match="tombstone"):
        hard_delete()
    with store.read() as session:
        assert session.get(Org, "o1") is not None


def test_the_clock_is_seeded_from_every_replicated_table(tmp_path: Path) -> None:
    """After a restart no stamp goes below one already written, whichever table holds it."""
    future = 4_000_000_000_000  # ms, the year 2096: far past the wall clock
    for table, model in replicated_tables().items():
        directory = tmp_path / table
        store = make_store(directory, "host-b", HybridLogicalClock(lambda: future))
        with store.write() as session:
            session.add(minimal_row(model, "r"))
        written = store.clock.last
        store.close()
        reopened = Store_at(directory, "host-b")
        assert reopened.clock.now() > written, table
        reopened.close()


def Store_at(directory: Path, host_id: str) -> Any:
    from platd.store.db import Store

    return Store(directory / "state.db", host_id, HybridLogicalClock(lambda: 1))


def test_an_update_supersedes_the_version_it_changes_even_one_stamped_ahead_of_the_clock(
        tmp_path: Path) -> None:
    """Found by the replication campaign in CI: host-1, its clock 8 s behind host-0's, merged
    an env from host-0 and deployed to it before its clock had seen the merged stamp. The
    deploy's row got a smaller stamp than the version it replaced: it lost on every peer but
    kept its place on host-1, whose marks said it had everything. The hosts never converged."""
    ahead = make_store(tmp_path / "a", "host-a", HybridLogicalClock(lambda: 2_000_000))
    behind = make_store(tmp_path / "b", "host-b", HybridLogicalClock(lambda: 1_000_000))
    with ahead.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0))
    behind.apply_remote(ahead.rows_since("host-a", 0))
    # The update lands before the clock has observed the merge (the race the campaign hit).
    behind.clock = HybridLogicalClock(lambda: 1_000_000)
    with behind.write() as session:
        org = session.get(Org, "o1")
        assert org is not None
        org.name = "hooli"
        session.add(org)
    ahead.apply_remote(behind.rows_since("host-b", 0))
    for store in (ahead, behind):
        with store.read() as session:
            org = session.get(Org, "o1")
        assert org is not None
        assert org.name == "hooli", store.host_id
    assert ahead.digest() == behind.digest()


def test_a_merge_moves_the_clock_before_any_write_can_follow_it(tmp_path: Path) -> None:
    """Listeners run after the write lock is released, so a write may already be waiting:
    the clock has seen the merged stamps by then."""
    ahead = make_store(tmp_path / "a", "host-a", HybridLogicalClock(lambda: 2_000_000))
    behind = make_store(tmp_path / "b", "host-b", HybridLogicalClock(lambda: 1_000_000))
    with ahead.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0))
    seen: list[int] = []
    behind.listeners.append(lambda _changes: seen.append(behind.clock.last))
    behind.apply_remote(ahead.rows_since("host-a", 0))
    assert len(seen) == 1
    assert seen[0] > ahead.clock.last


def test_apply_remote_keeps_stamps_and_the_larger_stamp_wins(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", "host-a")
    b = make_store(tmp_path / "b", "host-b")
    with a.write() as session:
        session.add(Org(id="o1", name="from-a", created_at=0.0))
    seen: list[ChangeSet] = []
    b.listeners.append(seen.append)
    changes = b.apply_remote(a.rows_since("host-a", 0))
    assert changes.remote
    assert changes.tables == {"orgs": frozenset({"o1"})}
    assert seen == [changes]
    with b.read() as session:
        org = session.get(Org, "o1")
    assert org is not None
    assert org.origin == "host-a"
    assert org.name == "from-a"
    # b renames it later: its stamp is larger (its clock moved past a's), so it wins on a.
    with b.write() as session:
        org = session.get(Org, "o1")
        assert org is not None
        org.name, org.deleted = "from-b", True
        session.add(org)
    a.apply_remote(b.rows_since("host-b", 0))
    # An older version arriving late loses.
    stale = {"table": "orgs", "row": {**b.rows_since("host-b", 0)[0]["row"], "hlc": 1,
                                      "name": "stale"}}
    a.apply_remote([stale])
    with a.read() as session:
        org = session.get(Org, "o1")
    assert org is not None
    assert org.name == "from-b"
    assert org.deleted
    assert org.origin == "host-b"
    assert a.digest() == b.digest()


def test_rows_since_and_high_water_follow_each_origin(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", "host-a")
    with a.write() as session:
        session.add(Org(id="o1", name="one", created_at=0.0))
        session.add(Env(id="e1", app_id="x", name="prod", created_at=0.0))
    with a.write() as session:
        session.add(Event(id="ev1", at=0.0, env_id="e1", step="deploy", outcome="ok",
                          message="m"))
    rows = a.rows_since("host-a", 0)
    assert [r["table"] for r in rows][-1] == "events"
    assert all("seq" not in r["row"] for r in rows)  # a local cursor never travels
    marks = a.high_water()
    assert marks == {"host-a": rows[-1]["row"]["hlc"]}
    assert a.rows_since("host-a", marks["host-a"]) == []
    assert a.rows_since("host-a", rows[0]["row"]["hlc"]) == rows[1:]
    assert a.rows_since("host-z", 0) == []


def test_rows_since_pages_never_split_one_stamp(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", "host-a")
    for i in range(5):
        with a.write() as session:
            session.add(Org(id=f"o{i}", name=f"n{i}", created_at=0.0))
    page = a.rows_since("host-a", 0, limit=2)
    assert [r["row"]["id"] for r in page] == ["o0", "o1"]
    rest = a.rows_since("host-a", page[-1]["row"]["hlc"], limit=10)
    assert [r["row"]["id"] for r in rest] == ["o2", "o3", "o4"]


def test_instances_are_owned_by_their_host_not_their_last_writer(tmp_path: Path) -> None:
    a = make_store(tmp_path / "a", "host-a")
    b = make_store(tmp_path / "b", "host-b")
    with a.write() as session:
        session.add(Instance(id="i1", host_id="host-a", env_id="e", workload="web",
                             release_id="r", spec_hash="h", container_id=None, state="running",
                             health="none", updated_at=0.0))
    b.apply_remote(a.rows_since("host-a", 0))
    with b.read() as session:
        inst = session.get(Instance, "i1")
    assert inst is not None
    assert inst.host_id == "host-a"
    assert inst.origin == "host-a"


@pytest.mark.parametrize("table", sorted(replicated_tables()))
def test_every_replicated_table_travels_whole(tmp_path: Path, table: str) -> None:
    """A row read with rows_since and merged elsewhere is the same row there (every column)."""
    a = make_store(tmp_path / "a", "host-a")
    b = make_store(tmp_path / "b", "host-b")
    with a.write() as session:
        session.add(minimal_row(replicated_tables()[table], "row-1"))
    b.apply_remote(a.rows_since("host-a", 0))
    assert b.digest() == a.digest()
    assert b.rows_since("host-a", 0) == a.rows_since("host-a", 0)
