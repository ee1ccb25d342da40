"""The one place the HTTP application is wired: routes, dependencies, errors, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from platd import __version__
from platd.api import cluster as cluster_api
from platd.api import endpoints as endpoints_api
from platd.api import envs, errors, tenancy
from platd.api import exec as exec_api
from platd.api import logs as logs_api
from platd.api import volumes as volumes_api
from platd.api.context import DaemonContext
from platd.api.deps import provide_ctx, provide_principal
from platd.spec.errors import PlatError

MAX_BODY = 1024 * 1024  # manifests and config are small; builds have their own limit
log = logging.getLogger("platd")


@get("/v1/health", exclude_from_auth=True)
async def health(ctx: DaemonContext) -> dict[str, Any]:
    """Unauthenticated liveness: the host and version, nothing else."""
    return {"ok": True, "host": ctx.host["id"], "name": ctx.host["name"], "version": __version__}


@get("/v1/openapi.json", exclude_from_auth=True, include_in_schema=False)
async def openapi_document(request: Request[object, object, State]) -> dict[str, Any]:
    """The OpenAPI document Litestar generates, at a stable address."""
    return request.app.openapi_schema.to_schema()


def create_app(ctx: DaemonContext, *, run_reconciler: bool = True) -> Litestar:
    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        ctx.feed.attach(ctx.store)
        logs_task = ctx.logs.start() if ctx.logs is not None else None
        task = None
        if run_reconciler and ctx.reconciler is not None:
            task = asyncio.create_task(_after_sync(ctx, ctx.reconciler.run()), name="reconciler")
            task.add_done_callback(_die_with_reconciler)
        cluster_task = None
        if ctx.cluster is not None:
            cluster_task = asyncio.create_task(ctx.cluster.run(), name="cluster")
            cluster_task.add_done_callback(_die_with_reconciler)
        ingress_task = None
        if ctx.ingress is not None:
            ingress_task = asyncio.create_task(ctx.ingress.run(), name="ingress")
            ingress_task.add_done_callback(_die_with_reconciler)
        try:
            yield
        finally:
            if cluster_task is not None:
                cluster_task.remove_done_callback(_die_with_reconciler)
                cluster_task.cancel()
                await asyncio.gather(cluster_task, return_exceptions=True)
            if ingress_task is not None:
                ingress_task.remove_done_callback(_die_with_reconciler)
                ingress_task.cancel()
                await asyncio.gather(ingress_task, return_exceptions=True)
            if task is not None:
                task.remove_done_callback(_die_with_reconciler)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if logs_task is not None:
                await ctx.logs.stop(logs_task)  # after the reconciler: its stops drain logs

    app = Litestar(
        route_handlers=[health, openapi_document, tenancy.router, envs.router,
                        exec_api.router, logs_api.router, volumes_api.router,
                        endpoints_api.env_router, endpoints_api.org_router,
                        cluster_api.router],
        dependencies={
            "ctx": Provide(provide_ctx),
            "principal": Provide(provide_principal),
        },
        exception_handlers={
            PlatError: errors.plat_error,
            HTTPException: errors.http_error,
            Exception: errors.internal_error,
        },
        request_max_body_size=MAX_BODY,
        openapi_config=OpenAPIConfig(
            title="plat", version=__version__, path="/v1/schema",
            render_plugins=[JsonRenderPlugin(path="/openapi.json")],
        ),
        lifespan=[lifespan],
        logging_config=None,
    )
    app.state.ctx = ctx
    return app


async def _after_sync(ctx: DaemonContext, run: Any) -> None:
    """A cluster member converges with a peer before its reconciler acts on what it holds (it
    may have been away: stopping containers on stale state would be wrong). Alone, or when no
    peer answers within SYNC_WAIT, it goes on with what it has (a cut-off host keeps working)."""
    if ctx.cluster is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.cluster.replicator.synced.wait(), SYNC_WAIT)
    await run


SYNC_WAIT = 30.0


def _die_with_reconciler(task: asyncio.Task[None]) -> None:
    # A daemon without its reconciler would accept deploys and never act on them: stop instead.
    if task.cancelled():
        return
    exc = task.exception()
    log.critical("the %s stopped (%r); shutting platd down", task.get_name(), exc)
    import os
    import signal

    # serve() turns this into a non-zero exit, so a supervisor (systemd) restarts platd.
    RECONCILER_DIED.set()
    os.kill(os.getpid(), signal.SIGTERM)


RECONCILER_DIED = threading.Event()
