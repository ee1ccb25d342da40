"""``GET /v1/envs/{org}/{project}/{app}/{env}/logs``: history pages and long-polled follow.

The paging and follow rules are ``platd.services.logs``; this route only reads the query and
tells the service when the client hangs up, so a follower that went away (Ctrl-C) does not
hold its long poll, and with it a daemon shutdown, until the wait runs out.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import Request, Router, get
from litestar.params import Parameter

from platd.api.deps import Caller, Logs, target
from platd.logs.service import MAX_LIMIT, LogParams
from platd.services.logs import read_logs as read
from platd.spec.input_limits import MAX_CURSOR, MAX_QUERY_TEXT, MAX_QUERY_WAIT

# A filter or cursor as text: short, whatever it says (the service reads and checks it).
Text: TypeAlias = Annotated[str | None, Parameter(max_length=MAX_QUERY_TEXT)]


@get("/logs")
async def read_logs(
    logs: Logs, principal: Caller, request: Request[Any, Any, Any], org: str,
    project: str, app: str, env: str,
    workload: Text = None, instance: Text = None, source: Annotated[str, Parameter(
        max_length=MAX_QUERY_TEXT)] = "all",
    severity: Text = None, since: Text = None, until: Text = None,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 100,
    after: Annotated[int | None, Parameter(ge=0, le=MAX_CURSOR)] = None, before: Text = None,
    wait: Annotated[float, Parameter(ge=0, le=MAX_QUERY_WAIT)] = 0.0,
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
