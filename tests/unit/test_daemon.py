"""A daemon assembled in this process: its clock is the one it was given, a dead vital task
stops it, and several daemons (hosts) live side by side without sharing anything."""

from __future__ import annotations

import time
from pathlib import Path

from sqlmodel import select

from platd.clock import ManualClock
from platd.store.changes import ChangeSet
from platd.store.models import Event, Instance, ReleaseState
from tests.daemon_support import MANIFEST, hosts_in, make_env


def satisfy_and_deploy(d, target: str) -> None:  # type: ignore[no-untyped-def]
    assert d.api("PATCH", f"/v1/envs/{target}/config", {"set": {"GREETING": "hi"}})[0] == 200
    assert d.api("POST", f"/v1/envs/{target}/secrets",
                 {"name": "db", "values": {"PASSWORD": "pw"}})[0] == 201
    status, body = d.api("POST", f"/v1/envs/{target}/deploy", {"manifest": MANIFEST.read_text()})
    assert status == 201, body


def test_what_it_records_is_timed_by_its_clock(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with hosts_in(tmp_path) as hosts:
        d = hosts.add(clock=clock)
        target = make_env(d)
        satisfy_and_deploy(d, target)
        deadline = time.monotonic() + 15
        while d.api("GET", f"/v1/envs/{target}/releases")[1]["releases"][0]["status"] != (
                "converged"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        store = d.daemon.store
        with store.read() as session:
            events = list(session.exec(select(Event)))
            instances = list(session.exec(select(Instance)))
    assert {e.step for e in events} >= {"deploy", "create", "rollout"}
    assert {e.at for e in events} == {1_700_000_000.0}
    assert instances
    assert {i.updated_at for i in instances} == {1_700_000_000.0}


def test_converged_is_written_after_the_instances_it_was_decided_on(tmp_path: Path) -> None:
    """Whoever reads "converged" (plat deploy's verdict, then plat status) finds the healthy
    instances it was decided on: the pass writes its instance rows before the verdict."""
    seen: list[list[str]] = []  # the instance rows' health at each converged verdict's commit
    with hosts_in(tmp_path) as hosts:
        d = hosts.add()
        store = d.daemon.store

        def at_commit(changes: ChangeSet) -> None:
            if not changes.touches("release_states"):
                return
            with store.read() as session:
                verdicts = session.exec(select(ReleaseState).where(
                    ReleaseState.status == "converged")).all()
                if verdicts and not seen:
                    seen.append([i.health for i in session.exec(select(Instance))])

        store.listeners.append(at_commit)
        target = make_env(d)
        satisfy_and_deploy(d, target)
        deadline = time.monotonic() + 15
        while not seen:
            assert time.monotonic() < deadline, "no converged verdict"
            time.sleep(0.01)
    assert seen[0], "no instance rows when the verdict was written"
    assert set(seen[0]) == {"healthy"}, seen


def test_a_reconciler_that_dies_stops_the_daemon(tmp_path: Path) -> None:
    with hosts_in(tmp_path) as hosts:
        d = hosts.add()
        d.runtime.failures["list_instances"] = KeyError("the engine answered nonsense")
        d.daemon.reconciler.poke()
        assert d.running is not None
        d.running.result(timeout=30)  # the run ends by itself
        assert d.ended == ["reconciler"]


def test_hosts_in_one_process_are_separate(tmp_path: Path) -> None:
    with hosts_in(tmp_path) as hosts:
        a, b = hosts.add("a"), hosts.add("b")
        assert a.host_id != b.host_id
        assert a.data != b.data
        target = make_env(a)
        assert a.api("GET", "/v1/health")[1]["host"] == a.host_id
        assert b.api("GET", "/v1/health")[1]["host"] == b.host_id
        status, body = b.api("GET", f"/v1/envs/{target}/status", token=b.token)
        assert status == 404, body  # b holds none of a's state (nothing replicates yet)
        assert a.api("GET", "/v1/whoami", token=b.token)[0] == 401
