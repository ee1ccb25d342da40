"""``plat volumes create --host/--region`` for a volume that goes on another host.

A volume is a file system on one host's disk, so the host chosen makes it. The host the user
asked checked the token, the role and the name, and placed the volume; it then sends the
request to the chosen host's peer route (``POST /v1/peer/volumes``, signed with the cluster key
like every peer request, naming the user for the events) and hands back its answer, or its
error as it came. The new row replicates to every host. If the env has not reached that host
yet (replication takes a moment after a new env), the request is tried again for a few seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from platd.cluster import peer_auth
from platd.spec.errors import Conflict, NotFound, PlatError, from_wire
from platd.spec.volumes import HostInfo
from platd.store.models import Host

TIMEOUT = 600.0  # making a file system of some gigabytes takes a while
REPLICATION_WAIT = 5.0


async def create_elsewhere(cluster: Any, host: HostInfo, request: dict[str, Any]) -> Any:
    """The chosen host's answer to creating the volume ``request`` describes."""
    with cluster.store.read() as session:
        row = session.get(Host, host.id)
    if row is None or not row.api:
        raise Conflict(f"the volume goes on host {host.name}, whose address this host does "
                       "not know", hint="see the hosts with: plat hosts")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLICATION_WAIT
    while True:
        try:
            return await _post(cluster, row.api, host.name, request)
        except NotFound:
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.25)


async def _post(cluster: Any, api: str, name: str, request: dict[str, Any]) -> Any:
    import aiohttp
    import yarl

    target = "/v1/peer/volumes"
    body = json.dumps(request).encode()
    headers = {"Authorization": peer_auth.sign(cluster.identity.key, cluster.host_id, "POST",
                                               target, body),
               "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=TIMEOUT, sock_connect=10.0)) as http:
            url = yarl.URL(api.rstrip("/") + target, encoded=True)
            # Peers trust only the cluster's CA (TLS beyond loopback).
            async with http.post(url, data=body, headers=headers,
                                 ssl=getattr(cluster, "ssl_context", None) or True) as r:
                raw = await r.read()
                status = r.status
    except (aiohttp.ClientError, OSError, TimeoutError) as e:
        raise Conflict(f"the volume goes on host {name}, which cannot be reached now "
                       f"({e or type(e).__name__}); nothing was created",
                       hint=["see the hosts with: plat hosts",
                             "or place it on a live host: --host NAME or --region R"]) from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise PlatError(f"host {name} answered HTTP {status} with no JSON") from None
    if status >= 300:
        raise from_wire(answer, status)
    return answer
