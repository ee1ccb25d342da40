"""The wiring around placement, from tables: host loss and its grace, volumes that hold an
instance, drain and cordon, generations, the words of events, and the handoff rule."""

from __future__ import annotations

import pytest

from platd.spec.assign import (
    Current,
    HostFacts,
    WorkloadFacts,
    assign,
    count_here,
    surplus_to_keep,
)
from platd.spec.membership import Membership

G = 1 << 30
M = 1 << 20


def fleet(**changes: dict[str, object]) -> list[HostFacts]:
    out = []
    for name in ("h0", "h1", "h2"):
        fields: dict[str, object] = {"id": f"id-{name}", "name": name, "cpus": 2.0,
                                     "memory": 8 * G}
        fields.update(changes.get(name, {}))
        out.append(HostFacts(**fields))  # type: ignore[arg-type]
    return out


WEB = WorkloadFacts("env", "web", 4, 0.5, 128 * M)


def test_four_instances_land_spread_over_three_hosts() -> None:
    (a,) = assign([WEB], fleet(), {}, now=0)
    assert sorted(a.hosts.count(h.id) for h in fleet()) == [1, 1, 2]
    assert a.changed
    assert a.generation == 1
    assert all(f"web#{i} placed on" in n for i, n in enumerate(a.notes))


@pytest.mark.parametrize(("failed_for", "moves"), [(10, False), (59.9, False), (61, True)])
def test_a_failed_host_keeps_its_instances_for_the_grace_period(
    failed_for: float, moves: bool
) -> None:
    (first,) = assign([WEB], fleet(), {}, now=0)
    lost = first.hosts[0]
    name = lost.removeprefix("id-")
    down = fleet(**{name: {"state": "failed", "failed_since": 1000.0}})
    (after,) = assign([WEB], down, {"env/web": Current(first.hosts, first.generation)},
                      now=1000 + failed_for, grace=60)
    assert (lost in after.hosts) is not moves
    assert after.changed is moves
    if moves:
        assert after.generation == first.generation + 1
        assert len(after.hosts) == 4
        assert "" not in after.hosts
        moved = [n for n in after.notes if "moved" in n]
        assert moved
        assert all(f"moved from {name} to" in n for n in moved)
        assert f"host {name} has been failed for 61 s (grace 60 s)" in moved[0]
        kept = [i for i, h in enumerate(first.hosts) if h != lost]
        assert all(after.hosts[i] == first.hosts[i] for i in kept)  # nothing else moves


def test_an_instance_bound_to_a_volume_on_a_lost_host_stays_pending_and_says_why() -> None:
    db = WorkloadFacts("env", "db", 1, 0.5, 128 * M, volumes={"vol-1": "data"},
                       volume_hosts={"data": "id-h2"})
    (first,) = assign([db], fleet(), {}, now=0)
    assert first.hosts == ("id-h2",)
    down = fleet(h2={"state": "failed", "failed_since": 0.0})
    (after,) = assign([db], down, {"env/db": Current(first.hosts, 1)}, now=120)
    assert after.hosts == ("",)
    assert after.pending[0] == {"h0": "volume data is on another host",
                                "h1": "volume data is on another host",
                                "h2": "host is failed"}
    assert after.notes == ("db#0 is pending: volume data is on host h2, which is failed",)


def test_drain_moves_everything_off_and_cordon_moves_nothing() -> None:
    (first,) = assign([WEB], fleet(), {}, now=0)
    current = {"env/web": Current(first.hosts, first.generation)}
    on_h0 = count_here(first.hosts, "id-h0")
    assert on_h0 > 0
    (cordoned,) = assign([WEB], fleet(h0={"cordoned": True}), current, now=1)
    assert cordoned.hosts == first.hosts
    assert not cordoned.changed
    (drained,) = assign([WEB], fleet(h0={"cordoned": True, "draining": True}), current, now=1)
    assert count_here(drained.hosts, "id-h0") == 0
    assert len([n for n in drained.notes if "host h0 is being drained" in n]) == on_h0
    # A cordoned host takes nothing new: scaling up places the new slots elsewhere.
    more = WorkloadFacts("env", "web", 8, 0.5, 128 * M)
    (grown,) = assign([more], fleet(h0={"cordoned": True}), current, now=2)
    assert count_here(grown.hosts, "id-h0") == on_h0


def test_regions_and_labels_choose_the_hosts_and_explain_the_others() -> None:
    hosts = fleet(h0={"region": "eu-west", "labels": {"disk": "ssd"}},
                  h1={"region": "eu-west"}, h2={"region": "us-east", "labels": {"disk": "ssd"}})
    ssd = WorkloadFacts("env", "web", 2, 0.5, 128 * M, region="eu-west", labels={"disk": "ssd"})
    (a,) = assign([ssd], hosts, {}, now=0)
    assert a.hosts == ("id-h0", "id-h0")
    big = WorkloadFacts("env", "big", 1, 0.5, 64 * G, region="eu-west")
    (b,) = assign([big], hosts, {}, now=0)
    assert b.pending[0] == {"h0": "no capacity: needs 64G memory, 8G free",
                            "h1": "no capacity: needs 64G memory, 8G free",
                            "h2": "region eu-west required, host is in us-east"}


def test_every_host_computes_the_same_assignment() -> None:
    loads = [WorkloadFacts(f"e{i}", "w", 3, 0.25, 256 * M) for i in range(4)]
    first = assign(loads, fleet(), {}, now=0)
    again = assign(list(reversed(loads)), list(reversed(fleet())), {}, now=5)
    assert [a.hosts for a in first] == [a.hosts for a in again]


def test_an_unchanged_placement_keeps_its_generation() -> None:
    (first,) = assign([WEB], fleet(), {}, now=0)
    (same,) = assign([WEB], fleet(), {"env/web": Current(first.hosts, 7)}, now=50)
    assert not same.changed
    assert same.generation == 7
    assert same.notes == ()


@pytest.mark.parametrize(
    ("here", "running", "elsewhere", "healthy", "keep"),
    [
        (0, 2, 2, 0, 2),  # a drain: replacements not started yet, keep both
        (0, 2, 2, 1, 1),  # one replacement healthy: one may stop
        (0, 2, 2, 2, 0),  # both healthy: all may stop
        (1, 1, 3, 0, 0),  # no surplus here, nothing to keep
        (2, 2, 0, 0, 0),  # nothing moved
    ],
)
def test_surplus_is_kept_until_its_replacements_are_healthy(
    here: int, running: int, elsewhere: int, healthy: int, keep: int
) -> None:
    assert surplus_to_keep(assigned_here=here, running_here=running,
                           assigned_elsewhere=elsewhere, healthy_elsewhere=healthy) == keep


def test_membership_remembers_when_a_host_was_first_seen_failed() -> None:
    m = Membership("a", grace=60)
    assert m.update([("a", "alive"), ("b", "alive")], now=0)
    assert m.state("b") == ("alive", None)
    assert m.update([("a", "alive"), ("b", "failed")], now=10)
    assert not m.update([("a", "alive"), ("b", "failed")], now=20)
    assert m.state("b") == ("failed", 10)  # the clock started at the first sight
    m.update([("a", "alive"), ("b", "alive")], now=30)
    assert m.state("b") == ("alive", None)
    assert m.state("c") == ("unknown", None)
    assert m.alive_ids() == ["a", "b"]


def test_a_host_back_from_failed_is_returning_until_heard_from() -> None:
    """Its rows here are from before it went away (it may have stopped or lost those
    instances): status does not count them until its own rows were pulled again."""
    m = Membership("a", grace=60)
    m.update([("a", "alive"), ("b", "alive")], now=0)
    assert not m.returning("b")  # first seen alive: nothing from before to distrust
    m.update([("a", "alive"), ("b", "failed")], now=10)
    assert not m.returning("b")  # failed is said as failed
    m.update([("a", "alive"), ("b", "alive")], now=20)
    assert m.returning("b")
    assert m.returning_ids() == ["b"]
    m.update([("a", "alive"), ("b", "alive")], now=21)
    assert m.returning("b")  # still: only a pull from it ends this
    m.reported("b")
    assert not m.returning("b")
    assert m.returning_ids() == []


def test_a_slot_that_stays_keeps_the_reason_it_was_placed_for() -> None:
    (first,) = assign([WEB], fleet(), {}, now=0)
    (again,) = assign([WEB], fleet(), {"env/web": Current(first.hosts, 1, first.why)}, now=9)
    assert again.why == first.why
    assert all(w.startswith("placed on ") for w in again.why.values())


@pytest.mark.parametrize(
    ("members", "cut_off"),
    [
        ([("a", "alive"), ("b", "alive"), ("c", "alive")], False),
        ([("a", "alive"), ("b", "failed"), ("c", "alive")], False),  # the majority
        ([("a", "alive"), ("b", "failed"), ("c", "failed")], True),  # alone of three
        ([("a", "alive"), ("b", "failed")], False),  # half, with the smallest id
    ],
)
def test_the_minority_side_fences_itself_after_half_the_grace(
    members: list[tuple[str, str]], cut_off: bool
) -> None:
    m = Membership("a", grace=10)
    m.update(members, now=0)
    assert m.cut_off() is cut_off
    assert not m.fenced()
    m.update(members, now=4.9)
    assert not m.fenced()
    m.update(members, now=5)
    assert m.fenced() is cut_off


def test_the_half_without_the_smallest_id_fences_and_unfences_after_a_sync() -> None:
    told = []
    m = Membership("b", grace=10)
    m.listeners.append(lambda: told.append(m.fenced()))
    m.update([("a", "failed"), ("b", "alive")], now=0)
    m.update([("a", "failed"), ("b", "alive")], now=6)
    assert m.fenced()
    # Seeing the others again is not enough: what they placed meanwhile has not arrived.
    m.update([("a", "alive"), ("b", "alive")], now=7)
    assert m.fenced()
    assert m.awaiting_sync()
    m.update([("a", "alive"), ("b", "alive")], now=8)
    assert m.fenced()
    m.synced()
    assert not m.fenced()
    assert not m.awaiting_sync()
    assert told == [True, False]


def test_a_sync_during_the_partition_does_not_unfence() -> None:
    m = Membership("b", grace=10)
    m.update([("a", "failed"), ("b", "alive")], now=0)
    m.update([("a", "failed"), ("b", "alive")], now=6)
    m.synced()  # with nobody: it learned nothing the majority did
    assert m.fenced()
    m.update([("a", "alive"), ("b", "alive")], now=9)
    m.update([("a", "failed"), ("b", "alive")], now=10)  # cut off again before any sync
    m.synced()
    assert m.fenced()


def test_a_host_back_in_the_majority_gives_those_it_still_cannot_see_a_fresh_grace() -> None:
    """Cut off, a host cannot tell the others' absence from its own, yet gossip marks them
    failed and their clocks run. Healed, Serf re-merges one member at a time: seeing one peer
    again puts it back in the majority (and it may be the smallest id alive, the one that
    re-places) while the other, alive all along, is still failed to it. That one's grace
    starts when this host can tell again, or it would move a live host's slots onto itself:
    the live host stops them, this one starts them, and views count both at once."""
    me, first, later = "id-h1", "id-h2", "id-h0"
    m = Membership(me, grace=12)
    m.update([(later, "alive"), (me, "alive"), (first, "alive")], now=0)
    m.update([(later, "failed"), (me, "alive"), (first, "failed")], now=10)  # cut off
    m.update([(later, "failed"), (me, "alive"), (first, "failed")], now=25)
    assert m.cut_off()
    m.update([(later, "failed"), (me, "alive"), (first, "alive")], now=26)  # one peer back
    assert not m.cut_off()
    assert m.state(later) == ("failed", 26)
    hosts = fleet(**{name: {"state": m.state(f"id-{name}")[0],
                            "failed_since": m.state(f"id-{name}")[1]}
                     for name in ("h0", "h1", "h2")})
    current = {"env/web": Current((later, me, first, later), 1)}
    (kept,) = assign([WEB], hosts, current, now=27, grace=12)
    assert not kept.changed  # h0's slots stay on h0: it is not gone, this host was
    (moved,) = assign([WEB], hosts, current, now=38, grace=12)
    assert moved.hosts.count(later) == 0  # still unseen a whole grace after the heal: it is


def test_the_majority_side_keeps_the_failure_clock_of_the_host_it_lost() -> None:
    m = Membership("id-h0", grace=12)
    m.update([("id-h0", "alive"), ("id-h1", "alive"), ("id-h2", "alive")], now=0)
    m.update([("id-h0", "alive"), ("id-h1", "failed"), ("id-h2", "alive")], now=10)
    m.update([("id-h0", "alive"), ("id-h1", "failed"), ("id-h2", "alive")], now=25)
    assert m.state("id-h1") == ("failed", 10)
