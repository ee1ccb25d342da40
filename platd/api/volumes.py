"""Routes for an env's volumes: ``/v1/envs/{org}/{project}/{app}/{env}/volumes...``.

Handlers translate HTTP to one call of ``platd.services.volumes`` (create, resize, delete),
``volumes_read`` (list, describe) or ``volume_snapshots`` in a worker thread: volume
operations run commands on the host (mkfs, fsfreeze, cp), which may take seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Router, delete, get, patch, post
from litestar.di import Provide

from platd.api.deps import Caller, Cluster, EnvPath, Svc, provide_env_path
from platd.services import volume_snapshots, volumes, volumes_read


class VolumeCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    size: str | int
    region: str | None = None
    host: str | None = None


class VolumeResize(msgspec.Struct, forbid_unknown_fields=True):
    size: str | int


class SnapshotRestore(msgspec.Struct, forbid_unknown_fields=True):
    as_name: str | None = None


@get("/volumes")
async def list_volumes(
    svc: Svc,
    principal: Caller,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(volumes_read.list_volumes, svc, principal, env_path)


@post("/volumes")
async def create_volume(
    svc: Svc,
    principal: Caller,
    data: VolumeCreate,
    env_path: EnvPath,
    cluster: Cluster,
) -> dict[str, Any]:
    """On a cluster a volume placed on another host is made there (the request is relayed)."""
    try:
        return await asyncio.to_thread(
            volumes.create_volume,
            svc,
            principal,
            env_path,
            data.name,
            data.size,
            region=data.region,
            host=data.host,
        )
    except volumes.OnAnotherHost as elsewhere:
        if cluster is None:
            raise
        from platd.cluster.volume_relay import create_elsewhere

        answer: dict[str, Any] = await create_elsewhere(cluster, elsewhere.host, {
            "target": env_path, "name": data.name, "size": data.size,
            "region": data.region, "actor": principal.name})
        return answer


@get("/volumes/{name:str}")
async def describe_volume(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(volumes_read.describe_volume, svc, principal, env_path, name)


@patch("/volumes/{name:str}")
async def resize_volume(
    svc: Svc,
    principal: Caller,
    data: VolumeResize,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(
        volumes.resize_volume,
        svc,
        principal,
        env_path,
        name,
        data.size,
    )


@delete("/volumes/{name:str}", status_code=200)
async def delete_volume(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(volumes.delete_volume, svc, principal, env_path, name)


@get("/volumes/{name:str}/snapshots")
async def list_snapshots(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(volumes_read.list_snapshots, svc, principal, env_path, name)


@post("/volumes/{name:str}/snapshots")
async def create_snapshot(
    svc: Svc,
    principal: Caller,
    name: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(volume_snapshots.create_snapshot, svc, principal, env_path, name)


@post("/volumes/{name:str}/snapshots/{snapshot:str}/restore")
async def restore_snapshot(
    svc: Svc,
    principal: Caller,
    data: SnapshotRestore,
    name: str,
    snapshot: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(
        volume_snapshots.restore_snapshot,
        svc,
        principal,
        env_path,
        name,
        snapshot,
        data.as_name,
    )


@delete("/volumes/{name:str}/snapshots/{snapshot:str}", status_code=200)
async def delete_snapshot(
    svc: Svc,
    principal: Caller,
    name: str,
    snapshot: str,
    env_path: EnvPath,
) -> dict[str, Any]:
    return await asyncio.to_thread(
        volume_snapshots.delete_snapshot,
        svc,
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

