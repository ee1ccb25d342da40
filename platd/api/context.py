"""What every request handler may need, built once by ``platd serve``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from platd.datadir import DataDir, HostSettings
from platd.feed import Feed
from platd.secrets.crypto import SecretBox
from platd.store.db import Store

Resolver = Callable[[str], Awaitable[str]]
Builder = Callable[[bytes, str, str], Awaitable[str]]


@dataclass
class DaemonContext:
    data: DataDir
    store: Store
    box: SecretBox
    settings: HostSettings
    host: dict[str, Any]
    resolve_image: Resolver
    build_image: Builder | None = None
    feed: Feed = field(default_factory=Feed)  # commits to the state database
    reconciler: Any = None
    logs: Any = None  # platd.logs.LogService
    volumes: Any = None  # platd.volumes.VolumeBackend
    ingress: Any = None  # platd.ingress.controller.IngressController
    cluster: Any = None  # platd.cluster.node.ClusterNode, on a cluster member
