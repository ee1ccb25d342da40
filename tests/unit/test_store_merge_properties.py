"""Properties of the merge every cluster host relies on (``Store.apply_remote``).

Hosts write independently, with skewed clocks, and swap rows in whatever order gossip and
anti-entropy happen to deliver them. Whatever the order, and however often a batch arrives,
every host must end with the same rows: the version with the larger ``(hlc, origin)``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from platd.spec.hlc import HybridLogicalClock
from platd.store.db import Store
from platd.store.models import Event, Org
from platd.store.replication import WireRow
from tests.unit.store_support import make_store

HOSTS = ("host-a", "host-b", "host-c")
BASE_MS = 1_800_000_000_000

write = st.tuples(
    st.just("write"), st.sampled_from(HOSTS), st.sampled_from(["o1", "o2", "o3"]),
    st.integers(0, 9), st.booleans(),
)
event = st.tuples(st.just("event"), st.sampled_from(HOSTS))
pull = st.tuples(st.just("pull"), st.sampled_from(HOSTS), st.sampled_from(HOSTS))
tick = st.tuples(st.just("tick"), st.integers(0, 3))
schedule = st.lists(st.one_of(write, event, pull, tick), min_size=1, max_size=30)
skews = st.tuples(*[st.integers(-5_000, 5_000) for _ in HOSTS])
PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


class Cluster:
    """Three stores whose wall clocks are skewed by ``skew`` ms and advance by ``tick``."""

    def __init__(self, root: Path, skew: tuple[int, ...]) -> None:
        self.now = BASE_MS
        self.stores: dict[str, Store] = {}
        self.events = 0
        self.written: dict[str, list[tuple[int, str, str, bool]]] = {}  # every version, by id
        for host, offset in zip(HOSTS, skew, strict=True):
            clock = HybridLogicalClock(lambda offset=offset: self.now + offset)
            self.stores[host] = make_store(root / host, host, clock)
            self.stores[host].high_water()  # from here on the marks are kept, not re-read

    def run(self, step: tuple[object, ...]) -> None:
        kind = step[0]
        if kind == "write":
            _, host, row_id, value, deleted = step
            with self.stores[str(host)].write() as session:
                org = session.get(Org, row_id) or Org(id=str(row_id), name="", created_at=0.0)
                org.name, org.deleted = f"{host}-{value}", bool(deleted)
                session.add(org)
                session.flush()
                self.written.setdefault(org.id, []).append(
                    (org.hlc, org.origin, org.name, org.deleted)
                )
        elif kind == "event":
            self.events += 1
            with self.stores[str(step[1])].write() as session:
                session.add(Event(id=f"ev{self.events}", at=0.0, env_id="e", step="deploy",
                                  outcome="ok", message=str(self.events)))
        elif kind == "pull":
            anti_entropy(self.stores[str(step[1])], self.stores[str(step[2])])
        elif kind == "tick":
            self.now += int(step[1])  # type: ignore[call-overload]

    def converge(self) -> None:
        for _ in range(2):
            for dst in HOSTS:
                for src in HOSTS:
                    if dst != src:
                        anti_entropy(self.stores[dst], self.stores[src])

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


def anti_entropy(dst: Store, src: Store) -> None:
    """What a host pulls from a peer: per origin, every row past its own high-water mark."""
    for origin in src.high_water():
        # Pages of 5 exercise resuming: pull until the peer has nothing newer.
        while rows := src.rows_since(origin, dst.high_water().get(origin, 0), limit=5):
            dst.apply_remote(rows, through={origin: rows[-1]["row"]["hlc"]})


def all_rows(store: Store) -> list[WireRow]:
    return [r for origin in store.high_water() for r in store.rows_since(origin, 0, 10_000)]


@contextmanager
def cluster(skew: tuple[int, ...]) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="plat-merge-") as root:
        c = Cluster(Path(root), skew)
        try:
            yield c
        finally:
            c.close()


@PROPERTY
@given(schedule, skews)
def test_any_interleaving_of_writes_and_pulls_converges(
    steps: list[tuple[object, ...]], skew: tuple[int, ...]
) -> None:
    with cluster(skew) as c:
        for step in steps:
            c.run(step)
        c.converge()
        digests = {host: store.digest() for host, store in c.stores.items()}
        assert len(set(digests.values())) == 1, digests
        # ...and what they agree on is, for every row, its version with the largest stamp.
        with c.stores["host-a"].read() as session:
            kept = {o.id: (o.hlc, o.origin, o.name, o.deleted) for o in session.exec(select(Org))}
        assert kept == {row_id: max(versions) for row_id, versions in c.written.items()}
        # The marks each store kept as it wrote and merged are never behind what its tables
        # say (they may be ahead by a write of its own that a newer version superseded: it
        # needs that row from no one).
        for store in c.stores.values():
            kept_marks, fresh = store.high_water(), store.high_water(fresh=True)
            assert all(kept_marks.get(o, 0) >= stamp for o, stamp in fresh.items()), \
                (kept_marks, fresh)


@PROPERTY
@given(schedule, skews)
def test_applying_the_same_rows_twice_changes_nothing(
    steps: list[tuple[object, ...]], skew: tuple[int, ...]
) -> None:
    with cluster(skew) as c:
        for step in steps:
            c.run(step)
        rows = [r for s in c.stores.values() for r in all_rows(s)]
        target = c.stores["host-a"]
        target.apply_remote(rows)
        once = target.digest()
        again = target.apply_remote(rows)
        assert target.digest() == once
        assert not again  # nothing written, nobody woken


@PROPERTY
@given(schedule, skews, st.randoms(use_true_random=False))
def test_two_batches_in_either_order_give_the_same_database(
    steps: list[tuple[object, ...]], skew: tuple[int, ...], rnd: object
) -> None:
    with cluster(skew) as c:
        for step in steps:
            c.run(step)
        batches = [all_rows(c.stores[h]) for h in HOSTS]
        with tempfile.TemporaryDirectory(prefix="plat-merge-") as root:
            x = make_store(Path(root) / "x", "host-x")
            y = make_store(Path(root) / "y", "host-y")
            for batch in batches:
                x.apply_remote(batch)
            for batch in reversed(batches):
                # Row by row in a shuffled order: a peer's rows may arrive in any order.
                shuffled = list(batch)
                rnd.shuffle(shuffled)  # type: ignore[attr-defined]
                for row in shuffled:
                    y.apply_remote([row])
            assert x.digest() == y.digest()
            x.close()
            y.close()
