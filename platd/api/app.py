"""The one place the HTTP application is wired: routes, dependencies, errors.

The app runs no tasks of its own: the daemon's supervisor (``platd.daemon``) runs the HTTP
server beside the reconciler, the ingress controller and the log service, and stops them all
when one of them dies.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from platd import __version__
from platd.api import cluster as cluster_api
from platd.api import console as console_api
from platd.api import device as device_api
from platd.api import endpoints as endpoints_api
from platd.api import envs, errors, openapi, tenancy
from platd.api import exec as exec_api
from platd.api import logs as logs_api
from platd.api import members as members_api
from platd.api import volumes as volumes_api
from platd.api.access import Access
from platd.api.allow import options_allow
from platd.api.context import ApiContext
from platd.api.deps import Svc, provide_principal
from platd.api.exec_waiting import WaitingSessions
from platd.api.guard import body_guard
from platd.cluster.node import ClusterNode
from platd.logs.service import LogService
from platd.services.context import ServiceContext
from platd.spec.errors import PlatError
from platd.spec.input_limits import MAX_BODY  # builds have their own limit


@get("/v1/health", exclude_from_auth=True)
async def health(svc: Svc) -> dict[str, Any]:
    """Unauthenticated liveness: the host and version, nothing else."""
    return {"ok": True, "host": svc.host.id, "name": svc.host.name, "version": __version__}


@get("/v1/tls/ca", exclude_from_auth=True)
async def tls_ca(request: Request[object, object, State]) -> dict[str, Any]:
    """Unauthenticated: the cluster CA's certificate and fingerprint, public by nature. A
    client fetches it before it trusts anything, shows the fingerprint, and pins it (plat
    login); it proves nothing by itself until a person or ``--ca-fingerprint`` accepts it."""
    from platd.spec.errors import NotFound
    from platd.spec.fingerprint import fingerprint

    pem = request.app.state.get("ca")
    if not pem:
        raise NotFound("this host has no cluster CA (its data dir was made before TLS)",
                       hint="on the host: platd ca --create")
    return {"ca": pem, "fingerprint": fingerprint(pem)}


@get("/v1/openapi.json", exclude_from_auth=True, include_in_schema=False)
async def openapi_document(request: Request[object, object, State]) -> dict[str, Any]:
    """The OpenAPI document, at a stable address: Litestar's, completed (``api.openapi``)."""
    state = request.app.state
    if "openapi" not in state:
        state["openapi"] = openapi.complete(request.app.openapi_schema.to_schema())
    document: dict[str, Any] = state["openapi"]
    return document


class _CompleteJson(JsonRenderPlugin):
    """Litestar's own copy of the document (``/v1/schema/openapi.json``), completed alike."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, openapi.complete(openapi_schema))


def create_app(ctx: ApiContext) -> Litestar:
    async def provide_services() -> ServiceContext:
        return ctx.services

    async def provide_logs() -> LogService:
        return ctx.logs

    async def provide_cluster() -> ClusterNode | None:
        return ctx.cluster

    access = Access(ctx.services, device_ttl=ctx.device_ttl,
                    device_interval=ctx.device_interval)
    return Litestar(
        state=State({"access": access, "ca": ctx.ca_pem, "cluster": ctx.cluster,
                     "exec_waiting": WaitingSessions(ctx.services)}),
        route_handlers=[health, tls_ca, openapi_document, tenancy.router, envs.router,
                        exec_api.router, exec_api.peer_router, logs_api.router, volumes_api.router,
                        endpoints_api.env_router, endpoints_api.org_router,
                        cluster_api.router, members_api.router, device_api.api_router,
                        device_api.pages_router, console_api.router],
        dependencies={
            "svc": Provide(provide_services),
            "logs": Provide(provide_logs),
            "cluster": Provide(provide_cluster),
            "principal": Provide(provide_principal),
        },
        exception_handlers={
            PlatError: errors.plat_error,
            HTTPException: errors.http_error,
            Exception: errors.internal_error,
        },
        request_max_body_size=MAX_BODY,
        middleware=[body_guard, options_allow],
        openapi_config=OpenAPIConfig(
            title="plat", version=__version__, path="/v1/schema",
            render_plugins=[_CompleteJson(path="/openapi.json")],
        ),
        logging_config=None,
    )
