"""The in-memory gossip behaves as replication relies on Serf behaving (platd/gossip/fake.py).

Unit tests: no processes, no network; each test runs its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from platd.gossip.errors import ConnectionLost, PayloadTooLarge, RequestFailed
from platd.gossip.fake import FakeGossip, FakeNetwork
from platd.gossip.stream import EventStream
from platd.gossip.types import EventsLost, GossipEvent, MemberEvent, UserEvent


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 10))


def drain(stream: EventStream) -> list[GossipEvent]:
    """Everything already delivered to ``stream`` (the fake delivers synchronously)."""
    return list(stream._buffer)


def statuses(net: FakeNetwork, observer: str) -> dict[str, str | None]:
    return {n: net.status(observer, n) for n in ("a", "b", "c")}


async def cluster(net: FakeNetwork) -> dict[str, FakeGossip]:
    nodes = {n: net.add(n, tags={"id": n}) for n in ("a", "b", "c")}
    assert await nodes["b"].join(["10.0.0.1"]) == 1
    assert await nodes["c"].join(["10.0.0.2:7946", "nowhere"]) == 1
    return nodes


def test_join_makes_everyone_see_everyone() -> None:
    async def body() -> None:
        net = FakeNetwork()
        a = net.add("a")
        events = await a.subscribe()
        assert [m.name for m in await a.members()] == ["a"]
        b, c = net.add("b"), net.add("c")
        await b.join(["a"])
        await c.join(["10.0.0.2"])  # through b: a learns of c as well
        for handle in (a, b, c):
            seen = {m.name: m.status for m in await handle.members()}
            assert seen == {"a": "alive", "b": "alive", "c": "alive"}
        joined = [m.name for e in drain(events) if isinstance(e, MemberEvent) for m in e.members]
        assert joined == ["b", "c"]
        assert all(e.kind == "member-join" for e in drain(events) if isinstance(e, MemberEvent))

    run(body)


def test_join_fails_when_nobody_answers() -> None:
    async def body() -> None:
        net = FakeNetwork()
        a, b = net.add("a"), net.add("b")
        net.isolate("a")
        with pytest.raises(RequestFailed, match="could not join"):
            await a.join(["b", "10.9.9.9"])
        assert [m.name for m in await b.members()] == ["b"]

    run(body)


def test_user_event_reaches_every_member_and_the_sender() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        streams = {n: await g.subscribe() for n, g in nodes.items()}
        await nodes["a"].user_event("hint", b"origin=a hlc=42")
        await nodes["b"].user_event("hint", b"origin=b hlc=7")
        for stream in streams.values():
            got = [e for e in drain(stream) if isinstance(e, UserEvent)]
            assert [(e.name, e.payload) for e in got] == [
                ("hint", b"origin=a hlc=42"),
                ("hint", b"origin=b hlc=7"),
            ]
            assert got[0].ltime < got[1].ltime

    run(body)


def test_a_partition_fails_the_other_side_and_heal_brings_it_back() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        a_events = await nodes["a"].subscribe()
        c_events = await nodes["c"].subscribe()
        net.partition(["a", "b"], ["c"])
        assert statuses(net, "a") == {"a": "alive", "b": "alive", "c": "failed"}
        assert statuses(net, "c") == {"a": "failed", "b": "failed", "c": "alive"}
        assert drain(a_events)[-1] == MemberEvent("member-failed", (_member(net, "a", "c"),))

        await nodes["a"].user_event("hint", b"during")  # lost to c, as Serf may lose it too
        assert not [e for e in drain(c_events) if isinstance(e, UserEvent)]

        net.heal()
        assert statuses(net, "c") == {"a": "alive", "b": "alive", "c": "alive"}
        last = drain(c_events)[-1]
        assert isinstance(last, MemberEvent)
        assert last.kind == "member-join"
        assert sorted(m.name for m in last.members) == ["a", "b"]

    run(body)


def test_partition_groups_must_cover_every_member_once() -> None:
    net = FakeNetwork()
    for n in ("a", "b", "c"):
        net.add(n)
    with pytest.raises(ValueError, match="exactly once"):
        net.partition(["a"], ["b"])
    with pytest.raises(ValueError, match="exactly once"):
        net.partition(["a", "b"], ["b", "c"])


def test_a_killed_member_is_failed_and_its_handles_are_dead() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        c_events = await nodes["c"].subscribe()
        await nodes["c"].user_event("hint", b"last words")
        net.kill("c")
        assert net.status("a", "c") == "failed"
        with pytest.raises(ConnectionLost):
            await nodes["c"].members()
        # What arrived before the agent died is still read, then the stream raises.
        assert isinstance(await anext(c_events), UserEvent)
        with pytest.raises(ConnectionLost):
            await anext(c_events)

        c = net.restart("c")  # rejoins from its "snapshot"
        assert statuses(net, "c") == {"a": "alive", "b": "alive", "c": "alive"}
        assert net.status("a", "c") == "alive"
        assert c.name == "c"

    run(body)


def test_a_member_that_leaves_is_left_and_stays_out_until_it_joins() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        a_events = await nodes["a"].subscribe()
        await nodes["b"].leave()
        assert net.status("a", "b") == "left"
        assert drain(a_events)[-1] == MemberEvent("member-leave", (_member(net, "a", "b"),))
        with pytest.raises(ConnectionLost):
            await nodes["b"].members()

        b = net.restart("b")
        assert [m.name for m in await b.members()] == ["b"]
        assert net.status("a", "b") == "left"
        await b.join(["a"])
        assert statuses(net, "b") == {"a": "alive", "b": "alive", "c": "alive"}

    run(body)


def test_tag_updates_reach_peers_as_member_update() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        b_events = await nodes["b"].subscribe()
        await nodes["a"].update_tags({"api": "10.0.0.1:7070"}, delete=["id"])
        event = drain(b_events)[-1]
        assert isinstance(event, MemberEvent)
        assert event.kind == "member-update"
        assert dict(event.members[0].tags) == {"api": "10.0.0.1:7070"}
        seen = {m.name: dict(m.tags) for m in await nodes["c"].members()}
        assert seen["a"] == {"api": "10.0.0.1:7070"}

    run(body)


def test_user_events_over_the_limit_are_refused() -> None:
    async def body() -> None:
        net = FakeNetwork(user_event_size_limit=512)
        a = net.add("a")
        await a.user_event("hint", b"x" * 400)
        with pytest.raises(PayloadTooLarge, match="limit is 512"):
            await a.user_event("hint", b"x" * 500)
        assert net.user_events_sent == 1

    run(body)


def test_dropped_user_events_never_arrive() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        stream = await nodes["b"].subscribe()
        net.drop_user_events = True
        await nodes["a"].user_event("hint", b"lost")
        assert drain(stream) == []
        assert net.user_events_sent == 1

    run(body)


def test_a_slow_subscriber_is_told_how_many_events_it_lost() -> None:
    async def body() -> None:
        stream = EventStream(maxsize=3)
        for i in range(5):
            stream.push(UserEvent("hint", b"", i))
        assert await anext(stream) == EventsLost(2)
        assert [(await anext(stream)).ltime for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
        await stream.close()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)

    run(body)


def test_closing_a_subscription_stops_delivery() -> None:
    async def body() -> None:
        net = FakeNetwork()
        nodes = await cluster(net)
        async with await nodes["a"].subscribe() as stream:
            pass
        await nodes["b"].user_event("hint", b"after")
        assert drain(stream) == []
        assert [e async for e in stream] == []

    run(body)


def _member(net: FakeNetwork, observer: str, name: str):  # type: ignore[no-untyped-def]
    return net._view(net._node(observer))[name]
