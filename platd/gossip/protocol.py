"""The boundary between replication and the gossip engine: what plat needs from Serf, no more.

Replication asks who is out there (``members``), whispers small hints (``user_event``), listens
for joins, failures and hints (``subscribe``), and manages its own membership (``join``,
``update_tags``, ``leave``). ``serf_rpc.SerfClient`` is the real implementation (one RPC
connection to the host's Serf agent); ``fake.FakeGossip`` is an in-memory one whose members
share a ``FakeNetwork`` that tests can partition, for unit tests of replication in one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from platd.gossip.stream import EventStream
from platd.gossip.types import Member

__all__ = ["Gossip"]


class Gossip(Protocol):
    """One host's handle on the cluster's gossip. Every call may raise ``ConnectionLost``
    (the agent is down; reconnect and resubscribe) or another ``GossipError``."""

    @property
    def name(self) -> str:
        """This node's name (plat uses the host id)."""
        ...

    async def members(self) -> list[Member]:
        """Every member this node knows of, itself included, in any status."""
        ...

    async def user_event(self, name: str, payload: bytes = b"", *, coalesce: bool = False) -> None:
        """Broadcast a small event to every member, this one included.

        ``name`` + ``payload`` must stay under the agent's limit (512 bytes by default, less
        ~40 bytes of encoding) or ``PayloadTooLarge`` is raised. ``coalesce=True`` lets agents
        merge events of the same name over 1-3 s and deliver only the last: it delays
        delivery, so leave it off for latency-sensitive hints.
        """
        ...

    async def subscribe(self) -> EventStream:
        """Start receiving member events (join, leave, failed, update, reap) and user events.

        Returns once the agent has confirmed the subscription, so nothing sent after this call
        returns is missed. Close the stream (or use it as ``async with``) when done.
        """
        ...

    async def join(self, addresses: Sequence[str], *, replay: bool = False) -> int:
        """Join the cluster through any of ``addresses`` ("ip" or "ip:port"); returns how many
        answered. ``replay=True`` asks for past user events too (plat never needs them)."""
        ...

    async def update_tags(self, tags: Mapping[str, str], delete: Sequence[str] = ()) -> None:
        """Set or replace ``tags`` and remove the keys in ``delete``; peers see a
        ``member-update``."""
        ...

    async def leave(self) -> None:
        """Leave the cluster gracefully; the agent then shuts down and the handle is dead."""
        ...

    async def close(self) -> None:
        """Drop this handle (the agent keeps running); open streams end with ConnectionLost."""
        ...
