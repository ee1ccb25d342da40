"""Routes for an env's volumes: ``/v1/envs/{org}/{project}/{app}/{env}/volumes...``.

Handlers translate HTTP to one ``platd.services.volumes`` call in a worker thread: volume
operations run commands on the host (mkfs, fsfreeze, cp), which may take seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Router, delete, get, patch, post
from litestar.di import Provide

from platd.api.context import DaemonContext
from platd.api.deps import provide_env_path
from platd.auth.tokens import Principal
from platd.services import volumes
from platd.spec.volumes import HostInfo


class VolumeCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    size: str | int
    region: str | None = None
    host: str | None = None


class VolumeResize(msgspec.Struct, forbid_unknown_fields=True):
    size: str | int


class SnapshotRestore(msgspec.Struct, forbid_unknown_fields=True):
    as_name: str | None = None


def _hosts(ctx: DaemonContext) -> list[HostInfo]:
    return volumes.hosts_of(ctx.host, ctx.settings.labels)


@get("/volumes")
async def list_volumes(
    ctx: DaemonContext,
    principal: Principal,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(ctx, volumes.list_volumes, principal, env_path)


@post("/volumes")
async def create_volume(
    ctx: DaemonContext,
    principal: Principal,
    data: VolumeCreate,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(
        ctx,
        volumes.create_volume,
        principal,
        env_path,
        data.name,
        data.size,
        region=volumes.validate_region(data.region),
        host=data.host,
    )


@get("/volumes/{name:str}")
async def describe_volume(
    ctx: DaemonContext,
    principal: Principal,
    name: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(ctx, volumes.describe_volume, principal, env_path, name)


@patch("/volumes/{name:str}")
async def resize_volume(
    ctx: DaemonContext,
    principal: Principal,
    data: VolumeResize,
    name: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(
        ctx,
        volumes.resize_volume,
        principal,
        env_path,
        name,
        data.size,
    )


@delete("/volumes/{name:str}", status_code=200)
async def delete_volume(
    ctx: DaemonContext,
    principal: Principal,
    name: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(ctx, volumes.delete_volume, principal, env_path, name)


@get("/volumes/{name:str}/snapshots")
async def list_snapshots(
    ctx: DaemonContext,
    principal: Principal,
    name: str,
    env_path: str,
) -> dict[str, Any]:
    return await asyncio.to_thread(volumes.list_snapshots, ctx.store, principal, env_path, name)


@post("/volumes/{name:str}/snapshots")
async def create_snapshot(
    ctx: DaemonContext,
    principal: Principal,
    name: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(ctx, volumes.create_snapshot, principal, env_path, name)


@post("/volumes/{name:str}/snapshots/{snapshot:str}/restore")
async def restore_snapshot(
    ctx: DaemonContext,
    principal: Principal,
    data: SnapshotRestore,
    name: str,
    snapshot: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(
        ctx,
        volumes.restore_snapshot,
        principal,
        env_path,
        name,
        snapshot,
        data.as_name,
    )


@delete("/volumes/{name:str}/snapshots/{snapshot:str}", status_code=200)
async def delete_snapshot(
    ctx: DaemonContext,
    principal: Principal,
    name: str,
    snapshot: str,
    env_path: str,
) -> dict[str, Any]:
    return await _on_host(
        ctx,
        volumes.delete_snapshot,
        principal,
        env_path,
        name,
        snapshot,
    )


router = Router(
    path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
    dependencies={"env_path": Provide(provide_env_path, sync_to_thread=False)},
    route_handlers=[
        list_volumes,
        create_volume,
        describe_volume,
        resize_volume,
        delete_volume,
        list_snapshots,
        create_snapshot,
        restore_snapshot,
        delete_snapshot,
    ],
)


async def _on_host(
    ctx: DaemonContext,
    operation: Callable[..., dict[str, Any]],
    principal: Principal,
    env_path: str,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """A volume operation, in a worker thread, with the store, the backend and the known hosts."""
    return await asyncio.to_thread(
        operation, ctx.store, ctx.volumes, _hosts(ctx), principal, env_path, *args, **kwargs
    )
