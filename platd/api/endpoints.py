"""Routes for endpoints (env-scoped) and ``exposed`` (org-scoped)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Router, delete, get, patch, post
from litestar.di import Provide

from platd.api.deps import Caller, EnvPath, Svc, provide_env_path
from platd.services import endpoint_check, endpoints


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    workload: str
    internal_port: int
    external_ports: list[int]
    protocol: str = "tcp"
    ipv6: bool = True
    ipv4: bool = False
    proxy_protocol: str | None = None


@post("/endpoints")
async def create_endpoint(
    svc: Svc,
    principal: Caller,
    data: EndpointCreate,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(
        endpoints.create, svc, principal, env_path, **msgspec.structs.asdict(data)
    )


class EndpointChange(msgspec.Struct, forbid_unknown_fields=True):
    workload: str | None = None
    internal_port: int | None = None
    external_ports: list[int] | None = None
    ipv6: bool | None = None
    ipv4: bool | None = None
    proxy_protocol: str | None = None  # "v2", or "none" to turn it off


@patch("/endpoints/{name:str}")
async def change_endpoint(
    svc: Svc,
    principal: Caller,
    data: EndpointChange,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(
        endpoints.update, svc, principal, env_path, name, msgspec.structs.asdict(data)
    )


@get("/endpoints")
async def list_endpoints(
    svc: Svc,
    principal: Caller,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(endpoints.list_, svc, principal, env_path)


@get("/endpoints/{name:str}")
async def describe_endpoint(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(endpoints.describe, svc, principal, env_path, name)


@post("/endpoints/{name:str}/check", status_code=200)
async def check_endpoint(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    """One request through the endpoint from this host: what came back, and how fast."""
    return await asyncio.to_thread(endpoint_check.check, svc, principal, env_path, name)


@delete("/endpoints/{name:str}", status_code=200)
async def delete_endpoint(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(endpoints.delete, svc, principal, env_path, name)


@get("/orgs/{org:str}/exposed")
async def exposed(svc: Svc, principal: Caller, org: str) -> dict[str, Any]:
    """Everything in the org reachable from outside, one row per address family and port."""
    return await asyncio.to_thread(endpoints.exposed, svc, principal, org)


env_router = Router(
    path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
    dependencies={"env_path": Provide(provide_env_path, sync_to_thread=False)},
    route_handlers=[
        create_endpoint,
        list_endpoints,
        describe_endpoint,
        change_endpoint,
        check_endpoint,
        delete_endpoint,
    ],
)
org_router = Router(path="/v1", route_handlers=[exposed])
