"""Routes of the cluster: hosts for users, and the peer API hosts replicate through.

``/v1/hosts*`` take a user's bearer token like every user route. ``/v1/peer/*`` take only a
request signed with the cluster key (``platd.cluster.peer_auth``): a user token is refused
there, and a peer signature opens no user route. ``/v1/peer/join`` is the exception a new host
needs: it proves a join token instead (``platd.secrets.join``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.datastructures import State

from platd import certs
from platd.api.deps import Caller, Cluster, Logs, Svc
from platd.cluster import peer_auth
from platd.cluster.identity import b64
from platd.cluster.node import ClusterNode
from platd.services import hosts
from platd.spec.errors import Conflict, InvalidInput, Unauthenticated

MAX_PAGE = 5000
# How long ``GET .../status?cluster=1`` waits for the cluster line: a stuck Serf agent or a
# slow hosts read leaves the line out instead of holding the status back.
SUMMARY_TIMEOUT = 1.0

log = logging.getLogger("platd.api")


class JoinTokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    ttl_seconds: float = 3600.0


def _node(cluster: ClusterNode | None) -> ClusterNode:
    if cluster is None:
        raise Conflict(
            "this host is not in a cluster",
            hint="make one with: platd init --cluster NAME (on a fresh data dir), "
            "or join one with: platd init --join ADDRESS --token TOKEN",
        )
    return cluster


async def _members_and_lag(cluster: ClusterNode | None) -> tuple[list[Any], dict[str, float]]:
    if cluster is None:
        return [], {}
    members = await cluster.members()
    lag = await asyncio.to_thread(cluster.replicator.lag)
    return members, lag


@get("/hosts")
async def list_hosts(svc: Svc, cluster: Cluster,
                     principal: Caller) -> dict[str, Any]:
    members, lag = await _members_and_lag(cluster)
    answer = await asyncio.to_thread(hosts.list_hosts, svc, principal, members, lag)
    answer["cluster"] = cluster.identity.name if cluster is not None else None
    return answer


async def summary(svc: Svc, cluster: Cluster, principal: Caller) -> dict[str, Any] | None:
    """The cluster line of ``plat status``: hosts alive of total, the ones that are not
    (``down``: name and state), this host's lag; None on a host of its own. ``GET .../status``
    carries it when asked (``?cluster=1``, through ``summary_or_none``), so the command makes
    one request."""
    if cluster is None:
        return None
    members, lag = await _members_and_lag(cluster)
    answer = await asyncio.to_thread(hosts.list_hosts, svc, principal, members, lag)
    return {"cluster": cluster.identity.name, "alive": answer["alive"],
            "total": answer["total"], "lag_seconds": answer["lag_seconds"],
            "last_sync": cluster.replicator.last_sync,
            "down": [{"name": h["name"], "state": h["state"]} for h in answer["hosts"]
                     if h["state"] != "alive"]}


async def summary_or_none(svc: Svc, cluster: Cluster,
                          principal: Caller) -> dict[str, Any] | None:
    """``summary`` within ``SUMMARY_TIMEOUT`` for the status answer; None (the line left out,
    as a host of its own shows it) when it fails or takes longer, with a log line that says
    why: the status is what was asked for, the cluster line only rides along."""
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT):
            return await summary(svc, cluster, principal)
    except TimeoutError:
        log.warning("status: the cluster line left out: gossip and the hosts did not answer "
                    "within %g s", SUMMARY_TIMEOUT)
    except Exception as error:  # whatever it is, the status still answers
        log.warning("status: the cluster line left out: %r", error)
    return None


@get("/cluster")
async def cluster_summary(svc: Svc, cluster: Cluster,
                          principal: Caller) -> dict[str, Any]:
    """``summary``, for the callers that ask for it alone (and a ``plat status`` older than
    the ``cluster`` field of ``GET .../status``); ``{"cluster": null}`` on a host of its own."""
    return await summary(svc, cluster, principal) or {"cluster": None}


@get("/hosts/{host:str}")
async def describe_host(svc: Svc, cluster: Cluster, principal: Caller,
                        host: str) -> dict[str, Any]:
    members, lag = await _members_and_lag(cluster)
    return await asyncio.to_thread(hosts.describe_host, svc, principal, host, members, lag)


@delete("/hosts/{host:str}", status_code=200)
async def remove_host(svc: Svc, cluster: Cluster, principal: Caller,
                      host: str) -> dict[str, Any]:
    node = _node(cluster)
    members = await node.members()
    answer = await asyncio.to_thread(hosts.remove_host, svc, principal, host, members)
    await node.gossip.force_leave(answer["removed"])
    return answer


@post("/hosts/{host:str}/{action:str}", status_code=200)
async def host_schedule(svc: Svc, cluster: Cluster, principal: Caller, host: str,
                        action: str) -> dict[str, Any]:
    """``cordon`` (no new instances), ``uncordon``, ``drain`` (cordon and move them off)."""
    _node(cluster)
    return await asyncio.to_thread(hosts.set_schedule, svc, principal, host, action)


@post("/hosts/join-tokens")
async def create_join_token(svc: Svc, cluster: Cluster, principal: Caller,
                            data: JoinTokenCreate) -> dict[str, Any]:
    node = _node(cluster)
    answer = await asyncio.to_thread(hosts.create_join_token, svc, principal,
                                     data.ttl_seconds)
    answer["join"] = f"platd init --join {node.settings.api_url} --token {answer['token']}"
    return answer


async def _verify_peer(request: Request[object, object, State], cluster: Cluster) -> str:
    node = _node(cluster)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    return peer_auth.verify(node.identity.key, request.headers.get("authorization"),
                            request.method, target, body)


@get("/peer/high-water", exclude_from_auth=True)
async def peer_high_water(request: Request[object, object, State], svc: Svc,
                          cluster: Cluster) -> dict[str, Any]:
    peer = await _verify_peer(request, cluster)
    # A peer gossip calls failed reached us: the cut is gone, pull from it now (both ways).
    _node(cluster).replicator.asked_by(peer)
    return {"host": svc.store.host_id, "marks": await asyncio.to_thread(svc.store.high_water)}


@get("/peer/rows", exclude_from_auth=True)
async def peer_rows(request: Request[object, object, State], svc: Svc,
                    cluster: Cluster, origin: str, since: int = 0,
                    limit: int = 1000) -> dict[str, Any]:
    await _verify_peer(request, cluster)
    if not 1 <= limit <= MAX_PAGE or since < 0 or since >= 2**63 or len(origin) > 64:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, since a stamp >= 0, origin a host id")
    rows = await asyncio.to_thread(svc.store.rows_since, origin, since, limit)
    return {"rows": rows}


@get("/peer/logs", exclude_from_auth=True)
async def peer_logs(request: Request[object, object, State], logs: Logs, cluster: Cluster,
                    target: str, workload: str | None = None, instance: str | None = None,
                    source: str = "all", severity: str | None = None, since: str | None = None,
                    until: str | None = None, limit: int = 100, after: int | None = None,
                    wait: float = 0.0) -> dict[str, Any]:
    """This host's log lines of an env, for the host a user asked (``plat logs``; with
    ``after`` and ``wait``, a step of ``plat logs --follow``, long-polled)."""
    await _verify_peer(request, cluster)
    if after is not None and not 0 <= after < 2**63:
        raise InvalidInput("after must be a cursor (a whole number >= 0)")
    from platd.api.logs import peer_page

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return await peer_page(logs, target, {
        "workload": workload, "instance": instance, "source": source, "severity": severity,
        "since": since, "until": until, "limit": limit, "after": after},
        wait=min(max(wait, 0.0), 60.0), gone=gone)


class PeerVolume(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    name: str
    size: str | int
    actor: str
    region: str | None = None


@post("/peer/volumes", exclude_from_auth=True)
async def peer_volume(request: Request[object, object, State], svc: Svc,
                      cluster: Cluster) -> dict[str, Any]:
    """Make a volume on this host for the host a user asked (``plat volumes create --host``):
    that host checked the user's token and role and placed the volume here."""
    await _verify_peer(request, cluster)
    try:
        body = msgspec.json.decode(await request.body(), type=PeerVolume)
    except msgspec.DecodeError as e:
        raise InvalidInput(f"the volume request is not what a peer sends: {e}") from None
    if len(body.target) > 400 or len(body.actor) > 200 or len(body.name) > 200:
        raise InvalidInput("the volume request's target, name or actor is too long")
    from platd.auth.tokens import Principal
    from platd.services import volumes

    # The actor is who the events name; the right to create was checked by the asking host.
    peer = Principal(token_id="peer", name=body.actor, org_id=None, org_name=None,
                     role="owner")
    answer: dict[str, Any] = await asyncio.to_thread(
        volumes.create_volume, svc, peer, body.target, body.name, body.size,
        region=body.region, host=svc.host.id)
    return answer


@post("/peer/join", exclude_from_auth=True)
async def peer_join(request: Request[object, object, State], svc: Svc,
                    cluster: Cluster) -> dict[str, Any]:
    node = _node(cluster)
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
        "secret_key": b64(node.secret_key),
        "gossip_keyring": list(node.identity.gossip_keyring),
    }
    ca = certs.ca_pem(node.data)
    if ca is not None:  # the cluster CA, key too: every member issues its own certificate
        keys["ca_cert"], keys["ca_key"] = ca, certs.ca_key_pem(node.data)
    return await asyncio.to_thread(hosts.accept_join, svc, body, keys)


router = Router(path="/v1", route_handlers=[
    cluster_summary, list_hosts, describe_host, remove_host, create_join_token, host_schedule,
    peer_high_water, peer_rows, peer_join, peer_logs, peer_volume,
])
