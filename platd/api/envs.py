"""Routes scoped to one env: config, secrets, deploy, releases, rollback, scale, status, events.

Every path starts ``/v1/envs/{org}/{project}/{app}/{env}``; each handler translates between
HTTP and one ``platd.services`` call, which decides every refusal.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import HeaderParameter, Parameter

from platd.api import cluster as cluster_api
from platd.api.deps import Caller, Cluster, EnvPath, Svc, provide_env_path
from platd.services import builds, config, events, releases, releases_read, status
from platd.services import rollback as rollback_service
from platd.spec.errors import InvalidInput
from platd.spec.input_limits import (
    MAX_BUILD_CONTEXT,
    MAX_CURSOR,
    MAX_QUERY_TEXT,
    MAX_QUERY_WAIT,
    MAX_UNIX_TIME,
)
from platd.spec.runtime_rules import build_path_problem


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
    force: bool = False  # a new release even when nothing changed (a restart)


class RollbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    release: str | None = None
    dry_run: bool = False
    # A release whose last rollout failed (or that degraded) is rolled back to only when asked.
    accept_failed: bool = False


class ScaleRequest(msgspec.Struct, forbid_unknown_fields=True):
    workload: str
    count: int | None = None
    min: int | None = None
    max: int | None = None
    cpu: float | None = None
    memory: str | None = None
    reset: bool = False
    # {"region": "eu-west", "labels": {"disk": "ssd"}}; {} goes back to plat.toml's placement
    placement: dict[str, Any] | None = None


# --- config and secrets ----------------------------------------------------------------------


@get("/config")
async def get_config(svc: Svc, principal: Caller, env_path: EnvPath) -> dict[str, Any]:
    return await asyncio.to_thread(config.list_config, svc, principal, env_path)


@patch("/config")
async def change_config(
    svc: Svc, principal: Caller, data: ConfigChange, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.change_config, svc, principal, env_path, data.set, data.unset
    )


@get("/secrets")
async def list_secrets(
    svc: Svc, principal: Caller, env_path: EnvPath
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(config.list_bundles, svc, principal, env_path)


@post("/secrets")
async def create_secret(
    svc: Svc, principal: Caller, data: BundleWrite, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.write_bundle,
        svc,
        principal,
        env_path,
        data.name,
        data.values,
        create=True,
    )


@patch("/secrets/{name:str}")
async def update_secret(
    svc: Svc, principal: Caller, data: BundleUpdate, name: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        config.write_bundle,
        svc,
        principal,
        env_path,
        name,
        data.values,
        create=False,
    )


@get("/secrets/{name:str}")
async def describe_secret(
    svc: Svc, principal: Caller, name: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(config.describe_bundle, svc, principal, env_path, name)


@delete("/secrets/{name:str}", status_code=200)
async def delete_secret(
    svc: Svc, principal: Caller, name: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(config.delete_bundle, svc, principal, env_path, name)


# --- deploy, releases, rollback --------------------------------------------------------------


IfMatch = Annotated[str | None, HeaderParameter(
    name="If-Match", required=False, max_length=200,
    description='The release id the deploy expects to replace ("none": no release yet); '
    "another one current answers 412 (code superseded) and nothing is written.")]


@post("/deploy")
async def deploy(
    svc: Svc, principal: Caller, data: DeployRequest, env_path: EnvPath,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    return await releases.deploy(
        svc, principal, env_path, data.manifest, images=data.images,
        manifest_file=data.manifest_file, source=data.source, expected=if_match,
        force=data.force,
    )


@post("/builds", request_max_body_size=MAX_BUILD_CONTEXT, opt={"raw_body": True})
async def build(
    svc: Svc,
    principal: Caller,
    request: Request[object, object, State],
    env_path: EnvPath,
    dockerfile: Annotated[str, Parameter(min_length=1, max_length=1024)] = "Dockerfile",
) -> dict[str, Any]:
    """Build an image from an uploaded tar of the context; push it; return the pinned ref."""
    problem = build_path_problem(dockerfile, "dockerfile", "the build context")
    if problem:
        raise InvalidInput(f"dockerfile: {problem}")
    return await builds.build(svc, principal, env_path, request.body, dockerfile)


@get("/releases")
async def list_releases(svc: Svc, principal: Caller, env_path: EnvPath) -> dict[str, Any]:
    return await asyncio.to_thread(releases_read.list_releases, svc, principal, env_path)


@get("/releases/{release:str}")
async def describe_release(
    svc: Svc, principal: Caller, release: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(status.describe_release, svc, principal, env_path, release)


@put("/releases/{release:str}")
async def put_release(principal: Caller, release: str) -> None:
    releases.refuse_change(release)


@patch("/releases/{release:str}")
async def patch_release(principal: Caller, release: str) -> None:
    releases.refuse_change(release)


@delete("/releases/{release:str}", status_code=200)
async def delete_release(principal: Caller, release: str) -> None:
    releases.refuse_change(release)


@post("/rollback")
async def rollback(
    svc: Svc, principal: Caller, data: RollbackRequest, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        rollback_service.rollback,
        svc,
        principal,
        env_path,
        data.release,
        dry_run=data.dry_run,
        accept_failed=data.accept_failed,
    )


# --- scale, status, describe, events ---------------------------------------------------------


@post("/scale")
async def scale(
    svc: Svc, principal: Caller, data: ScaleRequest, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        status.scale,
        svc,
        principal,
        env_path,
        data.workload,
        count=data.count,
        minimum=data.min,
        maximum=data.max,
        cpu=data.cpu,
        memory=data.memory,
        reset=data.reset,
        placement_rule=data.placement,
    )


@get("/status")
async def get_status(
    svc: Svc, principal: Caller, env_path: EnvPath, cluster: Cluster,
    with_cluster: Annotated[bool, Parameter(
        query="cluster", description="also the cluster line (`cluster`): hosts alive of "
        "total, the ones down, this host's lag; null on a host of its own, or when gossip "
        "does not answer within a second")] = False,
) -> dict[str, Any]:
    """The env's status with its endpoints; with ``?cluster=1`` the cluster line too: all that
    ``plat status`` shows, in one request. Only asked for: the TUI polls the status every
    second and has no use for gossip's view."""
    answer = await asyncio.to_thread(status.status_answer, svc, principal, env_path)
    if with_cluster:
        answer["cluster"] = await cluster_api.summary_or_none(svc, cluster, principal)
    return answer


@get("/workloads/{name:str}")
async def describe_workload(
    svc: Svc, principal: Caller, name: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(status.describe_workload, svc, principal, env_path, name)


@get("/instances/{instance:str}")
async def describe_instance(
    svc: Svc, principal: Caller, instance: str, env_path: EnvPath
) -> dict[str, Any]:
    return await asyncio.to_thread(
        status.describe_instance, svc, principal, env_path, instance
    )


@get("/events")
async def list_events(
    svc: Svc,
    principal: Caller,
    env_path: EnvPath,
    after: Annotated[int | None, Parameter(ge=0, le=MAX_CURSOR)] = None,
    release: Annotated[str | None, Parameter(max_length=MAX_QUERY_TEXT)] = None,
    since: Annotated[float | None, Parameter(ge=0, le=MAX_UNIX_TIME)] = None,
    limit: Annotated[int, Parameter(ge=1, le=events.MAX_LIMIT)] = 200,
    wait: Annotated[float, Parameter(ge=0, le=MAX_QUERY_WAIT)] = 0.0,
) -> dict[str, Any]:
    """Events after the cursor ``after``; with ``wait`` > 0, long-polls until there are some
    (at most 60 s per request; a longer wait is cut to that)."""
    return await events.follow_events(
        svc, principal, env_path, after=after, release_id=release, since=since, limit=limit,
        wait=wait,
    )


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
