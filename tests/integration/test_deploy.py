"""Deploys end to end: the real plat program, a real platd, the Docker engine, the registry."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import (
    HELLO_V1,
    HELLO_V2,
    TARGET,
    HealthSampler,
    answers,
    containers,
    docker_exec,
    manifest,
    ready_env,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def running_of(d: Daemon, release_seq: int) -> list:  # type: ignore[type-arg]
    releases = {r["seq"]: r["id"] for r in d.plat("releases", "--json").json()["releases"]}
    return [c for c in containers(d.host_id)
            if c.state == "running" and c.release == releases[release_seq]]


def test_deploy_converges_and_delivers_config_and_secrets(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d, greeting="hi there", password="pw-canary-1")
    r = d.plat("deploy", "-f", str(manifest(tmp_path)))
    assert r.code == 0, r.err
    assert "Release v1" in r.out
    assert "converged" in r.out
    assert "plat wait" in r.out
    assert "plat events" in r.out
    assert "plat status" in r.out

    running = [c for c in containers(d.host_id) if c.state == "running"]
    assert len(running) == 2
    for c in running:
        assert "@sha256:" in c.image, "instances run the pinned digest, never the tag"
        env = docker_exec(c.id, "env")
        assert "GREETING=hi there" in env
        assert f"PLAT_INSTANCE={c.instance}" in env
        assert docker_exec(c.id, "cat", "/run/secrets/db") == "PASSWORD=pw-canary-1\n"
        assert answers(c.port or 0, "/")

    status = d.plat("status", "--json").json()
    web = status["workloads"][0]
    assert (web["desired"], web["current"], web["healthy"]) == (2, 2, 2)
    assert status["release"]["status"] == "converged"
    assert "pw-canary-1" not in json.dumps(status) + d.plat("events", "--json").out


def test_second_deploy_never_drops_to_zero_healthy(docker_daemon: Daemon, tmp_path: Path) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path))).code == 0
    with HealthSampler(d.host_id) as sampler:
        r = d.plat("deploy", "-f", str(manifest(tmp_path, image=HELLO_V2)))
        assert r.code == 0, r.err
        wait_for(lambda: len(running_of(d, 1)) == 0)
    assert sampler.samples, "the sampler took no samples"
    assert min(sampler.samples) >= 1, (
        f"zero healthy instances during the rollout: {sampler.samples}"
    )
    v2 = running_of(d, 2)
    assert len(v2) == 2
    assert "hello <b>v2</b>" in docker_exec(v2[0].id, "wget", "-qO-", "http://127.0.0.1:8080/")
    assert "~ workload web: image" in r.out


def test_bad_image_reference_is_refused_before_anything_is_created(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path, image="127.0.0.1:5000/hello:nope")))
    assert r.code == 7, r.err
    assert "nope" in r.err
    assert "v1" in r.err
    assert d.plat("releases", "--json").json()["releases"] == []

    # Not the host's registry nor on its allow-list: refused before any connection.
    r = d.plat("deploy", "-f", str(manifest(tmp_path, image="127.0.0.1:5999/hello:v1")))
    assert r.code == 7
    assert "registry 127.0.0.1:5999 is not one this host pulls from" in r.err
    assert d.plat("releases", "--json").json()["releases"] == []


def test_container_exiting_at_start_fails_with_runtime_category_and_logs(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path))).code == 0
    broken = manifest(tmp_path, command=["sh", "-c", "echo boom-before-exit; exit 3"],
                      name="broken.toml")
    r = d.plat("deploy", "-f", str(broken), timeout=120)
    assert r.code == 8, (r.out, r.err)
    assert "failed at step start" in r.err
    assert "runtime" in r.err
    assert "exited with code 3" in r.err
    assert "boom-before-exit" in r.err, "the failure shows the instance's last log lines"
    assert "plat rollback" in r.err
    assert "  plat logs --since 15m --target " in r.err, "it points at the logs"
    # The retry is the deploy as it was typed, with its own manifest file.
    assert f"  plat deploy -f {broken} --target " in r.err
    # The last healthy release keeps serving.
    assert len(running_of(d, 1)) == 2
    assert all(answers(c.port or 0) for c in running_of(d, 1))
    assert d.plat("status", "--json").json()["release"]["status"] == "failed"


def test_failing_health_check_fails_with_health_category(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path, health_path="/missing", grace=2)))
    assert r.code == 8, (r.out, r.err)
    assert "failed at step health" in r.err
    assert "category: health" in r.err
    assert "/missing" in r.err


def test_unknown_env_and_malformed_manifest_are_clear_errors(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path)), "--target", "acme/shop/hello/nope")
    assert r.code == 4
    assert "no env 'nope'" in r.err
    assert "prod" in r.err
    bad = tmp_path / "bad.toml"
    bad.write_text('app = "hello"\n[workloads.web]\nimage = "x"\ncount = "two"\n')
    r = d.plat("deploy", "-f", str(bad))
    assert r.code == 2
    assert "line 4" in r.err
    assert d.plat("releases", "--json").json()["releases"] == []


def test_kill_9_mid_rollout_converges_without_duplicates(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    r = d.plat("deploy", "--detach", "-f", str(manifest(tmp_path, image=HELLO_V2, count=3)))
    assert r.code == 0, r.err
    v2_id = d.plat("releases", "--json").json()["releases"][0]["id"]
    wait_for(lambda: any(c.release == v2_id for c in containers(d.host_id)), every=0.02)
    d.kill9()
    d.start()
    r = d.plat("wait", "--timeout", "120")
    assert r.code == 0, (r.out, r.err, d.log()[-3000:])
    wait_for(lambda: all(c.release == v2_id for c in containers(d.host_id)))
    final = containers(d.host_id)
    assert len(final) == 3, [c.name for c in final]
    assert len({c.name for c in final}) == 3
    assert all(c.state == "running" for c in final)
    events = d.plat("events", "--json", "--limit", "500").out
    assert "recover" in events


def test_env_vars_follow_the_release_not_the_latest_config(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d, greeting="first")
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    assert d.plat("config", "set", "GREETING=second").code == 0
    time.sleep(1)
    (c,) = [c for c in containers(d.host_id) if c.state == "running"]
    assert "GREETING=first" in docker_exec(c.id, "env"), "config changes wait for the next release"
    assert HELLO_V1


def test_daemon_restart_leaves_healthy_instances_alone(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, grace=1))).code == 0
    before = {c.id: c for c in containers(d.host_id)}
    time.sleep(2)  # longer than the health grace: a restarted daemon must not hold it against them
    d.stop()
    d.start()
    wait_for(lambda: "recover" in d.plat("events", "--json").out)
    time.sleep(3)
    after = {c.id: c for c in containers(d.host_id)}
    assert after.keys() == before.keys()
    steps = [json.loads(line)["step"] for line in d.plat("events", "--json").out.splitlines()]
    assert "restart" not in steps, steps
    assert "stop" not in steps, steps


def test_deploy_build_makes_pushes_and_pins_the_image(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    """`plat deploy --build`: the daemon's engine builds the context, pushes it to the host's
    registry, and the release pins the pushed digest."""
    d = docker_daemon
    ready_env(d)
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {HELLO_V1}\nCOPY marker /marker\n")
    marker = f"built-{time.time_ns()}"
    (context / "marker").write_text(marker + "\n")
    path = manifest(tmp_path, count=1)
    text = path.read_text().replace(f'image = "{HELLO_V1}"', 'build = { context = "app" }')
    path.write_text(text)

    r = d.plat("deploy", "-f", str(path), "--build", str(context))
    assert r.code == 0, r.err
    assert "building web" in r.out + r.err
    (release,) = d.plat("releases", "--json").json()["releases"]
    image = release["images"]["web"]
    # A repository per org/project/app: another org's app "hello" never shares it.
    assert image.startswith(f"127.0.0.1:5000/{TARGET.rsplit('/', 1)[0]}@sha256:"), image
    wait_for(lambda: len([c for c in containers(d.host_id) if c.state == "running"]) == 1)
    (c,) = [c for c in containers(d.host_id) if c.state == "running"]
    assert c.image == image
    assert docker_exec(c.id, "cat", "/marker") == marker + "\n"


def test_a_new_env_has_its_network_before_its_first_deploy(docker_daemon: Daemon) -> None:
    """On a host of its own the env's bridge network is made when the env is created, so the
    first deploy does not wait for the engine to make it (docs/architecture.md)."""
    d = docker_daemon
    d.make_env("acme/shop/hello/fresh")
    listed = d.plat("envs", "list", "acme/shop/hello", "--json").json()
    ids = [e["id"] for e in listed if e["name"] == "fresh"]
    assert ids, listed
    name = f"plat-env-{ids[0]}"

    def exists() -> bool:
        return subprocess.run(["docker", "network", "inspect", name],
                              capture_output=True).returncode == 0

    wait_for(exists, timeout=20)
