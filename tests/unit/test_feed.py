"""The state store's feed wakes event followers on commits that wrote events, and on no other.

During a rollout most commits are instance rows; each used to wake every ``plat deploy``
follower for a read of the event log that found nothing new.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from platd.feed import Feed
from platd.store.models import Event, Instance
from tests.unit.store_support import make_store


def _instance(instance_id: str) -> Instance:
    return Instance(id=instance_id, host_id="host-a", env_id="e1", workload="web",
                    release_id="r1", spec_hash="s1", container_id="c1", state="running",
                    health="healthy",
                    restarts=0, updated_at=0.0)


def _event(event_id: str) -> Event:
    return Event(id=event_id, at=0.0, env_id="e1", release_id="r1", step="create",
                 outcome="ok", message="instance i1 is running")


async def _woken(feed: Feed, commit: object) -> bool:
    ticket = feed.ticket()
    await asyncio.to_thread(commit)  # the store commits in worker threads, as in platd
    waiting = asyncio.create_task(feed.wait(0.3, ticket))
    await waiting
    return ticket.is_set()


def test_an_event_follower_wakes_for_events_and_not_for_instance_rows(tmp_path: Path) -> None:
    store = make_store(tmp_path, "host-a")

    def write_instance() -> None:
        with store.write() as session:
            session.add(_instance("i1"))

    def write_event() -> None:
        with store.write() as session:
            session.add(_event("ev1"))

    async def go() -> tuple[bool, bool]:
        feed = Feed()
        feed.attach(store, only=("events",))
        return await _woken(feed, write_instance), await _woken(feed, write_event)

    assert asyncio.run(go()) == (False, True)


def test_a_feed_of_a_store_that_says_nothing_wakes_on_every_commit(tmp_path: Path) -> None:
    """The log store's listeners are told nothing about what changed: every commit wakes."""

    class LogStore:
        def __init__(self) -> None:
            self.listeners: list[object] = []

        def commit(self) -> None:
            for listener in self.listeners:
                listener()  # type: ignore[operator]

    async def go() -> bool:
        store = LogStore()
        feed = Feed()
        feed.attach(store, only=("events",))  # type: ignore[arg-type]
        return await _woken(feed, store.commit)

    assert asyncio.run(go())


def test_closing_wakes_a_filtered_feed(tmp_path: Path) -> None:
    async def go() -> bool:
        feed = Feed()
        feed.attach(make_store(tmp_path, "host-a"), only=("events",))
        return await _woken(feed, feed.close)

    assert asyncio.run(go())
