"""Dependencies injected into handlers: the daemon's parts, the calling principal and the env a
route names. Handlers declare them with the aliases below (``svc: Svc``), which mark each one
as a named dependency, as Litestar asks."""

from __future__ import annotations

from typing import TypeAlias

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency

from platd.auth.tokens import Principal
from platd.cluster.node import ClusterNode
from platd.logs.service import LogService
from platd.services import tokens
from platd.services.context import ServiceContext

Svc: TypeAlias = NamedDependency[ServiceContext]
Cluster: TypeAlias = NamedDependency[ClusterNode | None]  # None on a host of its own
Logs: TypeAlias = NamedDependency[LogService]
Caller: TypeAlias = NamedDependency[Principal]
EnvPath: TypeAlias = NamedDependency[str]


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (None for any other scheme)."""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


async def provide_principal(request: Request[object, object, State], svc: Svc) -> Principal:
    # A single indexed lookup: cheaper inline than a hop to a worker thread.
    return tokens.principal_for(svc, bearer_token(request.headers.get("authorization", "")))


def target(org: str, project: str, app: str, env: str) -> str:
    return f"{org}/{project}/{app}/{env}"


def provide_env_path(org: str, project: str, app: str, env: str) -> str:
    """ORG/PROJECT/APP/ENV from an env route's path, for handlers that take ``env_path``."""
    return target(org, project, app, env)
