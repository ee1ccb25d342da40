"""What a use case may touch, typed, built once by the daemon and handed to every call.

Each use case takes a ``ServiceContext`` first: the state store and the feed that wakes its
followers, the clock that times what it records, this host, and the boundaries some use cases
need (sealing secrets, the volume backend, the image registry and builder, the runtime exec
talks to, the endpoint address pools and the probe that asks whether the host can listen on an
address). Nothing here is a module global, so
several daemons (hosts) can live in one process, each with its own context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from platd.clock import Clock
from platd.disk import DiskWatch
from platd.feed import Feed
from platd.runtime.base import Runtime
from platd.secrets.crypto import SecretBox
from platd.spec.endpoints import Pools, PortProbe, any_port_free
from platd.spec.limits import Limits
from platd.spec.membership import Membership
from platd.spec.volumes import HostInfo
from platd.store.db import Store
from platd.volumes.backend import VolumeBackend

# A reference ("127.0.0.1:5000/hello:v1") to the same image pinned by digest.
Resolver = Callable[[str], Awaitable[str]]
# (context tar, tag, dockerfile) -> the pushed image, pinned by digest.
Builder = Callable[[bytes, str, str], Awaitable[str]]


@dataclass(frozen=True)
class Images:
    """Where images come from: the registry that pins tags, and the builder (if this host has
    one) that builds uploaded contexts and pushes them to ``registry``."""

    resolve: Resolver
    build: Builder | None = None
    registry: str = "127.0.0.1:5000"


@dataclass(frozen=True)
class Endpoints:
    """This host's endpoint address pools, and how to ask whether it can listen somewhere."""

    pools: Pools = field(default_factory=Pools)
    probe: PortProbe = any_port_free
    # The data plane reaches instances on other hosts through their hops (haproxy driver).
    across_hosts: bool = False

    def reach(self, membership: Membership | None) -> frozenset[str] | None:
        """Hosts whose instances serve an endpoint of this cluster (None: the endpoint's
        host's own only)."""
        if not self.across_hosts or membership is None:
            return None
        return frozenset(membership.alive_ids())


@dataclass(frozen=True)
class ServiceContext:
    store: Store
    feed: Feed  # commits to ``store``, for long-polling followers
    clock: Clock
    host: HostInfo
    box: SecretBox
    runtime: Runtime
    volumes: VolumeBackend
    images: Images
    endpoints: Endpoints
    # Gossip's view of the cluster, for placement; None on a host of its own (no cluster).
    membership: Membership | None = None
    limits: Limits = field(default_factory=Limits)  # platd.toml's per-env and disk limits
    disk: DiskWatch | None = None  # the data disk (None: not watched, in unit tests)

    def require_room(self, what: str) -> None:
        """Refuse ``what``, a write that adds data, while the data disk counts as full."""
        if self.disk is not None:
            self.disk.require_room(what)

    @property
    def hosts(self) -> list[HostInfo]:
        """Every host a placement may choose: this one alone until hosts form a cluster, then
        every member (its labels and region as it described itself), this one first."""
        if self.membership is None:
            return [self.host]
        import json

        from sqlmodel import select

        from platd.store.models import Host

        with self.store.read() as session:
            rows = session.exec(select(Host).where(Host.deleted == False)).all()  # noqa: E712
        others = []
        for h in rows:
            if h.id == self.host.id:
                continue
            labels = {str(k): str(v) for k, v in json.loads(h.labels_json or "{}").items()}
            if h.region:
                labels.setdefault("region", h.region)
            others.append(HostInfo(h.id, h.name, labels))
        return [self.host, *sorted(others, key=lambda x: x.name)]
