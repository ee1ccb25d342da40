"""Routes for tokens, whoami and the org/project/app/env tree."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Router, delete, get, post

from platd.api.context import DaemonContext
from platd.auth.tokens import Principal
from platd.services import tenancy, tokens
from platd.spec.errors import NotFound

KINDS = {"orgs": "org", "projects": "project", "apps": "app", "envs": "env"}


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    org: str
    role: str
    name: str | None = None


class TreeCreate(msgspec.Struct, forbid_unknown_fields=True):
    path: str


def _kind(plural: str) -> str:
    if plural not in KINDS:
        raise NotFound(f"unknown resource kind {plural!r}", hint=f"use one of {', '.join(KINDS)}")
    return KINDS[plural]


@get("/whoami")
async def whoami(principal: Principal) -> dict[str, Any]:
    return tokens.whoami(principal)


@post("/tokens")
async def create_token(
    ctx: DaemonContext, principal: Principal, data: TokenCreate
) -> dict[str, Any]:
    return await asyncio.to_thread(
        tokens.create, ctx.store, principal, data.org, data.role, data.name
    )


@get("/tokens")
async def list_tokens(
    ctx: DaemonContext, principal: Principal, org: str | None = None
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(tokens.list_tokens, ctx.store, principal, org)


@delete("/tokens/{token_id:str}", status_code=200)
async def revoke_token(ctx: DaemonContext, principal: Principal, token_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(tokens.revoke, ctx.store, principal, token_id)


@post("/tree/{plural:str}")
async def create_node(
    ctx: DaemonContext, principal: Principal, plural: str, data: TreeCreate
) -> dict[str, Any]:
    return await asyncio.to_thread(tenancy.create, ctx.store, principal, _kind(plural), data.path)


@get("/tree/{plural:str}")
async def list_nodes(
    ctx: DaemonContext, principal: Principal, plural: str, parent: str = ""
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(
        tenancy.list_children, ctx.store, principal, _kind(plural), parent
    )


@delete("/tree/{plural:str}/{path:path}", status_code=200)
async def delete_node(
    ctx: DaemonContext, principal: Principal, plural: str, path: str
) -> dict[str, Any]:
    return await asyncio.to_thread(tenancy.delete, ctx.store, principal, _kind(plural), path)


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
