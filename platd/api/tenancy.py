"""Routes for tokens, whoami and the org/project/app/env tree."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Router, delete, get, post

from platd.api.deps import Caller, Svc
from platd.services import tenancy, tokens


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    org: str
    role: str
    name: str | None = None


class TreeCreate(msgspec.Struct, forbid_unknown_fields=True):
    path: str


@get("/whoami")
async def whoami(principal: Caller) -> dict[str, Any]:
    return tokens.whoami(principal)


@post("/tokens")
async def create_token(
    svc: Svc, principal: Caller, data: TokenCreate
) -> dict[str, Any]:
    return await asyncio.to_thread(
        tokens.create, svc, principal, data.org, data.role, data.name
    )


@get("/tokens")
async def list_tokens(
    svc: Svc, principal: Caller, org: str | None = None
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(tokens.list_tokens, svc, principal, org)


@delete("/tokens/{token_id:str}", status_code=200)
async def revoke_token(svc: Svc, principal: Caller, token_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(tokens.revoke, svc, principal, token_id)


@post("/tree/{plural:str}")
async def create_node(
    svc: Svc, principal: Caller, plural: str, data: TreeCreate
) -> dict[str, Any]:
    return await asyncio.to_thread(tenancy.create, svc, principal, plural, data.path)


@get("/tree/{plural:str}")
async def list_nodes(
    svc: Svc, principal: Caller, plural: str, parent: str = ""
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(
        tenancy.list_children, svc, principal, plural, parent
    )


@delete("/tree/{plural:str}/{path:path}", status_code=200)
async def delete_node(
    svc: Svc, principal: Caller, plural: str, path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(tenancy.delete, svc, principal, plural, path)


router = Router(
    path="/v1",
    route_handlers=[
        whoami,
        create_token,
        list_tokens,
        revoke_token,
        create_node,
        list_nodes,
        delete_node,
    ],
)
