"""What a host's reconciler runs of a workload, from the rows it holds: every instance on a
host of its own, its slots on a cluster member, and the surplus it keeps while a drain's
replacements elsewhere are not healthy yet. A real SQLite store; no daemon."""

from __future__ import annotations

import json
from pathlib import Path

from platd.reconcile.desired import _assigned_here
from platd.reconcile.model import DesiredWorkload
from platd.store.models import Assignment, Host, Instance
from tests.unit.store_support import make_store

ME, OTHER = "host-me", "host-other"
WEB = DesiredWorkload(env_id="env", env_path="o/p/a/e", workload="web", release_id="r1",
                      release_seq=1, spec_hash="s1", count=3, image="img", cpu=0.5,
                      memory=1 << 27)


def _host(host_id: str) -> Host:
    return Host(id=host_id, name=host_id, api="", gossip="", joined_at=0.0)


def _instance(n: int, host: str, health: str = "healthy") -> Instance:
    return Instance(id=f"i{n}-{host}", host_id=host, env_id="env", workload="web",
                    release_id="r1", spec_hash="s1", container_id="c", state="running",
                    health=health, updated_at=0.0)


def counts(tmp_path: Path, rows: list[object]) -> int:
    store = make_store(tmp_path, ME)
    try:
        with store.write() as session:
            for row in rows:
                session.add(row)
        with store.read() as session:
            (here,) = _assigned_here(session, ME, [WEB])
            return here.count
    finally:
        store.close()


def test_a_host_of_its_own_runs_every_instance(tmp_path: Path) -> None:
    assert counts(tmp_path, []) == 3


def test_a_cluster_member_runs_its_slots_only(tmp_path: Path) -> None:
    slots = Assignment(id="env/web", env_id="env", workload="web",
                       hosts_json=json.dumps([OTHER, ME, OTHER]))
    assert counts(tmp_path, [_host(ME), _host(OTHER), slots]) == 1


def test_a_member_runs_nothing_of_a_workload_not_placed_yet(tmp_path: Path) -> None:
    assert counts(tmp_path, [_host(ME), _host(OTHER)]) == 0


def test_a_drained_host_keeps_instances_until_their_replacements_are_healthy(
    tmp_path: Path
) -> None:
    def rows(*elsewhere: str) -> list[object]:
        """Two instances here, all 3 slots moved to OTHER, which runs one of its own already
        and one more instance per ``elsewhere`` health."""
        moved = Assignment(id="env/web", env_id="env", workload="web",
                           hosts_json=json.dumps([OTHER, OTHER, OTHER]))
        return [_host(ME), _host(OTHER), moved, _instance(1, ME), _instance(2, ME),
                _instance(3, OTHER),
                *(_instance(4 + n, OTHER, health) for n, health in enumerate(elsewhere))]

    assert counts(tmp_path / "a", rows()) == 2  # 2 replacements not healthy yet: keep both
    assert counts(tmp_path / "b", rows("healthy")) == 1
    assert counts(tmp_path / "c", rows("starting")) == 2  # starting is not healthy
    assert counts(tmp_path / "d", rows("healthy", "healthy")) == 0


def test_a_host_back_from_a_crash_creates_no_surplus(tmp_path: Path) -> None:
    """Its rows still say two instances run here, but they went with the crash: the slots
    moved away are not created again (they would run twice), only kept while they run."""
    from platd.reconcile.planner import keep_surplus_only_if_running

    moved = Assignment(id="env/web", env_id="env", workload="web",
                       hosts_json=json.dumps([OTHER, OTHER, OTHER]))
    store = make_store(tmp_path, ME)
    try:
        with store.write() as session:
            for row in (_host(ME), _host(OTHER), moved, _instance(1, ME), _instance(2, ME)):
                session.add(row)
        with store.read() as session:
            (here,) = _assigned_here(session, ME, [WEB])
    finally:
        store.close()
    assert (here.count, here.surplus) == (2, 2)  # by the rows: keep both for now
    (none_run,) = keep_surplus_only_if_running([here], {})
    assert none_run.count == 0
    (one_runs,) = keep_surplus_only_if_running([here], {"s1": 1})
    assert one_runs.count == 1
    (unrelated,) = keep_surplus_only_if_running([here], {"other-spec": 2})
    assert unrelated.count == 0
