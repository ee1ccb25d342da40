"""What the gossip layer tells its users: members and the events that change them.

These are plain values shared by the Serf client and the in-memory fake, so replication code
written against one runs unchanged against the other. Names and status words are Serf's own,
because operators will read them in ``serf members`` output too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MEMBER_EVENT_KINDS",
    "EventsLost",
    "GossipEvent",
    "Member",
    "MemberEvent",
    "MemberEventKind",
    "MemberStatus",
    "UserEvent",
]

# "leaving" lasts while a graceful leave is broadcast; "none" is Serf's zero value.
MemberStatus = Literal["alive", "leaving", "left", "failed", "none"]

MemberEventKind = Literal[
    "member-join", "member-leave", "member-failed", "member-update", "member-reap"
]
MEMBER_EVENT_KINDS: tuple[MemberEventKind, ...] = (
    "member-join",
    "member-leave",
    "member-failed",
    "member-update",
    "member-reap",
)


@dataclass(frozen=True)
class Member:
    """One node as some agent currently sees it."""

    name: str  # the node name: plat uses the host id
    addr: str  # gossip address, "10.0.0.5" or "fd00::5"
    port: int  # gossip port
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    status: MemberStatus = "alive"


@dataclass(frozen=True)
class MemberEvent:
    """Members joined, left, failed, changed tags, or were reaped (forgotten for good).

    Serf coalesces member events for 1-3 s before delivering them; ``members()`` shows a change
    at once, the event follows.
    """

    kind: MemberEventKind
    members: tuple[Member, ...]


@dataclass(frozen=True)
class UserEvent:
    """A small broadcast some node sent with ``user_event``; also delivered to the sender.

    Delivery is best effort: an event can arrive late, twice, or never (a partition, a burst
    over Serf's buffers). Treat it as a hint and converge by other means.
    """

    name: str
    payload: bytes
    ltime: int  # Serf's Lamport time for user events
    coalesce: bool = False


@dataclass(frozen=True)
class EventsLost:
    """``count`` events were dropped because this subscriber fell behind: assume you missed
    something (run anti-entropy) and carry on reading."""

    count: int


GossipEvent = MemberEvent | UserEvent | EventsLost
