"""The collector against the fake runtime and a real log store: follow, drain, resume, retry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from platd.logs.collector import RETRY_AFTER, Collector
from platd.logs.store import LogStore
from platd.runtime.base import InstanceSpec, LogBatch, RuntimeError_
from platd.runtime.fake import FakeRuntime

HOST = "host-1"
IMAGE = "127.0.0.1:5000/busybox@sha256:" + "1" * 64
T = TypeVar("T")


def spec(instance: str) -> InstanceSpec:
    return InstanceSpec(
        instance_id=instance, host_id=HOST, env_id="env-1", env_path="acme/shop/hello/prod",
        workload="web", release_id="rel-1", spec_hash="h", image=IMAGE, command=None, env={},
        cpu=0.0, memory=0,
    )


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(body(), 60))


async def start(rt: FakeRuntime, instance: str) -> str:
    if IMAGE not in rt.local_images:
        await rt.pull(IMAGE)
    cid = await rt.create(spec(instance))
    await rt.start(cid)
    return cid


def stored(store: LogStore) -> list[tuple[str, str]]:
    """(instance, message) of every app line, in seq order."""
    return [(r[0], r[1]) for r in store.reader().execute(
        "SELECT n.name, l.message FROM lines l JOIN names n ON n.id = l.instance "
        "WHERE l.source = 0 ORDER BY l.seq")]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_lines_are_followed_and_the_last_ones_kept_through_drain(tmp_path: Path) -> None:
    async def main() -> None:
        rt = FakeRuntime(images=[IMAGE])
        store = LogStore(tmp_path / "logs.db")
        collector = Collector(rt, store)
        try:
            cid = await start(rt, "i1")
            collector.observe(await rt.list_instances(HOST))
            assert collector.following == {cid}
            rt.containers[cid].logs += ["one", "two"]
            await until(lambda: len(stored(store)) == 3)
            rt.containers[cid].logs.append("last words")
            await rt.stop(cid)
            await collector.drain(cid)  # what the executor awaits between stop and remove
            assert stored(store)[-1] == ("i1", "last words")
            await rt.remove(cid)
            collector.observe(await rt.list_instances(HOST))
            assert collector.following == set()
            assert [m for _, m in stored(store)] == [
                "started plat-hello-prod-web-i1", "one", "two", "last words"]
        finally:
            await collector.close()
            store.close()

    run(main)


def test_draining_a_container_never_followed_reads_it_whole(tmp_path: Path) -> None:
    async def main() -> None:
        rt = FakeRuntime(images=[IMAGE])
        store = LogStore(tmp_path / "logs.db")
        collector = Collector(rt, store)
        try:
            cid = await start(rt, "i2")  # created and gone before any pass observed it
            rt.containers[cid].logs.append("short life")
            await rt.stop(cid)
            await collector.drain(cid)
            assert [m for _, m in stored(store)] == ["started plat-hello-prod-web-i2",
                                                     "short life"]
            await collector.drain("no-such-container")  # never raises
        finally:
            await collector.close()
            store.close()

    run(main)


def test_a_restarted_collector_resumes_without_gaps_or_duplicates(tmp_path: Path) -> None:
    async def main() -> None:
        rt = FakeRuntime(images=[IMAGE])
        cid = await start(rt, "i3")
        store = LogStore(tmp_path / "logs.db")
        first = Collector(rt, store)
        first.observe(await rt.list_instances(HOST))
        rt.containers[cid].logs += [f"n={i}" for i in range(5)]
        await until(lambda: len(stored(store)) == 6)
        await first.close()
        store.close()  # platd stops; the container goes on writing
        rt.containers[cid].logs += [f"n={i}" for i in range(5, 9)]

        store = LogStore(tmp_path / "logs.db")
        second = Collector(rt, store)
        try:
            second.observe(await rt.list_instances(HOST))
            await until(lambda: len(stored(store)) == 10)
            await asyncio.sleep(0.1)
            assert [m for _, m in stored(store)][1:] == [f"n={i}" for i in range(9)]
        finally:
            await second.close()
            store.close()

    run(main)


class FlakyRuntime(FakeRuntime):
    """Fails the first follow of every container, as an engine restart would."""

    def __init__(self) -> None:
        super().__init__(images=[IMAGE])
        self.failed: set[str] = set()

    async def follow_logs(self, container_id: str, cursor: str | None,
                          stop: asyncio.Event) -> AsyncGenerator[LogBatch, None]:
        if container_id not in self.failed:
            self.failed.add(container_id)
            raise RuntimeError_("lost the connection to the Docker engine")
        async for batch in super().follow_logs(container_id, cursor, stop):
            yield batch


def test_a_failed_follower_is_started_again_after_a_pause(tmp_path: Path) -> None:
    async def main() -> None:
        now = [100.0]
        rt = FlakyRuntime()
        store = LogStore(tmp_path / "logs.db")
        collector = Collector(rt, store, clock=lambda: now[0])
        try:
            cid = await start(rt, "i4")
            collector.observe(await rt.list_instances(HOST))
            await until(lambda: collector.following == set())
            collector.observe(await rt.list_instances(HOST))
            assert collector.following == set(), "not before the pause"
            now[0] += RETRY_AFTER
            collector.observe(await rt.list_instances(HOST))
            assert collector.following == {cid}
            await until(lambda: len(stored(store)) == 1)
        finally:
            await collector.close()
            store.close()

    run(main)
