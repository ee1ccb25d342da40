"""Routes for org members and invites (``plat members``)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Router, delete, get, patch, post

from platd.api.deps import Caller, Svc
from platd.services import people


class InviteCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: str
    expires_seconds: float | None = None


class RoleChange(msgspec.Struct, forbid_unknown_fields=True):
    role: str


@post("/invites")
async def create_invite(svc: Svc, principal: Caller, org: str,
                        data: InviteCreate) -> dict[str, Any]:
    return await asyncio.to_thread(people.invite, svc, principal, org, data.name, data.role,
                                   data.expires_seconds)


@get("/members")
async def list_members(svc: Svc, principal: Caller, org: str) -> dict[str, Any]:
    return await asyncio.to_thread(people.members, svc, principal, org)


@patch("/members/{name:str}")
async def set_role(svc: Svc, principal: Caller, org: str, name: str,
                   data: RoleChange) -> dict[str, Any]:
    return await asyncio.to_thread(people.set_role, svc, principal, org, name, data.role)


@delete("/members/{name:str}", status_code=200)
async def remove_member(svc: Svc, principal: Caller, org: str, name: str) -> dict[str, Any]:
    return await asyncio.to_thread(people.remove, svc, principal, org, name)


router = Router(path="/v1/orgs/{org:str}",
                route_handlers=[create_invite, list_members, set_role, remove_member])
