"""The supervisor of a daemon's root tasks: a vital task that ends stops the daemon, in order.

Each test runs real asyncio tasks; nothing waits on a timer to pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from platd.supervisor import RootTask, Supervisor

T = TypeVar("T")


def run(body: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await asyncio.wait_for(body(), 10)

    return asyncio.run(main())


class Loop:
    """A root task that runs until cancelled (or told to stop), and says how it ended."""

    def __init__(self, name: str, ended: list[str], *, graceful: bool = False) -> None:
        self.name = name
        self.ended = ended
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self.graceful = graceful

    async def run(self) -> None:
        self.started.set()
        try:
            await self._stop.wait()
            self.ended.append(f"{self.name} returned")
        except asyncio.CancelledError:
            self.ended.append(f"{self.name} cancelled")
            raise

    def stop(self) -> None:
        self._stop.set()

    def task(self, *, vital: bool = True) -> RootTask:
        return RootTask(self.name, self.run, stop=self.stop if self.graceful else None,
                        vital=vital)


def test_a_vital_task_that_dies_stops_the_others_last_started_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []

    async def body() -> str | None:
        logs, http = Loop("log service", ended), Loop("HTTP server", ended, graceful=True)
        broken = asyncio.Event()

        async def reconciler() -> None:
            await broken.wait()
            raise KeyError("boom")

        supervisor = Supervisor([logs.task(), RootTask("reconciler", reconciler), http.task()],
                                on_shutdown=lambda: ended.append("feeds closed"))
        running = asyncio.create_task(supervisor.run())
        await logs.started.wait()
        await http.started.wait()
        broken.set()
        return await running

    assert run(body) == "reconciler"
    # Long polls are let go first; the HTTP server is asked to finish, the rest are cancelled.
    assert ended == ["feeds closed", "HTTP server returned", "log service cancelled"]
    assert "the reconciler stopped (KeyError('boom')); shutting platd down" in caplog.text
    assert [r.levelname for r in caplog.records if "shutting" in r.message] == ["CRITICAL"]


def test_a_vital_task_that_returns_stops_the_daemon_too() -> None:
    ended: list[str] = []

    async def body() -> str | None:
        other = Loop("ingress controller", ended)

        async def quits() -> None:
            await other.started.wait()

        return await Supervisor([other.task(), RootTask("gossip", quits)]).run()

    assert run(body) == "gossip"
    assert ended == ["ingress controller cancelled"]


def test_stop_ends_the_run_in_order_and_says_nothing_died() -> None:
    ended: list[str] = []

    async def body() -> str | None:
        first, second = Loop("first", ended), Loop("second", ended, graceful=True)
        supervisor = Supervisor([first.task(), second.task()])
        running = asyncio.create_task(supervisor.run())
        await first.started.wait()
        await second.started.wait()
        supervisor.stop()
        return await running

    assert run(body) is None
    assert ended == ["second returned", "first cancelled"]


def test_stop_from_another_thread_and_before_the_run_both_end_it() -> None:
    ended: list[str] = []

    async def body() -> tuple[str | None, str | None]:
        early = Supervisor([Loop("a", ended).task()])
        early.stop()
        first = await early.run()
        loop = Loop("b", ended)
        late = Supervisor([loop.task()])
        running = asyncio.create_task(late.run())
        await loop.started.wait()
        await asyncio.to_thread(late.stop)
        return first, await running

    assert run(body) == (None, None)
    assert ended == ["a cancelled", "b cancelled"]


def test_a_task_that_is_not_vital_may_end_without_stopping_the_daemon(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[str] = []

    async def body() -> str | None:
        keeps = Loop("reconciler", ended)

        async def optional() -> None:
            raise OSError("no serf here")

        supervisor = Supervisor([keeps.task(), RootTask("gossip", optional, vital=False)])
        running = asyncio.create_task(supervisor.run())
        await keeps.started.wait()
        await asyncio.sleep(0)  # the optional task has ended by now
        assert not running.done()
        supervisor.stop()
        return await running

    assert run(body) is None
    assert ended == ["reconciler cancelled"]
    assert "the gossip stopped (OSError('no serf here'))" in caplog.text


def test_root_task_names_are_unique() -> None:
    async def idle() -> None:
        await asyncio.sleep(0)

    with pytest.raises(ValueError, match="repeat"):
        Supervisor([RootTask("a", idle), RootTask("a", idle)])
