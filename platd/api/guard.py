"""Refuse a hostile request body before anything reads it: before parsing, before the token.

A body of thousands of nested brackets costs a JSON decoder (and every recursive walk after it)
far more than its size suggests, and used to end as a 500 with a 30-line traceback in the log,
each time, for anyone, with or without a token. This ASGI middleware buffers the body (up to
the route's size limit), measures its nesting with ``platd.spec.input_limits.json_too_deep``
and answers 422 itself when it is too deep or not UTF-8 (which JSON must be, and which made the
decoder raise), or 413 when it is too large; otherwise it hands the same bytes on. Routes
whose body is not JSON (a build context's tar) say so with ``opt={"raw_body": True}`` and are
passed through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from platd.spec.errors import InvalidInput, PlatError
from platd.spec.input_limits import MAX_BODY, MAX_JSON_DEPTH, json_too_deep

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_guard(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in _BODY_METHODS:
            await app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get("raw_body"):
            await app(scope, receive, send)
            return
        body, more, message = await _read_body(receive, MAX_BODY)
        if message is not None:  # the client went away before it finished sending
            await app(scope, _replay(b"", message, receive), send)
            return
        if more:
            await _refuse(send, 413, InvalidInput(
                "the request body is too large",
                hint=f"keep a request under {MAX_BODY // 1024} KiB: manifests and config are "
                "small"))
            return
        if not _is_utf8(body):
            await _refuse(send, 422, InvalidInput(
                "the request body is not UTF-8 text",
                hint="send JSON encoded as UTF-8 (RFC 8259)"))
            return
        if json_too_deep(body):
            await _refuse(send, 422, InvalidInput(
                f"the request body nests arrays or objects more than {MAX_JSON_DEPTH} deep",
                hint="no request of this API nests more than a few levels; see the OpenAPI "
                "document at /v1/openapi.json"))
            return
        await app(scope, _replay(body, None, receive), send)

    return guarded


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool, ReceiveMessage | None]:
    """The body, whether more than ``limit`` bytes came, and a disconnect seen on the way."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, None


def _replay(body: bytes, pending: ReceiveMessage | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then what the client sends next."""
    sent = False

    async def replay() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            if pending is not None:
                return pending
            return HTTPRequestEvent(type="http.request", body=body, more_body=False)
        return await receive()

    return replay


async def _refuse(send: Send, status: int, error: PlatError) -> None:
    payload = json.dumps(error.to_wire()).encode()
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(payload)).encode()),
                          (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
