"""A write that meets a locked state database, and a commit listener that fails: neither may
reach a user as "platd hit an unexpected error".

Within platd writers queue on the store's lock; what SQLite itself can refuse is a lock held by
another process (``platd token reset``, a backup, the sqlite3 shell), here a second connection
that holds ``BEGIN IMMEDIATE``. A real SQLite file, no fakes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from sqlmodel import select

from platd.spec.errors import PlatError, StoreBusy, TimedOut, from_wire
from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.models import Org
from tests.unit.store_support import make_store


def _org(name: str) -> Org:
    return Org(id=f"id-{name}", name=name, created_at=time.time())


def _add(store: Store, name: str, *, refuse: bool = False) -> None:
    with store.write() as session:
        session.add(_org(name))
        if refuse:
            raise PlatError("refused")


def _names(store: Store) -> list[str]:
    with store.read() as session:
        return sorted(o.name for o in session.exec(select(Org)).all())


@contextmanager
def _locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding the database's write lock (as another process would)."""
    with closing(sqlite3.connect(path, isolation_level=None, timeout=0)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield other
        finally:
            other.execute("ROLLBACK")


def test_a_write_past_the_busy_timeout_is_a_clear_retryable_error(tmp_path: Path) -> None:
    store = make_store(tmp_path, "h1")
    short = Store(store.path, "h1", busy_timeout=0.2)
    try:
        with _locked(store.path), pytest.raises(StoreBusy) as caught:
            _add(short, "acme")
        err = caught.value
        assert "stayed locked" in err.message
        assert "nothing was changed" in err.message
        assert any("try again" in h for h in err.hint)
        # On the wire: HTTP 503 and the timed_out code (exit 9) every client already knows.
        assert err.http_status == 503
        assert isinstance(from_wire(err.to_wire(), 503), TimedOut)
        assert _names(store) == []  # nothing was written
        # The lock gone, the same write goes through.
        with short.write() as session:
            session.add(_org("acme"))
        assert _names(store) == ["acme"]
    finally:
        short.close()
        store.close()


def test_a_write_waits_for_a_lock_released_within_the_timeout(tmp_path: Path) -> None:
    """A loaded machine makes a write slow, not failed."""
    store = make_store(tmp_path, "h1")
    try:
        with closing(sqlite3.connect(store.path, isolation_level=None,
                                     check_same_thread=False)) as other:
            other.execute("BEGIN IMMEDIATE")
            release = threading.Timer(0.3, other.execute, ("ROLLBACK",))
            release.start()
            try:
                with store.write() as session:
                    session.add(_org("acme"))
            finally:
                release.join()
        assert _names(store) == ["acme"]
    finally:
        store.close()


def test_a_failing_listener_neither_fails_the_commit_nor_silences_the_others(
    tmp_path: Path,
) -> None:
    store = make_store(tmp_path, "h1")
    heard: list[ChangeSet] = []

    def broken(_changes: ChangeSet) -> None:
        raise RuntimeError("a listener bug")

    store.listeners += [broken, heard.append]
    try:
        with store.write() as session:  # must not raise: the commit landed
            session.add(_org("acme"))
        assert _names(store) == ["acme"]
        assert len(heard) == 1
        assert heard[0].touches("orgs")
    finally:
        store.close()


def test_an_error_inside_the_transaction_still_reaches_the_writer(tmp_path: Path) -> None:
    """Only listeners (after the commit) are shielded; a failed write still fails."""
    store = make_store(tmp_path, "h1")
    try:
        with pytest.raises(PlatError):
            _add(store, "acme", refuse=True)
        assert _names(store) == []
    finally:
        store.close()
