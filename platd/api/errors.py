"""The one place where errors become HTTP responses.

A ``PlatError`` keeps its class's status and wire body; Litestar's own errors (unknown route,
wrong method, body too large, a body of the wrong shape) are translated into the same wire form so
every client sees one error format; anything else is a 500 whose details stay in the daemon log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from platd.spec.errors import InvalidInput, NotFound, PlatError

log = logging.getLogger("platd.api")

# msgspec says "Expected `int` >= 1"; a user reads "limit must be at least 1".
_BOUND_RE = re.compile(r"^Expected `[^`]+` (>=|<=|>|<) (\S+)$")
_BOUND_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_LENGTH_RE = re.compile(r"^Expected `str` of length (>=|<=) (\d+)$")


def _problem(entry: dict[str, Any]) -> str:
    key, message = entry.get("key") or "body", str(entry.get("message"))
    bound = _BOUND_RE.match(message)
    if bound:
        return f"{key} must be {_BOUND_WORDS[bound.group(1)]} {bound.group(2)}"
    length = _LENGTH_RE.match(message)
    if length:
        return (f"{key} must be {_BOUND_WORDS[length.group(1)]} {length.group(2)} "
                "characters long")
    if message == "Number out of range":
        return f"{key} must be a finite number in range"
    return f"{key}: {message}"


def plat_error(_request: Request[Any, Any, Any], exc: PlatError) -> Response[object]:
    return Response(content=exc.to_wire(), status_code=exc.http_status)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[object]:
    status = exc.status_code
    if isinstance(exc, ValidationException) or status == 400:
        extra = exc.extra if isinstance(exc.extra, list) else []
        problems = "; ".join(_problem(e) for e in extra if isinstance(e, dict))
        if not problems and "Number out of range" in str(exc.detail):
            problems = "a number in the body is out of range (not a finite 64-bit number)"
        err: PlatError = InvalidInput(
            f"the request is not valid: {problems or exc.detail}",
            hint="the OpenAPI document at /v1/openapi.json gives the shape and the limits of "
            "every request",
            details={"problems": extra},
        )
    elif status == 404:
        err = NotFound(f"no API route {request.method} {request.url.path}",
                       hint="the routes are listed in the OpenAPI document at /v1/openapi.json")
    elif status == 413:
        err = InvalidInput("the request body is too large",
                           hint="keep manifests and config under the documented limits")
    else:
        wire = PlatError(exc.detail)
        if status == 405 and exc.headers and exc.headers.get("allow"):
            wire.hint = [f"this route answers {exc.headers['allow']}"]
        return Response(
            content={"error": {**wire.to_wire()["error"], "code": f"http_{status}"}},
            status_code=status,
            headers=exc.headers,  # 405 names the methods the route has in Allow (RFC 9110)
        )
    return Response(content=err.to_wire(), status_code=err.http_status)


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[object]:
    log.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    err = PlatError(
        "platd hit an unexpected error while handling this request",
        hint="the daemon's log has the details; please report it",
    )
    return Response(content=err.to_wire(), status_code=500)
