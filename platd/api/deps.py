"""Dependencies injected into handlers: the daemon context and the calling principal."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State

from platd.api.context import DaemonContext
from platd.auth.tokens import Principal
from platd.services import tokens


async def provide_ctx(state: State) -> DaemonContext:
    ctx: DaemonContext = state.ctx
    return ctx


async def provide_principal(
    request: Request[object, object, State], ctx: DaemonContext
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else None
    # A single indexed lookup: cheaper inline than a hop to a worker thread.
    with ctx.store.read() as session:
        return tokens.authenticate(session, bearer)


def target(org: str, project: str, app: str, env: str) -> str:
    return f"{org}/{project}/{app}/{env}"


def provide_env_path(org: str, project: str, app: str, env: str) -> str:
    """ORG/PROJECT/APP/ENV from an env route's path, for handlers that take ``env_path``."""
    return target(org, project, app, env)
