"""Placement from tables: capacity, constraints, volumes, spread, stickiness, determinism."""

from __future__ import annotations

import random

import pytest

from platd.spec.placement import (
    Constraint,
    HostCapacity,
    Slot,
    WorkloadDemand,
    place,
)

G = 1 << 30
M = 1 << 20


def hosts(*specs: tuple[str, float, int], **extra: object) -> list[HostCapacity]:
    return [HostCapacity(id=f"id-{n}", name=n, cpus=c, memory=m, **extra)  # type: ignore[arg-type]
            for n, c, m in specs]


THREE = hosts(("h1", 4, 8 * G), ("h2", 4, 8 * G), ("h3", 4, 8 * G))


def test_four_instances_over_three_hosts_spread() -> None:
    p = place([WorkloadDemand("env/web", 4, 0.5, 128 * M)], THREE)
    counts = sorted(p.hosts_of("env/web").count(h.id) for h in THREE)
    assert counts == [1, 1, 2]
    assert not p.pending


@pytest.mark.parametrize(
    ("demand", "expected_reason"),
    [
        (WorkloadDemand("e/w", 1, 1, 16 * G), "h1: no capacity: needs 16G memory, 8G free"),
        (WorkloadDemand("e/w", 1, 8, 1 * G), "h1: no capacity: needs 8 cpu, 4 free"),
        (WorkloadDemand("e/w", 1, 1, G, Constraint(region="eu-west")),
         "h1: region eu-west required, host is in us-east"),
        (WorkloadDemand("e/w", 1, 1, G, Constraint(labels={"disk": "ssd"})),
         "h1: label disk=ssd required, host has no disk"),
        (WorkloadDemand("e/w", 1, 1, G, volumes={"vol-9": "data"}),
         "h1: volume data is on another host"),
    ],
)
def test_a_pending_instance_says_per_host_why_not(
    demand: WorkloadDemand, expected_reason: str
) -> None:
    p = place([demand], hosts(("h1", 4, 8 * G), ("h2", 2, 4 * G), region="us-east"))
    (reasons,) = p.pending.values()
    assert set(reasons) == {"h1", "h2"}
    assert f"h1: {reasons['h1']}" == expected_reason


def test_capacity_counts_what_is_already_placed() -> None:
    small = hosts(("h1", 2, 1 * G))
    p = place([WorkloadDemand("e/a", 3, 0.5, 400 * M)], small)
    assert len(p.assigned) == 2
    (reasons,) = p.pending.values()
    assert reasons["h1"] == "no capacity: needs 400M memory, 224M free"


def test_constraints_and_volumes_choose_the_host() -> None:
    fleet = [
        HostCapacity("a", "a", 4, 8 * G, region="eu-west", labels={"disk": "ssd"}),
        HostCapacity("b", "b", 4, 8 * G, region="eu-west", labels={"disk": "hdd"},
                     volumes=frozenset({"vol-1"})),
        HostCapacity("c", "c", 4, 8 * G, region="us-east", labels={"disk": "ssd"}),
    ]
    p = place([
        WorkloadDemand("e/ssd", 3, 0.1, M, Constraint("eu-west", {"disk": "ssd"})),
        WorkloadDemand("e/db", 1, 0.1, M, volumes={"vol-1": "data"}),
    ], fleet)
    assert set(p.hosts_of("e/ssd")) == {"a"}
    assert p.hosts_of("e/db") == ["b"]


def test_failed_and_cordoned_hosts_take_nothing() -> None:
    fleet = [HostCapacity("a", "a", 4, 8 * G, alive=False),
             HostCapacity("b", "b", 4, 8 * G, cordoned=True),
             HostCapacity("c", "c", 4, 8 * G)]
    p = place([WorkloadDemand("e/w", 2, 0.1, M)], fleet)
    assert set(p.hosts_of("e/w")) == {"c"}
    q = place([WorkloadDemand("e/w", 1, 0.1, M)], fleet[:2])
    (reasons,) = q.pending.values()
    assert reasons == {"a": "host is failed", "b": "host is cordoned (plat hosts uncordon)"}


def test_the_same_inputs_in_any_order_place_the_same() -> None:
    demands = [WorkloadDemand(f"e/w{i}", 3, 0.3, 200 * M) for i in range(5)]
    first = place(demands, THREE)
    rnd = random.Random(7)
    for _ in range(20):
        d, h = list(demands), list(THREE)
        rnd.shuffle(d)
        rnd.shuffle(h)
        assert place(d, h).assigned == first.assigned


def test_placed_instances_stay_when_a_host_joins() -> None:
    demand = [WorkloadDemand("e/w", 6, 0.1, M)]
    before = place(demand, THREE[:2])
    after = place(demand, THREE, current=before.assigned)
    assert after.assigned == before.assigned
    assert all(r.startswith("kept on") for r in after.why.values())


def test_instances_of_a_lost_host_move_and_the_rest_stay() -> None:
    demand = [WorkloadDemand("e/w", 6, 0.1, M)]
    before = place(demand, THREE)
    lost = before.assigned[Slot("e/w", 0)]
    fleet = [h if h.id != lost else HostCapacity(h.id, h.name, h.cpus, h.memory, alive=False)
             for h in THREE]
    after = place(demand, fleet, current=before.assigned)
    assert lost not in after.assigned.values()
    for slot, host in before.assigned.items():
        if host != lost:
            assert after.assigned[slot] == host
    assert len(after.assigned) == 6
