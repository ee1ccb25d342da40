"""The replication campaign in CI: a few seeded schedules of writes and faults must end with
every host holding the same state, and the campaign's checks must be able to see it when not.

The full run is ``python -m tests.cluster.campaign --schedules 200``. Findings of the campaign
are kept below as deterministic reproductions of what was fixed (a workload scaled on both
sides; a conflict event explained from a partial merge; a kick during cancellation).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from platd.cluster import conflicts
from platd.cluster.replicator import Replicator
from platd.cluster.transport import InMemoryTransport
from platd.gossip.fake import FakeNetwork
from platd.store import queries
from platd.store.db import Store
from platd.store.models import Env, Event, Org
from tests.cluster.campaign import run_campaign
from tests.cluster.campaign_checks import check_end_state
from tests.cluster.campaign_schedule import make_schedule
from tests.cluster.campaign_writes import deploy, scale, seed_tree
from tests.unit.store_support import make_store

CI_SEEDS = range(1, 9)
CI_STEPS = 25


@pytest.mark.slow
@pytest.mark.parametrize("seed", CI_SEEDS)
def test_a_seeded_schedule_of_writes_and_faults_ends_in_one_state(
    seed: int, tmp_path: Path
) -> None:
    result = run_campaign(seed, CI_STEPS, root=tmp_path)
    assert result.converged, result.problems
    assert not result.divergent(), result.problems


def test_the_ci_schedules_exercise_every_fault_and_write() -> None:
    kinds = Counter(step.kind for seed in CI_SEEDS for step in make_schedule(seed, CI_STEPS).steps)
    for kind in ("partition", "heal", "crash", "restart", "agent_kill", "agent_restart",
                 "clock_jump", "hints", "flaky", "org_create", "org_rename", "org_delete",
                 "env_create", "deploy", "rollback", "scale", "event"):
        assert kinds[kind] > 0, f"no {kind} step in the CI seeds: {dict(kinds)}"
    assert {make_schedule(s, CI_STEPS).hosts for s in CI_SEEDS} == {3, 4, 5}


def test_a_schedule_is_a_function_of_its_seed() -> None:
    assert make_schedule(7, 40) == make_schedule(7, 40)
    assert make_schedule(7, 40) != make_schedule(8, 40)


# -- the checks can fail

def _two_stores(tmp_path: Path) -> tuple[Store, Store]:
    return make_store(tmp_path / "a", "host-a"), make_store(tmp_path / "b", "host-b")


def _org(store: Store, org_id: str, name: str) -> None:
    with store.write() as session:
        session.add(Org(id=org_id, name=name, created_at=0.0))


def test_the_checks_see_two_live_orgs_with_one_name(tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    for store in (a, b):
        _org(store, "org-1", "acme")
        _org(store, "org-2", "acme")
    problems, _ = check_end_state([a, b])
    assert [c for c, _ in problems] == ["names"]


def test_the_checks_see_hosts_that_point_an_env_at_other_releases(tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    seed_tree(a)
    _sync(a, b)
    deploy(b, "prod", 2)
    problems, _ = check_end_state([a, b])
    assert ("current", "host-1 has other current releases than host-0") in problems


# -- findings, reproduced deterministically

def _replicator(store: Store, peers: dict[str, Store], page: int = 1000) -> Replicator:
    gossip = FakeNetwork().add(store.host_id, tags={"api": f"mem://{store.host_id}"})

    def after_merge(changes: object) -> None:
        conflicts.resolve(store, changes)  # type: ignore[arg-type]

    return Replicator(store, gossip, InMemoryTransport(peers), page=page,
                      rng=random.Random(0), after_merge=after_merge)


def _sync(source: Store, *targets: Store, page: int = 1000) -> None:
    for target in targets:
        replicator = _replicator(target, {"mem://src": source}, page=page)
        asyncio.run(replicator.sync_with("mem://src"))


def _count(store: Store) -> int | None:
    with store.read() as session:
        env = session.exec(select(Env).where(Env.name == "prod")).one()
        return queries.live_scales(session, env.id)["web"].count


def test_a_workload_scaled_on_both_sides_has_one_count_everywhere(tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    seed_tree(a)
    _sync(a, b)
    scale(a, "prod", 3)  # apart: neither has a scale row for prod/web yet
    scale(b, "prod", 5)  # the later write
    _sync(b, a)
    _sync(a, b)
    assert a.digest() == b.digest()
    assert [_count(a), _count(b)] == [5, 5]  # the later scale, on both


def test_a_deploy_conflict_event_names_the_release_that_is_current(tmp_path: Path) -> None:
    a, b = _two_stores(tmp_path)
    seed_tree(a)
    _sync(a, b)
    deploy(a, "prod", 0xA)
    deploy(b, "prod", 0xB)  # the later change: it is current everywhere
    _sync(b, a, page=1)  # a page boundary between b's EnvChange and its Env row
    _sync(a, b)
    assert a.digest() == b.digest()
    with a.read() as session:
        env = session.exec(select(Env).where(Env.name == "prod")).one()
        (event,) = session.exec(select(Event).where(Event.step == "conflict")).all()
    current = env.current_release_id or ""
    assert f"(release {current[-12:]}, by campaign) is current" in event.message



def test_a_replicator_stops_when_cancelled_as_a_round_is_kicked(tmp_path: Path) -> None:
    """Found by the campaign (seed 14 hung): a kick (a peer joined, the agent came back) in
    the same loop turn as platd's shutdown cancelled the replicator; Python 3.11's wait_for
    then returned instead of raising, the round loop went on, and the shutdown never ended."""

    async def scenario() -> bool:
        store = make_store(tmp_path, "host-a")
        replicator = Replicator(store, FakeNetwork().add("host-a"), InMemoryTransport(),
                                interval=60.0, rng=random.Random(0))
        task = asyncio.create_task(replicator.run())
        await asyncio.sleep(0.2)  # waiting for its next round
        replicator.kick()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        for leftover in asyncio.all_tasks() - {asyncio.current_task()}:
            leftover.cancel()
        store.close()
        return bool(done)

    assert asyncio.run(scenario()), "the replicator kept running after it was cancelled"
