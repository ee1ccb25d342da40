"""``GET /v1/envs/{org}/{project}/{app}/{env}/logs``: history pages and long-polled follow.

The paging and follow rules are ``platd.services.logs``; this route only reads the query and
tells the service when the client hangs up, so a follower that went away (Ctrl-C) does not
hold its long poll, and with it a daemon shutdown, until the wait runs out.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypeAlias

from litestar import Request, Router, get
from litestar.params import Parameter

from platd.api.deps import Caller, Cluster, Logs, target
from platd.logs.service import MAX_LIMIT, LogParams
from platd.services.logs import read_logs as read
from platd.services.logs import readable_env
from platd.spec.errors import InvalidInput
from platd.spec.input_limits import (
    MAX_CLUSTER_CURSOR,
    MAX_CURSOR,
    MAX_QUERY_TEXT,
    MAX_QUERY_WAIT,
)

# A filter or cursor as text: short, whatever it says (the service reads and checks it).
Text: TypeAlias = Annotated[str | None, Parameter(max_length=MAX_QUERY_TEXT)]


@get("/logs")
async def read_logs(
    logs: Logs, principal: Caller, cluster: Cluster, request: Request[Any, Any, Any], org: str,
    project: str, app: str, env: str,
    workload: Text = None, instance: Text = None, source: Annotated[str, Parameter(
        max_length=MAX_QUERY_TEXT)] = "all",
    severity: Text = None, since: Text = None, until: Text = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 100,
    after: Annotated[int | None, Parameter(ge=0, le=MAX_CURSOR)] = None, before: Text = None,
    wait: Annotated[float, Parameter(ge=0, le=MAX_QUERY_WAIT)] = 0.0,
    local: bool = False,
    cursors: Annotated[str | None, Parameter(max_length=MAX_CLUSTER_CURSOR)] = None,
) -> dict[str, Any]:
    """App and system log lines of the env; filters narrow, ``after``/``wait`` follow.

    On a cluster, a history page (no ``after``, no ``before``) holds every host's lines, each
    with its host, merged in time order (``local`` = this host's only), and ``cursors``, from
    which ``cursors``/``wait`` follow every host at once (``platd.cluster.logs_follow``)."""
    params = LogParams(workload=workload, instance=instance, source=source, severity=severity,
                       since=since, until=until, limit=limit, after=after, before=before)

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    env_path = target(org, project, app, env)
    if cursors is not None:
        if cluster is None or local or after is not None or before is not None:
            raise InvalidInput("cursors follows every host of a cluster: not with after, "
                               "before or local, and only on a cluster member",
                               hint="follow this host's lines with after=CURSOR")
        return await _follow_cluster(logs, principal, cluster, env_path, params, cursors,
                                     wait, gone)
    if cluster is None or local or after is not None or before is not None:
        return await read(logs, principal, env_path, params, wait=wait, gone=gone)
    # The caller's right to read the env is checked here; peers trust the cluster key.
    await asyncio.to_thread(readable_env, logs.state, principal, env_path)
    from platd.cluster.logs_relay import gather

    query = {"target": env_path, "workload": workload, "instance": instance,
             "source": source, "severity": severity, "since": since, "until": until,
             "limit": limit}
    local_page = await _local_or_empty(logs, principal, env_path, params)
    return await gather(cluster.transport, cluster.store, local_page, query,
                        cluster.membership.alive_ids(), limit)


async def _follow_cluster(logs: Any, principal: Any, cluster: Any, env_path: str,
                          params: LogParams, text: str, wait: float, gone: Any
                          ) -> dict[str, Any]:
    import dataclasses

    from platd.cluster.logs_follow import step
    from platd.spec import log_cursors

    cursors = log_cursors.parse(text)
    await asyncio.to_thread(readable_env, logs.state, principal, env_path)

    async def here(after: int | None, w: float) -> dict[str, Any]:
        return await _local_or_empty(logs, principal, env_path,
                                     dataclasses.replace(params, after=after), w, gone)

    query = {"target": env_path, "workload": params.workload, "instance": params.instance,
             "source": params.source, "severity": params.severity, "since": params.since,
             "limit": params.limit}
    answer = await step(cluster.transport, cluster.store, here, query, cursors,
                        cluster.membership.alive_ids(), wait)
    return {"target": env_path, **answer}


async def _local_or_empty(logs: Any, principal: Any, env_path: str,
                          params: LogParams, wait: float = 0.0, gone: Any = None
                          ) -> dict[str, Any]:
    """This host's page; empty (not an error) when the instance or workload asked for has no
    lines here because it runs on another host."""
    from platd.spec.errors import NotFound

    try:
        return await read(logs, principal, env_path, params, wait=wait, gone=gone)
    except NotFound:
        if params.workload is None and params.instance is None:
            raise
        if wait > 0:  # a follow step: nothing here now, so hold it as an empty one would
            await asyncio.sleep(min(wait, 5.0))
        return {"target": env_path, "lines": [], "cursor": params.after or 0, "more": False,
                "before": None}


router = Router(path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
                route_handlers=[read_logs])


async def peer_page(logs: Any, env_path: str, query: dict[str, Any], *, wait: float = 0.0,
                    gone: Any = None) -> dict[str, Any]:
    """A peer's request for this host's lines of an env (``/v1/peer/logs``)."""
    from platd.auth.tokens import Principal

    peer = Principal(token_id="peer", name="peer", org_id=None, org_name=None, role="owner")
    params = LogParams(**{k: v for k, v in query.items() if k in LogParams.__dataclass_fields__})
    return await _local_or_empty(logs, peer, env_path, params, wait, gone)
