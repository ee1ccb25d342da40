"""plat members: who belongs to an org, with which role; invites for new members."""

from __future__ import annotations

import argparse

from platd.spec.timeparse import format_utc, parse_duration
from tui.cli.context import Ctx
from tui.cli.options import json_options
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

ROLES = ("viewer", "deployer", "owner")


def register(sub: Any, _target: argparse.ArgumentParser) -> None:
    common = json_options()
    members = sub.add_parser(
        "members", help="list, invite, change the role of and remove org members",
        description="Roles: viewer reads; deployer also deploys, scales, rolls back and "
        "execs; owner also manages members, tokens and the org's projects. An org keeps at "
        "least one owner.")
    msub = members.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = msub.add_parser("list", parents=[common], help="the org's members and open invites")
    p.add_argument("--org", required=True)
    p.set_defaults(handler=members_list)
    p = msub.add_parser("invite", parents=[common],
                        help="a single-use, expiring link that makes NAME a member")
    p.add_argument("name", metavar="NAME", help="the user name the invite is for")
    p.add_argument("--org", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--expires", default="7d", help="how long the link works (default 7d)")
    p.set_defaults(handler=members_invite)
    p = msub.add_parser("set-role", parents=[common], help="change a member's role")
    p.add_argument("name", metavar="NAME")
    p.add_argument("role", metavar="ROLE", choices=ROLES)
    p.add_argument("--org", required=True)
    p.set_defaults(handler=members_set_role)
    p = msub.add_parser("remove", parents=[common],
                        help="remove a member (their open exec sessions end at once)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--org", required=True)
    p.set_defaults(handler=members_remove)


def _org(ctx: Ctx, rest: str) -> str:
    return f"/v1/orgs/{_quote(ctx.args.org)}{rest}"


def members_list(ctx: Ctx) -> int:
    body = ctx.client.get(_org(ctx, "/members"))
    lines = table([[m["name"], m["role"], format_utc(m["since"], millis=False), m["added_by"]]
                   for m in body["members"]], ["NAME", "ROLE", "SINCE", "ADDED BY"])
    if body["invites"]:
        invites = table([[i["name"], i["role"], format_utc(i["expires_at"], millis=False),
                          i["created_by"]] for i in body["invites"]],
                        ["NAME", "ROLE", "EXPIRES", "BY"])
        lines += ["", "open invites:", *invites]
    ctx.out(body, lines)
    return 0


def members_invite(ctx: Ctx) -> int:
    a = ctx.args
    seconds = parse_duration(a.expires)
    body = ctx.client.post(_org(ctx, "/invites"),
                           {"name": a.name, "role": a.role, "expires_seconds": seconds})
    url = ctx.client.api.rstrip("/") + body["path"]
    ctx.out({**body, "url": url}, [
        f"invited {body['name']} to {body['org']} as {body['role']}; the link works once, "
        f"until {format_utc(body['expires_at'], millis=False)}:",
        "",
        f"  {url}",
        "",
        "send it to them privately: whoever opens it first becomes that member",
    ])
    return 0


def members_set_role(ctx: Ctx) -> int:
    a = ctx.args
    body = ctx.client.patch(_org(ctx, f"/members/{_quote(a.name)}"), {"role": a.role})
    ctx.out(body, [f"{body['name']} is now {body['role']} of {body['org']} "
                   f"(was {body['previous_role']})"])
    return 0


def members_remove(ctx: Ctx) -> int:
    a = ctx.args
    body = ctx.client.delete(_org(ctx, f"/members/{_quote(a.name)}"))
    ctx.out(body, [f"removed {body['name']} ({body['role']}) from {body['org']}"])
    return 0


def _quote(name: str) -> str:
    """``name`` as one URL path segment (urllib.parse is imported here: plat --help imports
    this module to name its commands)."""
    from urllib.parse import quote

    return quote(name, safe="")
