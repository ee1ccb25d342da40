"""Hybrid logical clock properties, under wall clocks that jump and peers that run ahead."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from platd.spec.hlc import COUNTER_MAX, HybridLogicalClock, pack, unpack, wins

START_MS = 1_700_000_000_000


@dataclass
class FakeWall:
    """A wall clock the test moves by hand, backwards as well as forwards."""

    millis: int = START_MS

    def __call__(self) -> int:
        return self.millis


@dataclass(frozen=True)
class Step:
    """Move the wall clock by ``jump`` ms, then call now(), or observe() a peer's stamp."""

    jump: int
    observe: bool = False
    remote_offset: int = 0  # the peer's millis relative to our (moved) wall clock
    remote_counter: int = 0


counters = st.one_of(
    st.integers(0, COUNTER_MAX), st.sampled_from([0, 1, COUNTER_MAX - 1, COUNTER_MAX])
)
jumps = st.one_of(st.integers(-5_000, 5_000), st.sampled_from([0, 0, 1, -1]))
plans = st.lists(
    st.one_of(
        st.builds(Step, jumps),
        st.builds(Step, jumps, st.just(True), st.integers(-10_000, 10_000), counters),
    ),
    min_size=1,
    max_size=200,
)


def _run(plan: list[Step]) -> list[tuple[Step, int, int, int | None]]:
    """Each step with the wall reading, the stamp returned and the remote stamp observed."""
    wall = FakeWall()
    clock = HybridLogicalClock(wall)
    out: list[tuple[Step, int, int, int | None]] = []
    for step in plan:
        wall.millis = max(0, wall.millis + step.jump)
        if step.observe:
            remote = pack(max(0, wall.millis + step.remote_offset), step.remote_counter)
            out.append((step, wall.millis, clock.observe(remote), remote))
        else:
            out.append((step, wall.millis, clock.now(), None))
        assert clock.last == out[-1][2]
    return out


@given(plans)
def test_stamps_strictly_increase_and_pass_every_observed_stamp(plan: list[Step]) -> None:
    previous = 0
    for _, _, stamp, remote in _run(plan):
        assert stamp > previous
        if remote is not None:
            assert stamp > remote
        previous = stamp


@given(plans)
def test_stamps_stay_within_a_millisecond_of_the_latest_time_seen(plan: list[Step]) -> None:
    latest = 0  # the largest wall reading or observed peer millisecond so far
    for _, wall, stamp, remote in _run(plan):
        latest = max(latest, wall, unpack(remote)[0] if remote is not None else 0)
        millis = unpack(stamp)[0]
        assert millis >= wall
        # Fewer than 2**16 events can overflow the counter into at most one extra millisecond.
        assert millis <= latest + 1


@given(st.integers(0, (1 << 48) - 1), st.integers(0, COUNTER_MAX))
def test_pack_unpack_round_trip(millis: int, counter: int) -> None:
    stamp = pack(millis, counter)
    assert unpack(stamp) == (millis, counter)
    assert 0 <= stamp < 1 << 64


@given(
    st.tuples(st.integers(0, (1 << 48) - 1), st.integers(0, COUNTER_MAX)),
    st.tuples(st.integers(0, (1 << 48) - 1), st.integers(0, COUNTER_MAX)),
)
def test_packed_order_is_millis_then_counter(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert (pack(*a) < pack(*b)) == (a < b)


def test_counter_overflow_rolls_into_the_next_millisecond() -> None:
    wall = FakeWall()
    clock = HybridLogicalClock(wall, last=pack(START_MS, COUNTER_MAX - 1))
    assert clock.now() == pack(START_MS, COUNTER_MAX)
    assert clock.now() == pack(START_MS + 1, 0)
    assert clock.now() == pack(START_MS + 1, 1)


def test_a_frozen_wall_clock_still_yields_distinct_increasing_stamps() -> None:
    clock = HybridLogicalClock(FakeWall())
    stamps = [clock.now() for _ in range(COUNTER_MAX + 10)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    # The first stamp is (START_MS, 0); stamp 65536 is the first of the next millisecond.
    assert unpack(stamps[-1]) == (START_MS + 1, 8)


def test_observing_a_stamp_at_its_counter_limit_moves_past_it() -> None:
    clock = HybridLogicalClock(FakeWall())
    remote = pack(START_MS + 500, COUNTER_MAX)
    assert clock.observe(remote) == pack(START_MS + 501, 0)


def test_the_wall_clock_wins_once_it_passes_every_stamp() -> None:
    wall = FakeWall()
    clock = HybridLogicalClock(wall)
    clock.observe(pack(START_MS + 100, 7))
    wall.millis = START_MS + 101
    assert clock.now() == pack(START_MS + 101, 0)


def test_concurrent_callers_get_unique_stamps() -> None:
    clock = HybridLogicalClock(FakeWall())
    results: list[list[int]] = [[] for _ in range(4)]

    def work(out: list[int]) -> None:
        for _ in range(2_000):
            out.append(clock.now())

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [stamp for out in results for stamp in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in results)


def test_larger_hlc_wins_and_origin_breaks_ties() -> None:
    assert wins((5, "a"), (4, "z"))
    assert wins((5, "b"), (5, "a"))
    assert not wins((5, "a"), (5, "a"))
