"""FakeRuntime keeps the promises of the Runtime protocol that control-loop tests rely on."""

from __future__ import annotations

import asyncio

import pytest

from platd.runtime.base import HostCapacity, InstanceSpec, RuntimeError_, RuntimeEvent
from platd.runtime.fake import FakeRuntime

IMAGE = "127.0.0.1:5000/hello@sha256:" + "0" * 64


def spec(instance_id: str = "i1", host_id: str = "h1") -> InstanceSpec:
    return InstanceSpec(
        instance_id=instance_id,
        host_id=host_id,
        env_id="e1",
        env_path="acme/web/hello/prod",
        workload="web",
        release_id="r1",
        spec_hash="s1",
        image=IMAGE,
        command=None,
        env={"GREETING": "hi"},
        cpu=0.25,
        memory=64 << 20,
        publish={8080: 0},
    )


def test_lifecycle_calls_and_events() -> None:
    async def body() -> None:
        rt = FakeRuntime([IMAGE], clock=lambda: 100.0)
        await rt.pull(IMAGE)
        cid = await rt.create(spec())
        assert await rt.create(spec()) == cid  # idempotent by name
        await rt.start(cid)
        (seen,) = await rt.list_instances("h1")
        assert (seen.state, seen.instance_id, seen.started_at) == ("running", "i1", 100.0)
        assert seen.published[8080] > 0
        assert await rt.list_instances("other-host") == []

        rt.crash(cid, 3)
        observed = await rt.inspect(cid)
        assert observed is not None
        assert (observed.state, observed.exit_code) == ("exited", 3)

        await rt.stop(cid)  # already stopped: no error
        await rt.remove(cid)
        await rt.remove(cid)  # already gone: no error
        assert await rt.inspect(cid) is None

        events = rt.events()
        got = [await anext(events) for _ in range(3)]
        assert got == [
            RuntimeEvent(cid, "start", "i1"),
            RuntimeEvent(cid, "die", "i1", 3),
            RuntimeEvent(cid, "destroy", "i1"),
        ]
        assert [c[0] for c in rt.calls] == [
            "pull", "create", "create", "start", "list_instances", "list_instances",
            "inspect", "stop", "remove", "remove", "inspect",
        ]  # fmt: skip

    asyncio.run(body())


def test_unknown_image_and_injected_failures() -> None:
    async def body() -> None:
        rt = FakeRuntime(host_capacity=HostCapacity(cpus=1.0, memory=1 << 30))
        with pytest.raises(RuntimeError_) as caught:
            await rt.pull(IMAGE)
        assert caught.value.category == "image"
        with pytest.raises(RuntimeError_, match="not on this host"):
            await rt.create(spec())

        rt.images.add(IMAGE)
        await rt.pull(IMAGE)
        cid = await rt.create(spec())
        rt.fail_next("start", RuntimeError_("port is already allocated"))
        with pytest.raises(RuntimeError_, match="already allocated"):
            await rt.start(cid)
        await rt.start(cid)  # the failure was for one call only

        rt.crash(cid, 137, oom=True)
        observed = await rt.inspect(cid)
        assert observed is not None
        assert observed.oom_killed
        rt.host_capacity = HostCapacity(cpus=2.0, memory=2 << 30)
        assert await rt.capacity() == HostCapacity(cpus=2.0, memory=2 << 30)

    asyncio.run(body())
