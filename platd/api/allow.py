"""An OPTIONS answer names every method of its path in ``Allow``, as a 405 on that path does.

Litestar makes a path's OPTIONS handler when the path's first handler is registered and keeps
it when handlers for other methods of the same path are added later (``GET .../config`` and
``PATCH .../config`` are separate functions): its ``Allow`` then lists only the first ones
("GET, OPTIONS" for a path that also takes PATCH), while a 405 on the same path lists them all.
schemathesis's ``allow_header_conformance`` check found 13 such paths. This middleware sets
``Allow`` on every OPTIONS answer from the route that matched, whose methods are complete.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def options_allow(app: ASGIApp) -> ASGIApp:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return
        template = scope.get("path_template")
        methods = next((route.methods for route in scope["litestar_app"].routes
                        if isinstance(route, HTTPRoute) and route.path_format == template), None)
        if not methods:
            await app(scope, receive, send)
            return
        allow = ", ".join(sorted(methods)).encode()

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}  # type: ignore[typeddict-item]
            await send(message)

        await app(scope, receive, send_allow)

    return answer
