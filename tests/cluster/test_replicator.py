"""Replication between hosts in one process: real state stores, fake gossip, in-memory peers.

What a cluster user relies on: a write on any host shows up on every host; a host cut off from
the others keeps taking writes and, once it can reach them again, every host holds the same
state; and none of it depends on gossip hints arriving (they are dropped in bursts).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlmodel import select

from platd.cluster.replicator import Replicator
from platd.cluster.transport import InMemoryTransport, PeerUnreachable
from platd.gossip.fake import FakeNetwork
from platd.store.db import Store
from platd.store.models import Org
from tests.unit.store_support import make_store


class Link(InMemoryTransport):
    """One host's way to the others' APIs: what a partition cuts depends on who asks (a
    failed peer is tried too, so a cut must hold both ways, as on a wire)."""

    def __init__(self, hosts: Hosts, caller: str) -> None:
        super().__init__()
        self.stores = hosts.transport.stores  # shared with every host's link
        self.down = hosts.transport.down  # a host that is down is down for every caller
        self._hosts = hosts
        self._caller = caller

    def _cut(self, api: str) -> bool:
        return api in self._hosts.cut.get(self._caller, set())

    def _store(self, api: str) -> Store:
        if self._cut(api):
            self.requests += 1
            raise PeerUnreachable(f"peer {api} is across a partition from {self._caller}")
        return super()._store(api)


class Hosts:
    def __init__(self, root: Path, n: int, *, interval: float) -> None:
        self.net = FakeNetwork()
        self.transport = InMemoryTransport()
        self.cut: dict[str, set[str]] = {}  # per host, the APIs a partition keeps it from
        self.stores: dict[str, Store] = {}
        self.replicators: dict[str, Replicator] = {}
        for i in range(n):
            host = f"host-{i}"
            api = f"mem://{host}"
            store = make_store(root / host, host)
            gossip = self.net.add(host, tags={"api": api})
            self.stores[host] = store
            self.transport.stores[api] = store
            self.replicators[host] = Replicator(store, gossip, Link(self, host),
                                                interval=interval, rng=random.Random(i))

    def partition(self, *groups: set[str]) -> None:
        """Gossip and the peer APIs cut between ``groups``, both ways."""
        self.net.partition(*groups)
        self.cut = {host: {f"mem://{other}" for g in groups if host not in g for other in g}
                    for group in groups for host in group}

    def heal(self) -> None:
        self.net.heal()
        self.cut = {}

    async def join_all(self) -> None:
        names = list(self.replicators)
        for name in names[1:]:
            await self.replicators[name].gossip.join([self.replicators[names[0]].gossip.name])

    def write(self, host: str, org_id: str, name: str) -> None:
        with self.stores[host].write() as session:
            org = session.get(Org, org_id) or Org(id=org_id, name=name, created_at=0.0)
            org.name = name
            session.add(org)

    def names(self, host: str) -> dict[str, str]:
        with self.stores[host].read() as session:
            return {o.id: o.name for o in session.exec(select(Org))}

    def digests(self) -> set[str]:
        return {s.digest() for s in self.stores.values()}


@asynccontextmanager
async def running(tmp_path: Path, n: int, *, interval: float = 0.2) -> AsyncIterator[Hosts]:
    hosts = Hosts(tmp_path, n, interval=interval)
    await hosts.join_all()
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(r.run()) for r in hosts.replicators.values()]
        try:
            yield hosts
        finally:
            for t in tasks:
                t.cancel()
    for s in hosts.stores.values():
        s.close()


async def eventually(check: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_a_write_on_any_host_reaches_every_host(tmp_path: Path) -> None:
    async def scenario() -> None:
        # A long anti-entropy interval: what arrives fast arrives through hints and pulls.
        async with running(tmp_path, 3, interval=60.0) as hosts:
            await eventually(lambda: all(r.synced.is_set() for r in hosts.replicators.values()))
            for i, host in enumerate(hosts.stores):
                hosts.write(host, f"org-{i}", f"written-on-{host}")
            expected = {f"org-{i}": f"written-on-host-{i}" for i in range(3)}
            await eventually(lambda: all(hosts.names(h) == expected for h in hosts.stores))
            await eventually(lambda: len(hosts.digests()) == 1)

    asyncio.run(scenario())


def test_convergence_does_not_depend_on_hints(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, 3, interval=0.1) as hosts:
            hosts.net.drop_user_events = True
            hosts.write("host-0", "o", "only-anti-entropy-carries-this")
            await eventually(lambda: all(
                hosts.names(h).get("o") == "only-anti-entropy-carries-this" for h in hosts.stores
            ))

    asyncio.run(scenario())


def test_a_partition_with_writes_on_both_sides_heals_to_one_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, 3, interval=0.1) as hosts:
            hosts.write("host-0", "shared", "before")
            await eventually(lambda: len(hosts.digests()) == 1)
            hosts.partition({"host-0"}, {"host-1", "host-2"})
            hosts.write("host-0", "shared", "left-side")
            hosts.write("host-0", "left", "only-left")
            hosts.write("host-2", "shared", "right-side")  # later: it wins everywhere
            hosts.write("host-1", "right", "only-right")
            await asyncio.sleep(0.5)
            assert hosts.names("host-0")["shared"] == "left-side"  # a cut-off host keeps working
            assert "right" not in hosts.names("host-0")
            hosts.heal()
            await eventually(lambda: len(hosts.digests()) == 1)
            for h in hosts.stores:
                assert hosts.names(h) == {"shared": "right-side", "left": "only-left",
                                          "right": "only-right"}

    asyncio.run(scenario())


def test_a_healed_cut_converges_while_gossip_still_calls_the_other_side_failed(
    tmp_path: Path,
) -> None:
    """The peer APIs answer again but gossip never re-merges: anti-entropy tries the peers
    gossip calls failed, so both sides still end with every write."""
    async def scenario() -> None:
        async with running(tmp_path, 3, interval=0.1) as hosts:
            hosts.partition({"host-0"}, {"host-1", "host-2"})
            hosts.write("host-0", "left", "only-left")
            hosts.write("host-2", "right", "only-right")
            await asyncio.sleep(0.3)
            assert "right" not in hosts.names("host-0")
            hosts.cut = {}  # the wire is back; gossip's view is not
            await eventually(lambda: len(hosts.digests()) == 1)
            for h in hosts.stores:
                assert hosts.names(h) == {"left": "only-left", "right": "only-right"}
            members = await hosts.replicators["host-0"].gossip.members()
            assert {m.name: m.status for m in members if m.name != "host-0"} == \
                {"host-1": "failed", "host-2": "failed"}
            # A side reached the other while gossip called it failed (which side first
            # depends on the schedule; the one reached pulls back at once).
            assert sum(r.reached_failed for r in hosts.replicators.values()) >= 1

    asyncio.run(scenario())


def test_a_host_that_was_down_catches_up_when_it_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path, 3, interval=0.1) as hosts:
            hosts.net.kill("host-2")
            hosts.transport.down.add("mem://host-2")
            for i in range(50):
                hosts.write("host-0", f"o{i}", f"n{i}")
            await eventually(lambda: len(hosts.names("host-1")) == 50)
            assert hosts.names("host-2") == {}
            replacement = hosts.net.restart("host-2")
            hosts.replicators["host-2"].gossip = replacement
            hosts.transport.down.clear()
            hosts.replicators["host-2"].kick()
            await eventually(lambda: len(hosts.digests()) == 1)

    asyncio.run(scenario())


def test_pulls_page_through_large_backlogs(tmp_path: Path) -> None:
    async def scenario() -> None:
        hosts = Hosts(tmp_path, 2, interval=60.0)
        for i in range(250):
            hosts.write("host-0", f"o{i}", f"n{i}")
        b = hosts.replicators["host-1"]
        b.page = 100
        pulled = await b.sync_with("mem://host-0")
        assert pulled == 250
        assert hosts.stores["host-1"].digest() == hosts.stores["host-0"].digest()
        assert await b.sync_with("mem://host-0") == 0  # nothing twice
        for s in hosts.stores.values():
            s.close()

    asyncio.run(scenario())


def test_the_same_name_made_on_both_sides_keeps_both_and_says_so(tmp_path: Path) -> None:
    from platd.cluster import conflicts
    from platd.store.models import Event

    async def scenario() -> None:
        async with running(tmp_path, 2, interval=0.1) as hosts:
            for host, r in hosts.replicators.items():
                r.after_merge = lambda changes, host=host: conflicts.resolve(
                    hosts.stores[host], changes)
            hosts.net.partition({"host-0"}, {"host-1"})
            hosts.transport.down.update({"mem://host-0", "mem://host-1"})
            hosts.write("host-0", "id-0-first", "acme")
            await asyncio.sleep(0.01)
            hosts.write("host-1", "id-1-second", "acme")
            hosts.net.heal()
            hosts.transport.down.clear()
            await eventually(lambda: len(hosts.digests()) == 1 and all(
                sorted(hosts.names(h).values()) == ["acme", "acme-cond"] for h in hosts.stores))
            for h, store in hosts.stores.items():
                assert hosts.names(h) == {"id-0-first": "acme", "id-1-second": "acme-cond"}
                with store.read() as session:
                    events = session.exec(select(Event).where(Event.step == "conflict")).all()
                assert len(events) == 1
                assert "acme-cond" in events[0].message

    asyncio.run(scenario())


def test_two_deploys_to_one_env_on_two_sides_leave_one_current_and_an_event(
    tmp_path: Path,
) -> None:
    from platd.cluster import conflicts
    from platd.store.models import Env, EnvChange, Event, Release

    def deploy(store: Store, release_id: str, seq: int, previous: str | None) -> None:
        with store.write() as session:
            env = session.get(Env, "env-1")
            assert env is not None
            session.add(Release(id=release_id, env_id="env-1", seq=seq, manifest_json="{}",
                                images_json="{}", config_version_id=None,
                                secret_versions_json="{}", created_at=0.0, created_by="alice",
                                source="x"))
            change_id = f"change-{release_id}"
            session.add(EnvChange(id=change_id, env_id="env-1", action="deploy",
                                  release_id=release_id, previous_release_id=previous,
                                  at=0.0, by=f"user-on-{store.host_id}"))
            env.current_release_id, env.current_change_id = release_id, change_id
            session.add(env)

    async def scenario() -> None:
        async with running(tmp_path, 2, interval=0.1) as hosts:
            for host, r in hosts.replicators.items():
                r.after_merge = lambda changes, host=host: conflicts.resolve(
                    hosts.stores[host], changes)
            a, b = hosts.stores["host-0"], hosts.stores["host-1"]
            with a.write() as session:
                session.add(Env(id="env-1", app_id="app", name="prod", created_at=0.0))
            deploy(a, "rel-v1", 1, None)
            await eventually(lambda: len(hosts.digests()) == 1)
            hosts.net.partition({"host-0"}, {"host-1"})
            hosts.transport.down.update({"mem://host-0", "mem://host-1"})
            deploy(a, "rel-a", 2, "rel-v1")
            await asyncio.sleep(0.01)
            deploy(b, "rel-b", 2, "rel-v1")  # later: it wins
            hosts.net.heal()
            hosts.transport.down.clear()
            await eventually(lambda: len(hosts.digests()) == 1 and all(
                _conflicts(s) for s in hosts.stores.values()))
            for store in hosts.stores.values():
                with store.read() as session:
                    env = session.get(Env, "env-1")
                    assert env is not None
                    assert env.current_release_id == "rel-b"
                    assert len(session.exec(select(Release)).all()) == 3  # both listed
                    (event,) = session.exec(select(Event).where(Event.step == "conflict")).all()
                assert "deploy of v2 (release rel-b, by user-on-host-1) is current" in \
                    event.message
                assert "deploy of v2 (release rel-a, by user-on-host-0) was superseded" in \
                    event.message

    def _conflicts(store: Store) -> bool:
        with store.read() as session:
            return session.exec(select(Event).where(Event.step == "conflict")).first() is not None

    asyncio.run(scenario())


def test_a_host_back_alone_is_not_synced_until_a_peer_answers(tmp_path: Path) -> None:
    """A restarted host that holds other hosts' rows and sees no peer yet must not count as
    synced: its reconciler would act on assignments the others changed while it was away."""
    async def scenario() -> None:
        async with running(tmp_path, 2, interval=0.1) as hosts:
            hosts.write("host-1", "o1", "from-host-1")
            await eventually(lambda: len(hosts.digests()) == 1)
            store = hosts.stores["host-0"]
            net = FakeNetwork()
            back = Replicator(store, net.add("host-0", tags={"api": "mem://host-0"}),
                              hosts.transport, interval=0.1)
            assert await back.round() is False
            assert not back.synced.is_set()
            # Alone since it was made (no other origin's rows): nothing to wait for.
            lonely = make_store(tmp_path / "lonely", "lonely")
            try:
                alone = Replicator(lonely, net.add("lonely", tags={"api": "mem://lonely"}),
                                   hosts.transport, interval=0.1)
                assert await alone.round() is False
                assert alone.synced.is_set()
            finally:
                lonely.close()

    asyncio.run(scenario())
