"""Routes of the cluster: hosts for users, and the peer API hosts replicate through.

``/v1/hosts*`` take a user's bearer token like every user route. ``/v1/peer/*`` take only a
request signed with the cluster key (``platd.cluster.peer_auth``): a user token is refused
there, and a peer signature opens no user route. ``/v1/peer/join`` is the exception a new host
needs: it proves a join token instead (``platd.cluster.join``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.datastructures import State

from platd.api.context import DaemonContext
from platd.auth.tokens import Principal
from platd.cluster import peer_auth
from platd.cluster.identity import b64
from platd.services import hosts
from platd.spec.errors import Conflict, InvalidInput, Unauthenticated

MAX_PAGE = 5000


class JoinTokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    ttl_seconds: float = 3600.0


def _node(ctx: DaemonContext) -> Any:
    if ctx.cluster is None:
        raise Conflict(
            "this host is not in a cluster",
            hint="make one with: platd init --cluster NAME (on a fresh data dir), "
            "or join one with: platd init --join ADDRESS --token TOKEN",
        )
    return ctx.cluster


async def _members_and_lag(ctx: DaemonContext) -> tuple[list[Any], dict[str, float]]:
    if ctx.cluster is None:
        return [], {}
    members = await ctx.cluster.members()
    lag = await asyncio.to_thread(ctx.cluster.replicator.lag)
    return members, lag


@get("/hosts")
async def list_hosts(ctx: DaemonContext, principal: Principal) -> dict[str, Any]:
    members, lag = await _members_and_lag(ctx)
    answer = await asyncio.to_thread(hosts.list_hosts, ctx.store, principal, members, lag)
    answer["cluster"] = ctx.cluster.identity.name if ctx.cluster is not None else None
    return answer


@get("/cluster")
async def cluster_summary(ctx: DaemonContext, principal: Principal) -> dict[str, Any]:
    """The cluster line of ``plat status``: hosts alive of total, this host's lag."""
    if ctx.cluster is None:
        return {"cluster": None}
    members, lag = await _members_and_lag(ctx)
    answer = await asyncio.to_thread(hosts.list_hosts, ctx.store, principal, members, lag)
    return {"cluster": ctx.cluster.identity.name, "alive": answer["alive"],
            "total": answer["total"], "lag_seconds": answer["lag_seconds"],
            "last_sync": ctx.cluster.replicator.last_sync}


@get("/hosts/{host:str}")
async def describe_host(ctx: DaemonContext, principal: Principal, host: str) -> dict[str, Any]:
    members, lag = await _members_and_lag(ctx)
    return await asyncio.to_thread(hosts.describe_host, ctx.store, principal, host, members, lag)


@delete("/hosts/{host:str}", status_code=200)
async def remove_host(ctx: DaemonContext, principal: Principal, host: str) -> dict[str, Any]:
    node = _node(ctx)
    members = await node.members()
    answer = await asyncio.to_thread(hosts.remove_host, ctx.store, principal, host, members)
    await node.gossip.force_leave(answer["removed"])
    return answer


@post("/hosts/join-tokens")
async def create_join_token(ctx: DaemonContext, principal: Principal,
                            data: JoinTokenCreate) -> dict[str, Any]:
    node = _node(ctx)
    answer = await asyncio.to_thread(hosts.create_join_token, ctx.store, ctx.box, principal,
                                     data.ttl_seconds)
    answer["join"] = f"platd init --join {node.settings.api_url} --token {answer['token']}"
    return answer


async def _verify_peer(request: Request[object, object, State], ctx: DaemonContext) -> str:
    node = _node(ctx)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    return peer_auth.verify(node.identity.key, request.headers.get("authorization"),
                            request.method, target, body)


@get("/peer/high-water", exclude_from_auth=True)
async def peer_high_water(request: Request[object, object, State],
                          ctx: DaemonContext) -> dict[str, Any]:
    await _verify_peer(request, ctx)
    return {"host": ctx.store.host_id, "marks": await asyncio.to_thread(ctx.store.high_water)}


@get("/peer/rows", exclude_from_auth=True)
async def peer_rows(request: Request[object, object, State], ctx: DaemonContext, origin: str,
                    since: int = 0, limit: int = 1000) -> dict[str, Any]:
    await _verify_peer(request, ctx)
    if not 1 <= limit <= MAX_PAGE or since < 0 or since >= 2**63 or len(origin) > 64:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, since a stamp >= 0, origin a host id")
    rows = await asyncio.to_thread(ctx.store.rows_since, origin, since, limit)
    return {"rows": rows}


@post("/peer/join", exclude_from_auth=True)
async def peer_join(request: Request[object, object, State], ctx: DaemonContext) -> dict[str, Any]:
    node = _node(ctx)
    if request.headers.get("authorization"):
        raise Unauthenticated("a join proves a join token; send no Authorization header")
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        raise InvalidInput("the join request is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the join request must be a JSON object")
    keys = {
        "cluster": {"id": node.identity.id, "name": node.identity.name},
        "cluster_key": b64(node.identity.key),
        "secret_key": b64(ctx.data.key_file.read_bytes()),
        "gossip_keyring": list(node.identity.gossip_keyring),
    }
    return await asyncio.to_thread(hosts.accept_join, ctx.store, ctx.box, body, keys)


router = Router(path="/v1", route_handlers=[
    cluster_summary, list_hosts, describe_host, remove_host, create_join_token,
    peer_high_water, peer_rows, peer_join,
])
