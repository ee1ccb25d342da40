"""Routes scoped to one env: config, secrets, deploy, releases, rollback, scale, status, events.

Every path starts ``/v1/envs/{org}/{project}/{app}/{env}``; handlers only translate between HTTP
and one ``platd.services`` call.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from litestar import Request, Router, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import Provide

from platd.api.context import DaemonContext
from platd.api.deps import provide_env_path
from platd.auth.tokens import Principal
from platd.services import config, events, releases, status
from platd.spec.errors import Conflict, ImageError, InvalidInput

MAX_BUILD_CONTEXT = 512 * 1024 * 1024
MAX_WAIT = 60.0


class ConfigChange(msgspec.Struct, forbid_unknown_fields=True):
    set: dict[str, str] = {}
    unset: list[str] = []


class BundleWrite(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    values: dict[str, str]


class BundleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    values: dict[str, str]


class DeployRequest(msgspec.Struct, forbid_unknown_fields=True):
    manifest: str
    manifest_file: str = "plat.toml"
    images: dict[str, str] = {}
    source: str | None = None


class RollbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    release: str | None = None
    dry_run: bool = False


class ScaleRequest(msgspec.Struct, forbid_unknown_fields=True):
    workload: str
    count: int | None = None
    min: int | None = None
    max: int | None = None
    cpu: float | None = None
    memory: str | None = None
    reset: bool = False


# --- config and secrets ----------------------------------------------------------------------


@get("/config")
async def get_config(ctx: DaemonContext, principal: Principal, env_path: str) -> dict[str, Any]:
    return await asyncio.to_thread(config.list_config, ctx.store, principal, env_path)


@patch("/config")
async def change_config(
    ctx: DaemonContext, principal: Principal, data: ConfigChange, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.change_config, ctx.store, principal, env_path, data.set, data.unset
    )


@get("/secrets")
async def list_secrets(
    ctx: DaemonContext, principal: Principal, env_path: str
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(config.list_bundles, ctx.store, principal, env_path)


@post("/secrets")
async def create_secret(
    ctx: DaemonContext, principal: Principal, data: BundleWrite, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.write_bundle,
        ctx.store,
        ctx.box,
        principal,
        env_path,
        data.name,
        data.values,
        create=True,
    )


@patch("/secrets/{name:str}")
async def update_secret(
    ctx: DaemonContext, principal: Principal, data: BundleUpdate, name: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.write_bundle,
        ctx.store,
        ctx.box,
        principal,
        env_path,
        name,
        data.values,
        create=False,
    )


@get("/secrets/{name:str}")
async def describe_secret(
    ctx: DaemonContext, principal: Principal, name: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(config.describe_bundle, ctx.store, principal, env_path, name)


@delete("/secrets/{name:str}", status_code=200)
async def delete_secret(
    ctx: DaemonContext, principal: Principal, name: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(config.delete_bundle, ctx.store, principal, env_path, name)


# --- deploy, releases, rollback --------------------------------------------------------------


@post("/deploy")
async def deploy(
    ctx: DaemonContext, principal: Principal, data: DeployRequest, env_path: str
) -> dict[str, Any]:
    path = env_path
    plan = await asyncio.to_thread(
        releases.prepare_deploy,
        ctx.store,
        principal,
        path,
        data.manifest,
        data.images,
        data.manifest_file,
    )
    unique = sorted(set(plan.refs.values()))
    pinned_refs = await asyncio.gather(*(ctx.resolve_image(ref) for ref in unique))
    pinned_by_ref = dict(zip(unique, pinned_refs, strict=True))
    pinned = {workload: pinned_by_ref[ref] for workload, ref in plan.refs.items()}
    source = data.source or ", ".join(unique)
    return await asyncio.to_thread(
        releases.commit_deploy, ctx.store, principal, plan, pinned, source, data.manifest_file
    )


@post("/builds", request_max_body_size=MAX_BUILD_CONTEXT)
async def build(
    ctx: DaemonContext,
    principal: Principal,
    request: Request[object, object, State],
    env_path: str,
    dockerfile: str = "Dockerfile",
) -> dict[str, Any]:
    """Build an image from an uploaded tar of the context; push it; return the pinned ref."""
    path = env_path
    with ctx.store.read() as session:
        from platd.services.tenancy import resolve_env

        ref = resolve_env(session, principal, path)
        principal.require(ref.org.id, "deployer")
    if ctx.build_image is None:
        raise ImageError("this daemon has no image builder", hint="deploy with --image REF")
    body = await request.body()
    if not body:
        raise InvalidInput(
            "the build context is empty", hint="plat deploy --build DIR sends DIR as a tar"
        )
    _org, _project, app, env = path.split("/")
    tag = f"{ctx.settings.registry}/{app}:{env}-{int(time.time())}"
    pinned = await ctx.build_image(body, tag, dockerfile)
    return {"tag": tag, "image": pinned}


@get("/releases")
async def list_releases(ctx: DaemonContext, principal: Principal, env_path: str) -> dict[str, Any]:
    return await asyncio.to_thread(releases.list_releases, ctx.store, principal, env_path)


@get("/releases/{release:str}")
async def describe_release(
    ctx: DaemonContext, principal: Principal, release: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(status.describe_release, ctx.store, principal, env_path, release)


def _immutable(release: str) -> None:
    raise Conflict(
        f"release {release} is immutable: nothing about a release can be changed",
        hint="deploy a new release with plat deploy, or point the env at another one with "
        "plat rollback RELEASE",
    )


@put("/releases/{release:str}")
async def put_release(principal: Principal, release: str) -> None:
    _immutable(release)


@patch("/releases/{release:str}")
async def patch_release(principal: Principal, release: str) -> None:
    _immutable(release)


@delete("/releases/{release:str}", status_code=200)
async def delete_release(principal: Principal, release: str) -> None:
    _immutable(release)


@post("/rollback")
async def rollback(
    ctx: DaemonContext, principal: Principal, data: RollbackRequest, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        releases.rollback,
        ctx.store,
        principal,
        env_path,
        data.release,
        dry_run=data.dry_run,
    )


# --- scale, status, describe, events ---------------------------------------------------------


@post("/scale")
async def scale(
    ctx: DaemonContext, principal: Principal, data: ScaleRequest, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        status.scale,
        ctx.store,
        principal,
        env_path,
        data.workload,
        count=data.count,
        minimum=data.min,
        maximum=data.max,
        cpu=data.cpu,
        memory=data.memory,
        reset=data.reset,
    )


@get("/status")
async def get_status(ctx: DaemonContext, principal: Principal, env_path: str) -> dict[str, Any]:
    return await asyncio.to_thread(status.status, ctx.store, principal, env_path)


@get("/workloads/{name:str}")
async def describe_workload(
    ctx: DaemonContext, principal: Principal, name: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(status.describe_workload, ctx.store, principal, env_path, name)


@get("/instances/{instance:str}")
async def describe_instance(
    ctx: DaemonContext, principal: Principal, instance: str, env_path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(
        status.describe_instance, ctx.store, principal, env_path, instance
    )


@get("/events")
async def list_events(
    ctx: DaemonContext,
    principal: Principal,
    env_path: str,
    after: int | None = None,
    release: str | None = None,
    since: float | None = None,
    limit: int = 200,
    wait: float = 0.0,
) -> dict[str, Any]:
    """Events after the cursor ``after``; with ``wait`` > 0, long-polls until there are some."""
    path = env_path
    if not 1 <= limit <= 5000:
        raise InvalidInput(
            "limit must be between 1 and 5000", hint="pass --limit N with N from 1 to 5000"
        )
    deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    while True:
        result = await asyncio.to_thread(
            events.list_events,
            ctx.store,
            principal,
            path,
            after=after,
            release_id=release,
            since=since,
            limit=limit,
        )
        left = deadline - time.monotonic()
        if result["events"] or after is None or left <= 0 or ctx.feed.closed:
            return result
        await ctx.feed.wait(left)


router = Router(
    path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
    dependencies={"env_path": Provide(provide_env_path, sync_to_thread=False)},
    route_handlers=[
        get_config,
        change_config,
        list_secrets,
        create_secret,
        update_secret,
        describe_secret,
        delete_secret,
        deploy,
        build,
        list_releases,
        describe_release,
        put_release,
        patch_release,
        delete_release,
        rollback,
        scale,
        get_status,
        describe_workload,
        describe_instance,
        list_events,
    ],
)
