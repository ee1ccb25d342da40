"""The state store wakes its listeners (the reconciler, event followers) only on real changes.

A pass of the reconciler ends with a write transaction; if an empty one woke the next pass,
an idle daemon would run passes back to back forever.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from platd.store.db import Store, migrate
from platd.store.models import Org


def make_store(tmp_path: Path) -> Store:
    path = tmp_path / "state.db"
    migrate(path)
    return Store(path, "host-1")


def test_a_write_that_changes_nothing_wakes_nobody(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    calls: list[int] = []
    store.listeners.append(lambda: calls.append(1))
    with store.write() as session:
        session.exec(select(Org)).all()
    assert calls == []


def test_a_write_that_changes_something_wakes_listeners(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    calls: list[int] = []
    store.listeners.append(lambda: calls.append(1))
    with store.write() as session:
        session.add(Org(id="o1", name="acme", created_at=0.0, **store.stamp()))
        session.flush()  # a flush before commit still counts as a change
    assert calls == [1]
