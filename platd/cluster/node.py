"""This host as a cluster member: its Serf agent, its gossip handle and its replicator.

``ClusterNode.run()`` is one of platd's root tasks. It starts the agent (which dies with
platd), describes this host in its own ``hosts`` row and in gossip tags, joins the peers it
knows from replicated rows (Serf's snapshot is flushed lazily, so after a crash it may not
know them), and replicates until cancelled. The RPC connection to the agent is re-opened
whenever the agent restarts (``ReconnectingGossip``), so replication never holds a dead one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from platd.cluster import conflicts
from platd.cluster.identity import ClusterIdentity
from platd.cluster.replicator import Replicator
from platd.cluster.transport import HttpPeerTransport, PeerTransport
from platd.gossip.agent import SerfAgent
from platd.gossip.agent_config import AgentConfig, AgentSecrets
from platd.gossip.errors import ConnectionLost, GossipError
from platd.gossip.serf_rpc import SerfClient
from platd.gossip.stream import EventStream
from platd.gossip.tags import HostTags
from platd.gossip.types import Member, MemberEvent
from platd.spec.membership import Membership
from platd.store.changes import ChangeSet
from platd.store.db import Store
from platd.store.models import Event, Host

log = logging.getLogger("platd.cluster")
SCHEMA = 6  # the state schema this build writes; tags tell peers
PLACEMENT_EVERY = 1.0  # seconds between looks at membership (a failed host is seen in 5-7 s)
PLACEMENT_RESYNC = 15.0  # seconds after which placement is checked again even if nothing changed


@dataclass(frozen=True)
class NodeSettings:
    gossip_bind: str  # "IP:PORT" Serf listens on
    api_url: str  # where peers and users reach this host's API
    region: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    rpc_addr: str = "127.0.0.1:7373"
    interval: float = 10.0  # anti-entropy
    serf: str = "serf"


def capacity() -> tuple[float, int]:
    """This host's cores and memory, as placement will count them."""
    cpus = float(os.cpu_count() or 1)
    memory = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    return cpus, memory


class ReconnectingGossip:
    """The ``Gossip`` protocol over the agent's RPC, reconnecting when the agent restarts."""

    def __init__(self, agent: SerfAgent, name: str) -> None:
        self.agent = agent
        self._name = name
        self._client: SerfClient | None = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self._name

    async def _get(self) -> SerfClient:
        async with self._lock:
            if self._client is None or not self._client.connected:
                self._client = await self.agent.connect()
            return self._client

    async def _call(self, method: str, *args: object, **kwargs: object) -> object:
        for attempt in (1, 2):
            client = await self._get()
            try:
                return await getattr(client, method)(*args, **kwargs)
            except ConnectionLost:
                self._client = None
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def members(self) -> list[Member]:
        return await self._call("members")  # type: ignore[return-value]

    async def user_event(self, name: str, payload: bytes = b"", *, coalesce: bool = False) -> None:
        await self._call("user_event", name, payload, coalesce=coalesce)

    async def subscribe(self) -> EventStream:
        return await self._call("subscribe")  # type: ignore[return-value]

    async def join(self, addresses: Sequence[str], *, replay: bool = False) -> int:
        return await self._call("join", addresses, replay=replay)  # type: ignore[return-value]

    async def update_tags(self, tags: Mapping[str, str], delete: Sequence[str] = ()) -> None:
        await self._call("update_tags", tags, delete)

    async def leave(self) -> None:
        await self._call("leave")

    async def force_leave(self, node: str) -> None:
        await self._call("force_leave", node, prune=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class ClusterNode:
    def __init__(
        self,
        data: Path,
        identity: ClusterIdentity,
        store: Store,
        host: Mapping[str, object],
        settings: NodeSettings,
        *,
        transport: PeerTransport | None = None,
        command_prefix: Sequence[str] = (),
        membership: Membership | None = None,
    ) -> None:
        self.identity = identity
        self.secret_key = (data / "secret.key").read_bytes()  # handed to joining hosts, sealed
        self.store = store
        self.host_id = str(host["id"])
        self.host_name = str(host["name"])
        self.settings = settings
        self.membership = membership or Membership(self.host_id)
        cpus, memory = capacity()
        self.tags = HostTags(self.host_id, settings.api_url, SCHEMA, settings.region,
                             dict(settings.labels), cpus, memory)
        config = AgentConfig(
            node_name=self.host_id, bind=settings.gossip_bind, rpc_addr=settings.rpc_addr,
            tags=self.tags.encode(), retry_join=tuple(self._known_peers()),
        )
        secrets = AgentSecrets(rpc_auth=identity.rpc_auth, keyring=identity.gossip_keyring)
        self.agent = SerfAgent(config, secrets, data / "serf", serf=settings.serf,
                               command_prefix=command_prefix)
        self.gossip = ReconnectingGossip(self.agent, self.host_id)
        from platd import certs

        self.data = data
        # Members' https APIs are trusted through the cluster CA only (platd.certs).
        self.ssl_context = certs.client_context(data)
        self.transport = transport or HttpPeerTransport(self.host_id, identity.key,
                                                        ssl_context=self.ssl_context)
        self.replicator = Replicator(store, self.gossip, self.transport,
                                     interval=settings.interval,
                                     on_membership=self._record_membership,
                                     after_merge=self._resolve_conflicts)

    def _known_peers(self) -> list[str]:
        with self.store.read() as session:
            rows = session.exec(select(Host).where(Host.deleted == False)).all()  # noqa: E712
        return [h.gossip for h in rows if h.id != self.host_id and h.gossip]

    def describe_self(self) -> None:
        """This host's own row, written when what it says about itself changed."""
        cpus, memory = capacity()
        with self.store.write() as session:
            row = session.get(Host, self.host_id) or Host(
                id=self.host_id, name=self.host_name, api="", gossip="", joined_at=time.time()
            )
            row.name, row.api, row.gossip = self.host_name, self.settings.api_url, \
                self.settings.gossip_bind
            row.region, row.labels_json = self.settings.region, json.dumps(
                dict(self.settings.labels), sort_keys=True)
            row.cpus, row.memory, row.deleted = cpus, memory, False
            session.add(row)

    async def run(self) -> None:
        await asyncio.to_thread(self.describe_self)
        await self.agent.start()
        peers = await asyncio.to_thread(self._known_peers)
        if peers:
            try:
                joined = await self.gossip.join(peers)
                log.info("joined %d of %d known peers", joined, len(peers))
            except GossipError as e:
                log.warning("could not reach the known peers yet (%s); Serf keeps trying", e)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.agent.run(), name="serf-agent")
                tasks.create_task(self.replicator.run(), name="replicator")
                tasks.create_task(self._watch_placement(), name="placement-watch")
        finally:
            await self.gossip.close()
            await self.agent.stop()
            close = getattr(self.transport, "close", None)
            if close is not None:
                await close()

    async def _watch_placement(self) -> None:
        """Keep gossip's view for placement, and place again what membership changed.

        Every host follows the member list (deploys placed here need it); only the alive host
        with the smallest id writes re-placements (host loss past the grace period, a drain, a
        host that can take a pending instance), and only once it has synced with a peer, so a
        host back from an absence never moves instances from what it held before. Any host
        would compute the same answer: the smallest id just keeps writes few.
        """
        dirty = True
        last = 0.0

        def changed(changes: object) -> None:
            nonlocal dirty
            # Rows placement reads (releases, scales, hosts, volumes, assignments...) changed;
            # what reconcilers record (events, instance rows) does not move anything.
            if not isinstance(changes, ChangeSet) or any(
                ids and table not in ("events", "instances", "release_states")
                for table, ids in changes.tables.items()
            ):
                dirty = True

        self.store.listeners.append(changed)
        try:
            while True:
                await asyncio.sleep(PLACEMENT_EVERY)
                try:
                    members = await self.gossip.members()
                except GossipError:
                    continue
                now = time.time()
                if self.membership.update([(m.name, m.status) for m in members], now):
                    dirty = True
                if self.membership.awaiting_sync() and await self.replicator.round():
                    self.membership.synced()  # it has what the others placed meanwhile
                await self._hear_from_returning()
                # While a host is down its grace period runs out without any change: look
                # every second then; otherwise only after a change (and now and then anyway).
                down = any(m.status == "failed" for m in members)
                if not (dirty or down or now - last > PLACEMENT_RESYNC):
                    continue
                if not self.replicator.synced.is_set() or self.membership.cut_off():
                    continue  # stale state, or the minority side: the others place
                alive = self.membership.alive_ids()
                if alive and alive[0] == self.host_id:
                    dirty, last = False, now
                    try:
                        await asyncio.to_thread(self._replace)
                    except Exception:
                        log.exception("placement pass failed; trying again")
                        dirty = True
        finally:
            self.store.listeners.remove(changed)

    async def _hear_from_returning(self) -> None:
        """Pull each host back from an absence's own rows from it, all at once: until then
        status does not count what it held of them (``Membership.returning``), and after a
        partition heals these pulls are what carries the other side's writes here."""
        back = self.membership.returning_ids()
        if not back:
            return
        heard = await asyncio.gather(*(self.replicator.hear_from(h) for h in back))
        for host_id, ok in zip(back, heard, strict=True):
            if ok:
                self.membership.reported(host_id)

    def _replace(self) -> None:
        from platd.clock import SystemClock
        from platd.services import placement

        with self.store.write() as session:
            placement.replace(session, SystemClock(), self.membership)

    def _resolve_conflicts(self, changes: ChangeSet) -> None:
        for message in conflicts.resolve(self.store, changes):
            log.warning("conflict resolved: %s", message)

    def _record_membership(self, event: MemberEvent) -> None:
        """Joins, failures and returns become events (``plat hosts describe`` shows them)."""
        words = {"member-join": "is alive", "member-leave": "left the cluster",
                 "member-failed": "stopped answering (failed)", "member-reap": "was forgotten"}
        if event.kind not in words:
            return
        others = [m for m in event.members if m.name != self.host_id]
        if not others:
            return
        with self.store.write() as session:
            for m in others:
                session.add(Event(
                    id=_event_id(), at=time.time(), env_id="", step="host",
                    outcome="failed" if event.kind == "member-failed" else "info",
                    message=f"host {m.tags.get('id', m.name)[-12:]} ({m.addr}) {words[event.kind]}"
                            f", as seen from {self.host_name}",
                    actor=None, workload=None, instance_id=m.name,
                ))

    async def members(self) -> list[Member]:
        try:
            return await self.gossip.members()
        except GossipError:
            return []


def _event_id() -> str:
    from platd.spec.ids import uuid7

    return uuid7()
