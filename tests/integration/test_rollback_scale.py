"""Rollback and scale end to end on the real Docker engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import (
    HELLO_V2,
    HealthSampler,
    containers,
    docker_exec,
    manifest,
    ready_env,
    releases,
    running,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_rollback_restores_digest_config_and_secret_versions(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d, greeting="from-v1", password="secret-v1")
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    v1 = releases(d)[0]
    assert d.plat("config", "set", "GREETING=from-v2").code == 0
    assert d.plat("secrets", "update", "db", "--set", "PASSWORD=secret-v2").code == 0
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=HELLO_V2))).code == 0
    # The v1 instance stops after the verdict `plat deploy` returned on.
    wait_for(lambda: len(running(d)) == 1)
    (c,) = running(d)
    assert "GREETING=from-v2" in docker_exec(c.id, "env")

    r = d.plat("rollback", "v1")
    assert r.code == 0, r.err
    assert "Release v1" in r.out
    assert "Changes from v2" in r.out
    wait_for(lambda: len(running(d)) == 1 and running(d)[0].release == v1["id"])
    (c,) = running(d)
    assert c.image == v1["images"]["web"], "the exact digest of v1 runs again"
    assert "GREETING=from-v1" in docker_exec(c.id, "env")
    assert docker_exec(c.id, "cat", "/run/secrets/db") == "PASSWORD=secret-v1\n"

    after = releases(d)
    unchanged = [r["images"] for r in after if r["id"] == v1["id"]]
    assert unchanged == [v1["images"]], "release unchanged"
    assert after[0]["status"] == "superseded"
    assert after[1]["current"]
    rollback_events = d.plat("events", "--json", "--release", "v1", "--limit", "500").out
    steps = [json.loads(line)["step"] for line in rollback_events.splitlines()]
    assert "rollback" in steps
    assert steps.count("pull") == 0, "nothing was pulled or built for the rollback"


def test_rollback_without_argument_skips_failed_releases(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    broken = manifest(tmp_path, count=1, command=["sh", "-c", "exit 1"], name="broken.toml")
    assert d.plat("deploy", "-f", str(broken)).code == 8
    assert d.plat("deploy", "-f", str(broken)).code == 8
    assert [r["status"] for r in releases(d)] == ["failed", "failed", "superseded"]

    r = d.plat("rollback")
    assert r.code == 0, r.err
    assert "Release v1" in r.out
    assert "most recent release before the current one" in r.out
    assert releases(d)[-1]["current"]


def test_release_of_another_env_and_unknown_release_are_refused(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    v1 = releases(d)[0]["id"]
    d.make_env("acme/shop/hello/staging")
    r = d.plat("rollback", v1, "--target", "acme/shop/hello/staging")
    assert r.code in (4, 5)
    assert "staging" in r.err
    r = d.plat("rollback", "v42")
    assert r.code == 4
    assert "plat releases" in r.err
    status, body = d.api("PATCH", f"/v1/envs/acme/shop/hello/prod/releases/{v1}", {"images": {}})
    assert status == 409
    assert "immutable" in body["error"]["message"]


def test_scale_one_three_zero_two(docker_daemon: Daemon, tmp_path: Path) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    for count in (3, 0, 2):
        r = d.plat("scale", "web", "--count", str(count))
        assert r.code == 0, r.err
        assert f"-> {count}" in r.out
        wait_for(lambda n=count: len(containers(d.host_id)) == n and len(running(d)) == n,
                 timeout=60)
        web = d.plat("status", "--json").json()["workloads"][0]
        assert web["desired"] == count
    # Scale is env-level: a later deploy keeps it.
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=HELLO_V2))).code == 0
    wait_for(lambda: len(containers(d.host_id)) == 2, timeout=60)


def test_memory_change_replaces_instances_without_zero_healthy(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=2))).code == 0
    old = {c.id for c in running(d)}
    with HealthSampler(d.host_id) as sampler:
        r = d.plat("scale", "web", "--memory", "96M")
        assert r.code == 0
        assert "64M -> 96M" in r.out
        wait_for(lambda: len(running(d)) == 2 and not old & {c.id for c in running(d)}, timeout=60)
    assert min(sampler.samples) >= 1, sampler.samples
    for c in running(d):
        limit = docker_exec(c.id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").strip()
        assert int(limit) == 96 * 1024 * 1024


def test_impossible_scale_is_pending_and_explained(docker_daemon: Daemon, tmp_path: Path) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    r = d.plat("scale", "web", "--memory", "900G")
    assert r.code == 0, r.err

    def explained() -> str:
        return str(d.plat("status").out) if "900G" in d.plat("status").out else ""

    text = wait_for(explained, timeout=30)
    assert "needs" in text
    assert "this host has" in text
    assert len(running(d)) == 1, "the existing instance keeps serving"
    for bad in (["--count", "-1"], ["--count", "1000"], ["--memory", "0"], ["--memory", "lots"],
                ["--cpu", "0"], ["--min", "1", "--max", "3"]):
        r = d.plat("scale", "web", *bad)
        assert r.code == 2, (bad, r.err)
        assert r.err.startswith("error:")
