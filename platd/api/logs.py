"""``GET /v1/envs/{org}/{project}/{app}/{env}/logs``: history pages and long-polled follow.

The paging and follow rules are ``platd.services.logs``; this route only reads the query and
tells the service when the client hangs up, so a follower that went away (Ctrl-C) does not
hold its long poll, and with it a daemon shutdown, until the wait runs out.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get

from platd.api.deps import Caller, Logs, target
from platd.logs.service import LogParams
from platd.services.logs import read_logs as read


@get("/logs")
async def read_logs(
    logs: Logs, principal: Caller, request: Request[Any, Any, Any], org: str,
    project: str, app: str, env: str,
    workload: str | None = None, instance: str | None = None, source: str = "all",
    severity: str | None = None, since: str | None = None, until: str | None = None,
    limit: int = 100, after: int | None = None, before: str | None = None, wait: float = 0.0,
) -> dict[str, Any]:
    """App and system log lines of the env; filters narrow, ``after``/``wait`` follow."""
    params = LogParams(workload=workload, instance=instance, source=source, severity=severity,
                       since=since, until=until, limit=limit, after=after, before=before)

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return await read(logs, principal, target(org, project, app, env), params, wait=wait,
                      gone=gone)


router = Router(path="/v1/envs/{org:str}/{project:str}/{app:str}/{env:str}",
                route_handlers=[read_logs])
