"""The rejoiner's choices, with a scripted member list and in-memory peers (no Serf, no time).

What it must do for a healed partition to re-merge at once: a failed member whose peer API
answers again is joined through gossip at its gossip address and pulled from; one that does not
answer is left alone (no join that would hang the agent); a member that left is never asked;
and a member is not asked twice at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from platd.cluster.rejoin import Rejoiner
from platd.cluster.transport import InMemoryTransport
from platd.gossip.types import Member, MemberStatus
from tests.unit.store_support import make_store


def member(name: str, status: MemberStatus, addr: str) -> Member:
    return Member(name=name, addr=addr, port=7946, tags={"api": f"mem://{name}"},
                  status=status)


class World:
    def __init__(self, root: Path) -> None:
        self.transport = InMemoryTransport()
        for name in ("b", "c", "d"):
            self.transport.stores[f"mem://{name}"] = make_store(root / name, name)
        self.members = [member("a", "alive", "10.0.0.1"), member("b", "failed", "10.0.0.2"),
                        member("c", "failed", "fd00::3"), member("d", "left", "10.0.0.4")]
        self.joins: list[list[str]] = []
        self.syncs: list[str] = []
        self.rejoiner = Rejoiner("a", self.list_members, self.transport, self.join, self.sync,
                                 probe_timeout=60.0, clock=lambda: self.now)
        self.now = 0.0

    async def list_members(self) -> list[Member]:
        return self.members

    async def join(self, addresses: Sequence[str]) -> int:
        self.joins.append(list(addresses))
        return len(addresses)

    async def sync(self, api: str) -> int:
        self.syncs.append(api)
        return 0

    async def look(self) -> None:
        """One look at the member list, and every try it started run to the end."""
        self.rejoiner.check(self.members)
        while self.rejoiner._tasks:
            await asyncio.gather(*self.rejoiner._tasks)


def test_a_failed_member_that_answers_is_joined_and_pulled_from(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        world.transport.down = {"mem://b", "mem://c"}
        await world.look()
        # Still cut off: no join (it would hang the agent in memberlist's dial), no pull.
        assert world.joins == []
        assert world.syncs == []
        world.transport.down = {"mem://c"}  # the cut heals for b only
        world.now += 1.0
        await world.look()
        assert world.joins == [["10.0.0.2:7946"]]
        assert world.syncs == ["mem://b"]
        assert world.rejoiner.rejoined == 1
        world.transport.down = set()
        world.now += 1.0
        await world.look()
        assert world.joins[-1] == ["[fd00::3]:7946"]  # IPv6, bracketed as Serf takes it
        # d left the cluster on purpose: never asked, never joined.
        assert "mem://d" not in world.syncs
        assert all("10.0.0.4" not in a for j in world.joins for a in j)

    asyncio.run(scenario())


def test_a_member_is_asked_once_a_second_and_not_twice_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        world.transport.down = {"mem://b", "mem://c"}
        await world.look()
        asked = world.transport.requests
        await world.look()  # the same instant: nothing is due
        assert world.transport.requests == asked
        world.now += 1.0
        await world.look()
        assert world.transport.requests == asked + 2
        # A try still in flight is not started again.
        world.transport.down = set()
        world.now += 1.0
        world.rejoiner.check(world.members)
        world.now += 1.0
        world.rejoiner.check(world.members)
        await asyncio.gather(*world.rejoiner._tasks)
        assert sorted(world.syncs) == ["mem://b", "mem://c"]

    asyncio.run(scenario())


def test_a_member_failed_for_long_is_asked_less_often(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path)
        world.transport.down = {"mem://b", "mem://c"}
        await world.look()
        world.now += 3600.0
        await world.look()
        asked = world.transport.requests
        world.now += 1.0
        await world.look()
        assert world.transport.requests == asked  # not due yet: every 10 s by now
        world.now += 10.0
        await world.look()
        assert world.transport.requests == asked + 2

    asyncio.run(scenario())
