"""plat login, logout, whoami, tokens."""

from __future__ import annotations

import argparse
from typing import Any

from platd.spec.timeparse import format_utc
from tui.cli import settings
from tui.cli.confirm import add_yes, confirm_by_name
from tui.cli.context import Ctx
from tui.cli.options import json_options
from tui.render import table


def register(sub: Any, _target: argparse.ArgumentParser) -> None:
    common = json_options()
    p = sub.add_parser(
        "login",
        parents=[common],
        help="store the daemon address and a token",
        description="Checks the token against the daemon, then stores both in "
        f"{settings.config_file()} (mode 0600).",
    )
    p.add_argument("--api", required=True, help="daemon URL, e.g. http://127.0.0.1:7400")
    p.add_argument("--token", required=True, help="an API token (platd init prints the admin one)")
    p.set_defaults(handler=login)

    p = sub.add_parser("logout", parents=[common], help="forget the stored token")
    p.set_defaults(handler=logout)

    p = sub.add_parser(
        "whoami", parents=[common], help="show the daemon, token, org and role in use"
    )
    p.set_defaults(handler=whoami)

    tokens = sub.add_parser("tokens", help="create, list and revoke API tokens")
    tsub = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = tsub.add_parser("create", parents=[common], help="create a token scoped to an org")
    p.add_argument("--org", required=True)
    p.add_argument("--role", required=True, choices=("viewer", "deployer", "owner"))
    p.add_argument("--name", help="a name to tell tokens apart (default ORG-ROLE)")
    p.set_defaults(handler=tokens_create)
    p = tsub.add_parser("list", parents=[common], help="list tokens (never their values)")
    p.add_argument("--org")
    p.set_defaults(handler=tokens_list)
    p = tsub.add_parser("revoke", parents=[common], help="revoke a token by id",
                        description="Asks you to type the token's name; --yes skips that, "
                        "for scripts.")
    p.add_argument("id")
    add_yes(p, "token")
    p.set_defaults(handler=tokens_revoke)


def login(ctx: Ctx) -> int:
    from tui.client import Client

    client = Client(ctx.args.api, ctx.args.token)
    me = client.get("/v1/whoami")
    data = ctx.settings.load()
    data.update(api=ctx.args.api, token=ctx.args.token)
    path = ctx.settings.save(data)
    ctx.out(
        {"api": ctx.args.api, **me, "config": str(path)},
        [
            f"logged in to {ctx.args.api} as {me['name']} ({_role(me)})",
            f"credentials saved in {path}",
        ],
    )
    return 0


def logout(ctx: Ctx) -> int:
    data = ctx.settings.load()
    had = data.pop("token", None) is not None
    ctx.settings.save(data)
    ctx.out({"logged_out": had}, ["logged out" if had else "no stored token"])
    return 0


def _role(me: dict[str, Any]) -> str:
    return "host admin" if me["org"] is None else f"{me['role']} of org {me['org']}"


def whoami(ctx: Ctx) -> int:
    me = ctx.client.get("/v1/whoami")
    target = ctx.settings.default_target
    ctx.out(
        {"api": ctx.client.api, **me, "target": target},
        [
            f"api     {ctx.client.api}",
            f"token   {me['name']} ({_role(me)})",
            f"target  {target or '(none; set one with plat use ORG/PROJECT/APP/ENV)'}",
        ],
    )
    return 0


def tokens_create(ctx: Ctx) -> int:
    a = ctx.args
    t = ctx.client.post("/v1/tokens", {"org": a.org, "role": a.role, "name": a.name})
    ctx.out(
        t,
        [
            f"created token {t['name']} ({t['role']} of org {t['org']}), id {t['id']}",
            "the token (shown once, stored only as a hash):",
            "",
            f"  {t['token']}",
            "",
        ],
    )
    return 0


def tokens_list(ctx: Ctx) -> int:
    rows = ctx.client.get("/v1/tokens", org=ctx.args.org)
    ctx.out(
        rows,
        table(
            [
                [
                    t["id"],
                    t["name"],
                    t["org"] or "(all)",
                    t["role"],
                    t["hint"],
                    format_utc(t["created_at"], millis=False),
                ]
                for t in rows
            ],
            ["ID", "NAME", "ORG", "ROLE", "ENDS", "CREATED"],
        ),
    )
    return 0


def tokens_revoke(ctx: Ctx) -> int:
    from platd.spec.errors import NotFound
    from tui.client import segment
    from tui.render import DELETE_CONSEQUENCES

    token_id = ctx.args.id
    quoted = segment(token_id, "token id")  # refused before anyone is asked to confirm
    retry = f"plat tokens revoke {token_id} --yes"
    if not ctx.args.yes and ctx.interactive:
        found = next((t for t in ctx.client.get("/v1/tokens") if t["id"] == token_id), None)
        if found is None:
            raise NotFound(f"no token with id {token_id!r}",
                           hint="list them with: plat tokens list")
        confirm_by_name(ctx, "token", found["name"], DELETE_CONSEQUENCES["token"], retry)
    else:
        confirm_by_name(ctx, "token", token_id, DELETE_CONSEQUENCES["token"], retry)
    t = ctx.client.delete(f"/v1/tokens/{quoted}")
    ctx.out(t, [f"revoked token {t['name']} ({t['id']})"])
    return 0
