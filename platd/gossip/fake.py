"""An in-memory ``Gossip`` for unit tests of replication: several members in one process.

Every ``FakeGossip`` belongs to a ``FakeNetwork``, which plays the part of Serf and of the wire:
``join`` merges clusters, ``partition``/``heal`` cut and restore reachability, ``kill``/``restart``
take an agent down and bring it back (rejoined, as Serf's peers reconnect to a failed member).
Views change at once, with no timing: a cut-off member is ``failed`` immediately, a healed one
``alive`` again.

It follows Serf where replication can tell: the sender receives its own user event; size limits
are checked the same way (name + payload before encoding, then the encoded message); member
events are batched per kind; an event sent while a member is unreachable is never delivered to it
(Serf may deliver it late; neither guarantees it). ``drop_user_events`` loses every user event,
to prove that convergence does not depend on them. A dead handle raises ``ConnectionLost``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgpack

from platd.gossip.errors import ConnectionLost, PayloadTooLarge, RequestFailed
from platd.gossip.stream import EventStream
from platd.gossip.types import (
    Member,
    MemberEvent,
    MemberEventKind,
    MemberStatus,
    UserEvent,
)

if TYPE_CHECKING:
    from platd.gossip.protocol import Gossip

__all__ = ["FakeGossip", "FakeNetwork"]

DEFAULT_USER_EVENT_LIMIT = 512  # Serf's default user_event_size_limit


@dataclass
class _Node:
    name: str
    addr: str
    port: int
    tags: dict[str, str]
    cluster: int
    up: bool = True
    left: bool = False  # left gracefully: peers show "left", it sees only itself until it joins
    view: dict[str, Member] = field(default_factory=dict)  # as last announced to subscribers
    handles: list[FakeGossip] = field(default_factory=list)


class FakeNetwork:
    """The shared world of several fake members; its methods are what a test does to it."""

    def __init__(self, *, user_event_size_limit: int = DEFAULT_USER_EVENT_LIMIT) -> None:
        self.user_event_size_limit = user_event_size_limit
        self.drop_user_events = False
        self._nodes: dict[str, _Node] = {}
        self._clusters = itertools.count(1)
        self._ltime = itertools.count(1)
        self._groups: list[frozenset[str]] | None = None  # None: everyone reaches everyone
        self.user_events_sent = 0

    # -- what a test does

    def add(
        self, name: str, *, tags: Mapping[str, str] | None = None, addr: str | None = None,
        port: int = 7946,
    ) -> FakeGossip:
        """A new member, alone in its own cluster until it joins another."""
        if name in self._nodes:
            raise ValueError(f"{name!r} is already on this network")
        addr = addr or f"10.0.0.{len(self._nodes) + 1}"
        self._nodes[name] = _Node(name, addr, port, dict(tags or {}), next(self._clusters))
        handle = self.connect(name)
        self._announce()
        return handle

    def connect(self, name: str) -> FakeGossip:
        """Another handle on a running member (as a second RPC connection would be)."""
        node = self._node(name)
        handle = FakeGossip(self, name)
        if not node.up:
            handle._die(f"the fake agent {name!r} is down")
        node.handles.append(handle)
        return handle

    def partition(self, *groups: Iterable[str]) -> None:
        """Members in different groups cannot reach each other; every member in exactly one."""
        sets = [frozenset(g) for g in groups]
        listed = [n for g in sets for n in g]
        if sorted(listed) != sorted(self._nodes) or len(set(listed)) != len(listed):
            raise ValueError(
                f"partition groups must name every member exactly once: {sorted(self._nodes)}"
            )
        self._groups = sets
        self._announce()

    def isolate(self, name: str) -> None:
        self.partition([name], [n for n in self._nodes if n != name])

    def heal(self) -> None:
        self._groups = None
        self._announce()

    def kill(self, name: str) -> None:
        """The member's agent dies (kill -9): its handles go dead, peers see it ``failed``."""
        node = self._node(name)
        node.up = False
        node.view = {}
        for handle in node.handles:
            handle._die(f"the fake agent {name!r} was killed")
        node.handles.clear()
        self._announce()

    def restart(self, name: str) -> FakeGossip:
        """Start a killed (or left) member's agent again; it is back in its cluster at once
        unless it had left (Serf's peers reconnect to a failed member every
        ``reconnect_interval``). Returns a handle on the new agent."""
        node = self._node(name)
        if node.up:
            raise ValueError(f"{name!r} is running; kill it first")
        node.up = True
        handle = self.connect(name)
        self._announce()
        return handle

    def status(self, observer: str, name: str) -> MemberStatus | None:
        """How ``observer`` sees ``name`` right now (None: not a member it knows)."""
        member = self._view(self._node(observer)).get(name)
        return member.status if member else None

    # -- what the handles call

    def _node(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ValueError(f"no member {name!r} on this network") from None

    def _reaches(self, a: str, b: str) -> bool:
        return self._groups is None or any(a in g and b in g for g in self._groups)

    def _view(self, node: _Node) -> dict[str, Member]:
        if not node.up:
            return {}
        if node.left:
            return {node.name: self._member(node, "alive")}
        view: dict[str, Member] = {}
        for other in self._nodes.values():
            if other.cluster != node.cluster:
                continue
            status: MemberStatus
            if other.left:
                status = "left"
            elif other is node or (other.up and self._reaches(node.name, other.name)):
                status = "alive"
            else:
                status = "failed"
            view[other.name] = self._member(other, status)
        return view

    @staticmethod
    def _member(node: _Node, status: MemberStatus) -> Member:
        return Member(node.name, node.addr, node.port, dict(node.tags), status)

    def _announce(self) -> None:
        """Recompute every running member's view and tell its subscribers what changed."""
        for node in self._nodes.values():
            if not node.up:
                continue
            new = self._view(node)
            changes: dict[MemberEventKind, list[Member]] = {}
            for name, member in new.items():
                kind = _change(node.view.get(name), member)
                if kind is not None:
                    changes.setdefault(kind, []).append(member)
            node.view = new
            for kind, members in changes.items():
                event = MemberEvent(kind, tuple(members))
                for handle in node.handles:
                    handle._push(event)

    def _find(self, address: str) -> _Node | None:
        host = address
        if address.startswith("["):
            host = address[1:].split("]", 1)[0]
        elif address.count(":") == 1:
            host = address.split(":", 1)[0]
        for node in self._nodes.values():
            if address in (node.name, node.addr, f"{node.addr}:{node.port}") or host == node.addr:
                return node
        return None

    def _join(self, name: str, addresses: Sequence[str]) -> int:
        node = self._node(name)
        reached = []
        for address in addresses:
            other = self._find(address)
            if (other is not None and other.up and not other.left
                    and self._reaches(name, other.name)):
                reached.append(other)
        if not reached:
            raise RequestFailed(
                f"the fake agent {name!r} could not join any of {list(addresses)}"
            )
        merged = {node.cluster, *(other.cluster for other in reached)}
        cluster = next(self._clusters)
        node.left = False
        for member in self._nodes.values():
            if member.cluster in merged:
                member.cluster = cluster
        self._announce()
        return len(reached)

    def _user_event(self, sender: str, name: str, payload: bytes, coalesce: bool) -> None:
        limit = self.user_event_size_limit
        ltime = next(self._ltime)
        encoded = 1 + len(
            msgpack.packb(
                {"LTime": ltime, "Name": name, "Payload": payload, "CC": coalesce},
                use_bin_type=True,
            )
        )
        if len(name) + len(payload) > limit or encoded > limit:
            raise PayloadTooLarge(
                f"the user event is too large for the Serf agent: {encoded} bytes encoded, "
                f"the limit is {limit}",
                hint="send a small hint and let peers pull the data over HTTP",
            )
        self.user_events_sent += 1
        if self.drop_user_events:
            return
        event = UserEvent(name, bytes(payload), ltime, coalesce)
        source = self._node(sender)
        for node in self._nodes.values():
            if node.up and not node.left and node.cluster == source.cluster and (
                node is source or self._reaches(sender, node.name)
            ):
                for handle in node.handles:
                    handle._push(event)

    def _update_tags(self, name: str, tags: Mapping[str, str], delete: Sequence[str]) -> None:
        node = self._node(name)
        node.tags = {k: v for k, v in node.tags.items() if k not in delete} | dict(tags)
        self._announce()

    def _leave(self, name: str) -> None:
        node = self._node(name)
        node.left = True
        self._announce()
        self.kill(name)


def _change(old: Member | None, new: Member) -> MemberEventKind | None:
    if new.status == "alive":
        if old is None or old.status != "alive":
            return "member-join"
        return "member-update" if old.tags != new.tags else None
    if old is None or old.status == new.status:
        return None
    return "member-leave" if new.status == "left" else "member-failed"


class FakeGossip:
    """One handle on one fake member; a ``Gossip``."""

    def __init__(self, network: FakeNetwork, name: str) -> None:
        self._network = network
        self._name = name
        self._streams: list[EventStream] = []
        self._dead: ConnectionLost | None = None

    @property
    def name(self) -> str:
        return self._name

    async def members(self) -> list[Member]:
        self._check()
        return list(self._network._view(self._network._node(self._name)).values())

    async def user_event(self, name: str, payload: bytes = b"", *, coalesce: bool = False) -> None:
        self._check()
        self._network._user_event(self._name, name, payload, coalesce)

    async def subscribe(self) -> EventStream:
        self._check()
        stream: EventStream

        async def unsubscribe() -> None:
            if stream in self._streams:
                self._streams.remove(stream)

        stream = EventStream(on_close=unsubscribe)
        self._streams.append(stream)
        return stream

    async def join(self, addresses: Sequence[str], *, replay: bool = False) -> int:
        self._check()
        return self._network._join(self._name, addresses)

    async def update_tags(self, tags: Mapping[str, str], delete: Sequence[str] = ()) -> None:
        self._check()
        self._network._update_tags(self._name, tags, delete)

    async def leave(self) -> None:
        self._check()
        self._network._leave(self._name)

    async def close(self) -> None:
        self._die(f"the handle on {self._name!r} was closed")
        node = self._network._node(self._name)
        if self in node.handles:
            node.handles.remove(self)

    def _check(self) -> None:
        if self._dead is not None:
            raise self._dead

    def _die(self, why: str) -> None:
        if self._dead is None:
            self._dead = ConnectionLost(why, hint="reconnect and resubscribe")
        for stream in self._streams:
            stream.fail(self._dead)
        self._streams.clear()

    def _push(self, event: MemberEvent | UserEvent) -> None:
        for stream in self._streams:
            stream.push(event)


if TYPE_CHECKING:

    def _conforms(gossip: FakeGossip) -> Gossip:
        return gossip
