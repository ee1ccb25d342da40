"""Stop-first rollouts for workloads that mount a volume read-write, from tables and a property.

The promise: an instance is never created while another instance that may hold the same volume
still exists (running, exited, or being stopped); the old one is stopped only once the new image
is on the host, and the rollout converges.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platd.reconcile.model import (
    Capacity,
    Create,
    DesiredWorkload,
    InstanceView,
    MarkRelease,
    Pending,
    Pull,
    Stop,
    VolumeBinding,
)
from platd.reconcile.planner import plan

GIB = 1024**3
IMAGE_V1 = "127.0.0.1:5000/db@sha256:" + "1" * 64
IMAGE_V2 = "127.0.0.1:5000/db@sha256:" + "2" * 64
HOST = Capacity(cpus=4.0, memory=8 * GIB)
DATA = VolumeBinding("data", "/var/lib/platd/volumes/mnt/v1/data", "/data")


def want(release: str = "r2", *, count: int = 1, volumes: tuple[VolumeBinding, ...] = (DATA,),
         workload: str = "db", image: str = IMAGE_V2, converged: bool = False) -> DesiredWorkload:
    return DesiredWorkload(
        env_id="e1", env_path="acme/shop/tools/prod", workload=workload, release_id=release,
        release_seq=int(release[1:]), spec_hash=f"spec-{release}-{workload}", count=count,
        image=image, cpu=0.1, memory=32 * 1024**2, volumes=volumes, release_converged=converged,
    )


def inst(release: str, n: int = 0, *, state: str = "running", health: str = "healthy",
         workload: str = "db", volumes: tuple[str, ...] = ("data",)) -> InstanceView:
    return InstanceView(
        instance_id=f"i-{release}-{workload}-{n}", container_id=f"c-{release}-{workload}-{n}",
        env_id="e1", workload=workload, release_id=release,
        spec_hash=f"spec-{release}-{workload}", state=state, health=health,  # type: ignore[arg-type]
        started_at=10.0 + n, memory=32 * 1024**2, volumes=volumes,
    )


def run(d: DesiredWorkload, observed: list[InstanceView], *, stopping: list[InstanceView] = (),  # type: ignore[assignment]
        images: set[str] = frozenset({IMAGE_V1, IMAGE_V2})) -> list[object]:  # type: ignore[assignment]
    return list(plan([d], observed, images_present=set(images), release_status={},
                     capacity=HOST, now=100.0, stopping=stopping).actions)


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_old_instance_is_stopped_first_and_nothing_is_created_meanwhile() -> None:
    actions = run(want(), [inst("r1")])
    assert kinds(actions) == ["Stop", "Pending", "MarkRelease"]
    stop, pending = actions[0], actions[1]
    assert isinstance(stop, Stop)
    assert "stop-first" in stop.reason
    assert isinstance(pending, Pending)
    assert "waiting for 1 old instance(s) to stop" in pending.reason


def test_an_instance_still_stopping_blocks_the_create() -> None:
    actions = run(want(), [], stopping=[inst("r1")])
    assert kinds(actions) == ["Pending", "MarkRelease"]


def test_once_the_old_instance_is_gone_the_new_one_is_created() -> None:
    assert kinds(run(want(), [])) == ["Create", "MarkRelease"]


def test_old_is_kept_until_the_new_image_is_on_the_host() -> None:
    actions = run(want(), [inst("r1")], images={IMAGE_V1})
    assert kinds(actions) == ["Pull", "MarkRelease"]
    assert isinstance(actions[0], Pull)
    assert actions[0].image == IMAGE_V2


def test_crashed_old_instances_are_stopped_too_not_restarted() -> None:
    actions = run(want(), [inst("r1", state="exited", health="none")])
    assert kinds(actions)[0] == "Stop"


def test_an_instance_of_a_removed_workload_holding_the_volume_blocks_the_create() -> None:
    # The volume moved from workload "old" (no longer deployed) to "db".
    actions = run(want(), [inst("r1", workload="old")])
    assert kinds(actions) == ["Stop", "Pending", "MarkRelease"]


def test_a_volume_that_cannot_be_mounted_keeps_the_instance_pending_with_the_reason() -> None:
    broken = replace(DATA, source="", problem="volume data is not mounted on this host")
    actions = run(want(volumes=(broken,)), [])
    assert kinds(actions) == ["Pending", "MarkRelease"]
    assert actions[0].reason == "volume data is not mounted on this host"  # type: ignore[attr-defined]


def test_read_only_volumes_roll_out_start_first_as_usual() -> None:
    ro = replace(DATA, read_only=True)
    actions = run(want(volumes=(ro,), count=1), [inst("r1")])
    assert "Create" in kinds(actions)
    assert "Stop" not in kinds(actions)


def test_converges_when_the_new_instance_is_healthy_and_no_old_remains() -> None:
    actions = run(want(), [inst("r2")])
    assert actions == [MarkRelease("e1", "r2", "converged")]


@pytest.mark.parametrize("count", [0])
def test_count_zero_stops_everything(count: int) -> None:
    actions = run(want(count=count), [inst("r1"), inst("r2")])
    assert kinds(actions).count("Stop") == 2


@settings(max_examples=200, deadline=None)
@given(
    old=st.lists(st.sampled_from(["running", "exited", "created"]), max_size=3),
    stopping=st.integers(min_value=0, max_value=2),
    image_present=st.booleans(),
    finish=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_never_two_holders_and_the_rollout_converges(
    old: list[str], stopping: int, image_present: bool, finish: list[bool]
) -> None:
    """Simulate passes: stops finish when ``finish`` says so, creates become healthy at once."""
    d = want()
    views = [inst("r1", n, state=s, health="healthy" if s == "running" else "none")
             for n, s in enumerate(old)]
    halting = [inst("r0", n) for n in range(stopping)]
    images = {IMAGE_V1} | ({IMAGE_V2} if image_present else set())
    created = 0
    for step, done in enumerate(finish):
        actions = run(d, views, stopping=halting, images=images)
        creates = [a for a in actions if isinstance(a, Create)]
        if creates:
            others = [v for v in views if v.spec_hash != d.spec_hash] + halting
            assert not others, f"create planned while {others} may hold the volume"
            assert len(creates) + sum(v.spec_hash == d.spec_hash for v in views) <= 1
        for a in actions:
            if isinstance(a, Pull):
                images.add(a.image)
            elif isinstance(a, Stop):
                views.remove(a.instance)
                halting.append(a.instance)
            elif isinstance(a, Create):
                created += 1
                views.append(inst("r2", 100 + step))
        if done:
            halting = []
        if any(a == MarkRelease("e1", "r2", "converged") for a in actions):
            break
    else:
        # Old instances are stopped by pass 1 (after the pull); once a later pass sees the stops
        # finished, it creates, and the next one converges.
        assert not any(finish[1:-3]), "the rollout did not converge"
    assert created <= 1
