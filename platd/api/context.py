"""What request handlers are given: the daemon's parts that the API serves, typed.

The daemon (``platd.daemon``) builds one ``ApiContext`` and hands it to ``create_app``; the app
injects its fields into handlers as dependencies (``svc``, ``logs``). Nothing is looked up from
the application's state or a module global, so several apps (hosts) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

from platd.cluster.node import ClusterNode
from platd.logs.service import LogService
from platd.services.context import ServiceContext


@dataclass(frozen=True)
class ApiContext:
    services: ServiceContext
    logs: LogService
    cluster: ClusterNode | None = None  # on a cluster member (docs/cluster.md)
    # The device flow (docs/cli.md, plat login): how long a code lives, how often to poll.
    device_ttl: float = 600.0
    device_interval: float = 5.0
    # The cluster CA's certificate (public), which GET /v1/tls/ca hands to plat login to pin.
    ca_pem: str | None = None
