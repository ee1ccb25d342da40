"""Releases that tell the truth, on the real Docker engine and the local registry.

"Converged" means the instances stayed up; a release that crash-loops after converging is
degraded and a bare rollback passes over it; an image removed with ``docker rmi`` is pulled
again instead of failing every deploy until platd restarts.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import (
    HELLO_V1,
    HELLO_V2,
    REGISTRY,
    containers,
    manifest,
    ready_env,
    releases,
    running,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_process_that_dies_after_three_seconds_does_not_converge(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    worker = manifest(tmp_path, count=1, health=False, command=["sh", "-c", "sleep 3; exit 3"])
    r = d.plat("deploy", "-f", str(worker))
    assert r.code == 8, (r.out, r.err)
    assert "converged" not in r.out.splitlines()[-1]
    assert "exited with code 3, 3 times in a row" in r.err
    assert [x["status"] for x in releases(d)] == ["failed"]


def test_a_release_that_crash_loops_after_converging_is_degraded_and_skipped(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1))).code == 0
    flaky = manifest(tmp_path, count=1, health=False, min_ready="1s", name="flaky.toml",
                     command=["sh", "-c", "sleep 2; exit 3"])
    r = d.plat("deploy", "-f", str(flaky))
    assert r.code == 0, r.err  # up for its min_ready: it converged
    wait_for(lambda: releases(d)[0]["status"] == "degraded", timeout=60)
    status = d.plat("status")
    assert status.out.splitlines()[0].endswith("release v2 (degraded)"), status.out
    assert "3 times in a row within 5m of converging" in status.out.splitlines()[1]
    watch = [json.loads(line) for line in d.plat("events", "--json", "--release", "v2").out
             .splitlines()]
    assert [(e["step"], e["outcome"]) for e in watch if e["step"] == "watch"] == [
        ("watch", "failed")]

    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=HELLO_V2))).code == 0
    r = d.plat("rollback", "--detach")
    assert r.code == 0, r.err
    assert "Release v1" in r.out
    assert "skipped: v2 (degraded: its instances crash-looped after converging)" in r.out

    # Back to the degraded one: refused without a person to ask, done with --yes.
    r = d.plat("rollback", "v2", "--detach")
    assert r.code == 5, (r.out, r.err)
    assert "v2 degraded the last time it ran" in r.err
    assert "plat rollback v2 --yes" in r.err
    assert [x["current"] for x in releases(d)] == [False, False, True], "nothing changed"
    r = d.plat("rollback", "v2", "--yes", "--detach")
    assert r.code == 0, r.err
    assert "warning: v2 degraded the last time it ran" in r.out
    assert releases(d)[1]["current"]


@pytest.fixture
def own_images() -> Iterator[tuple[str, str]]:
    """Two images of this test's own in the local registry: removing them with docker rmi
    cannot disturb a test that runs the shared sample images at the same time."""
    repo = f"{REGISTRY}/truth-repull-{uuid.uuid4().hex[:8]}"
    refs = []
    for source, tag in ((HELLO_V1, "a"), (HELLO_V2, "b")):
        ref = f"{repo}:{tag}"
        subprocess.run(["docker", "tag", source, ref], check=True, capture_output=True)
        subprocess.run(["docker", "push", "-q", ref], check=True, capture_output=True)
        refs.append(ref)
    try:
        yield refs[0], refs[1]
    finally:
        for ref in refs:
            rmi(ref)
        # What platd pulled again is known by digest only: remove every reference to the repo.
        left = subprocess.run(["docker", "images", "--digests", "--format",
                               "{{.Repository}}@{{.Digest}}", repo],
                              capture_output=True, text=True).stdout.split()
        if left:
            subprocess.run(["docker", "rmi", *left], capture_output=True)


def rmi(ref: str) -> None:
    """Remove every reference to the image of ``ref`` (tag and pinned digest), as a person
    cleaning up a host would."""
    found = subprocess.run(["docker", "image", "inspect", ref, "--format",
                            "{{json .RepoDigests}}"], capture_output=True, text=True)
    names = [ref]
    if found.returncode == 0:
        repo = ref.rsplit(":", 1)[0]
        names += [n for n in json.loads(found.stdout) if n.startswith(repo + "@")]
    with contextlib.suppress(subprocess.CalledProcessError):
        subprocess.run(["docker", "rmi", *names], check=True, capture_output=True)


def present(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def test_an_image_removed_with_docker_rmi_is_pulled_again(
    docker_daemon: Daemon, tmp_path: Path, own_images: tuple[str, str],
) -> None:
    d = docker_daemon
    ready_env(d)
    first, second = own_images
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=first))).code == 0
    v1 = releases(d)[0]
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=second))).code == 0
    v2 = releases(d)[0]
    wait_for(lambda: [c.release for c in containers(d.host_id)] == [v2["id"]])

    pinned = v1["images"]["web"]
    rmi(first)
    assert not present(pinned)
    r = d.plat("rollback", "v1")  # a retry or rollback after the image went: pulled again
    assert r.code == 0, (r.out, r.err)
    assert present(pinned)
    assert "no longer on this host" in r.out + r.err

    rmi(second)
    assert not present(v2["images"]["web"])
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1, image=second, memory="72M")))
    assert r.code == 0, (r.out, r.err)
    wait_for(lambda: len(running(d)) == 1)  # the replaced instance stops after the verdict
    (c,) = running(d)
    assert c.image == v2["images"]["web"]


def workload_row(out: str) -> list[str]:
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("WORKLOAD"))
    return lines[header + 1].split()


def test_status_counts_what_serves_when_a_rollout_fails(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    assert d.plat("deploy", "-f", str(manifest(tmp_path, count=2))).code == 0
    broken = manifest(tmp_path, count=2, command=["sh", "-c", "exit 1"], name="broken.toml")
    assert d.plat("deploy", "-f", str(broken)).code == 8
    out = d.plat("status").out
    assert out.splitlines()[0].endswith("release v2 (failed)")
    assert "  still serving: web 2/2 (v1: 2)" in out.splitlines(), out
    assert workload_row(out)[:4] == ["web", "2/2", "0", "2"]


def test_status_says_scaling_right_after_a_scale_up(
    docker_daemon: Daemon, tmp_path: Path,
) -> None:
    d = docker_daemon
    ready_env(d)
    # An app that takes 3 s to answer its health check: new instances are "starting" that long.
    slow = manifest(tmp_path, count=1, command=["sh", "-c", "sleep 3; exec sh /app/start.sh"])
    assert d.plat("deploy", "-f", str(slow)).code == 0
    assert d.plat("scale", "web", "--count", "3").code == 0
    out = d.plat("status").out
    assert "  scaling: web 1/3" in out.splitlines(), out
    assert "degraded" not in out
    assert workload_row(out)[:2] == ["web", "1/3"]
