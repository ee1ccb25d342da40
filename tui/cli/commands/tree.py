"""plat orgs|projects|apps|envs create/list/delete, and plat use."""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from platd.spec.timeparse import format_utc
from tui.cli.confirm import add_yes, confirm_by_name
from tui.cli.context import Ctx
from tui.cli.options import json_options
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

LEVELS = ("orgs", "projects", "apps", "envs")
SHAPES = {
    "orgs": "NAME",
    "projects": "ORG/NAME",
    "apps": "ORG/PROJECT/NAME",
    "envs": "ORG/PROJECT/APP/NAME",
}


def register(sub: Any, _target: argparse.ArgumentParser) -> None:
    common = json_options()
    for plural in LEVELS:
        depth = LEVELS.index(plural)
        noun = plural[:-1]
        article = "an" if noun[0] in "aeiou" else "a"
        group = sub.add_parser(plural, help=f"create, list and delete {plural}")
        gsub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        p = gsub.add_parser("create", parents=[common], help=f"create {article} {noun}")
        p.add_argument(
            "path",
            metavar=SHAPES[plural],
            help=f"the new {noun}; a bare NAME is placed under the default target",
        )
        p.set_defaults(handler=create, plural=plural)
        p = gsub.add_parser("list", parents=[common], help=f"list {plural}")
        if depth:
            p.add_argument(
                "parent",
                nargs="?",
                metavar=SHAPES[plural].rsplit("/", 1)[0],
                help="where to list (default: from the default target)",
            )
        p.set_defaults(handler=list_, plural=plural)
        p = gsub.add_parser(
            "delete", parents=[common],
            help=f"delete {article} {noun}" + ("" if plural == "envs" else
                                                " that has nothing in it"),
            description=f"Asks you to type the {noun}'s path; --yes skips that, for scripts.",
        )
        p.add_argument("path", metavar=SHAPES[plural])
        add_yes(p, noun)
        p.set_defaults(handler=delete, plural=plural)

    p = sub.add_parser("use", parents=[common], help="set the default ORG/PROJECT/APP/ENV")
    p.add_argument("path", metavar="ORG/PROJECT/APP/ENV")
    p.set_defaults(handler=use)


def _full_path(ctx: Ctx, plural: str, path: str) -> str:
    """Complete a bare name from the default target: `plat envs create staging`."""
    depth = LEVELS.index(plural) + 1
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) == 1 and depth > 1:
        default = [p for p in (ctx.settings.default_target or "").split("/") if p]
        if len(default) >= depth - 1:
            parts = default[: depth - 1] + parts
    if len(parts) != depth:
        raise InvalidInput(
            f"{path!r} is not {SHAPES[plural]}",
            hint=f"for example: plat {plural} create {_example(plural)}",
        )
    return "/".join(parts)


def _example(plural: str) -> str:
    return "/".join(["acme", "shop", "web", "prod"][: LEVELS.index(plural) + 1])


def create(ctx: Ctx) -> int:
    plural = ctx.args.plural
    row = ctx.client.post(f"/v1/tree/{plural}", {"path": _full_path(ctx, plural, ctx.args.path)})
    lines = [f"created {row['kind']} {row['path']}"]
    if plural == "envs":
        lines.append(f"make it the default with: plat use {row['path']}")
    ctx.out(row, lines)
    return 0


def list_(ctx: Ctx) -> int:
    plural = ctx.args.plural
    depth = LEVELS.index(plural)
    parent = getattr(ctx.args, "parent", None)
    if depth and not parent:
        default = [p for p in (ctx.settings.default_target or "").split("/") if p]
        if len(default) < depth:
            raise InvalidInput(
                f"which {LEVELS[depth - 1][:-1]}? pass {SHAPES[plural].rsplit('/', 1)[0]}",
                hint=f"for example: plat {plural} list {_example(LEVELS[depth - 1])}",
            )
        parent = "/".join(default[:depth])
    rows = ctx.get(f"/v1/tree/{plural}", parent=parent or "")
    ctx.out(
        rows,
        table(
            [[r["path"], r["id"], format_utc(r["created_at"], millis=False)] for r in rows],
            [plural[:-1].upper(), "ID", "CREATED"],
        )
        if rows
        else [f"no {plural} yet"],
    )
    return 0


def delete(ctx: Ctx) -> int:
    from tui.api_paths import segment
    from tui.render.confirm import DELETE_CONSEQUENCES

    plural = ctx.args.plural
    path = _full_path(ctx, plural, ctx.args.path)
    # A path that cannot be sent is refused before anyone is asked to type it.
    quoted = "/".join(segment(part, "path") for part in path.split("/"))
    noun = plural[:-1]
    confirm_by_name(ctx, noun, path, DELETE_CONSEQUENCES[noun],
                    f"plat {plural} delete {path} --yes")
    row = ctx.client.delete(f"/v1/tree/{plural}/{quoted}")
    ctx.out(row, [f"deleted {row['kind']} {row['path']}"])
    return 0


def use(ctx: Ctx) -> int:
    path = ctx.args.path.strip("/")
    parts = path.split("/")
    if len(parts) != 4:
        raise InvalidInput(
            f"{path!r} is not ORG/PROJECT/APP/ENV", hint="for example: plat use acme/shop/web/prod"
        )
    parent = "/".join(parts[:3])
    envs = ctx.client.get("/v1/tree/envs", parent=parent)
    if not any(e["path"] == path for e in envs):
        names = ", ".join(e["path"] for e in envs) or "none"
        raise InvalidInput(
            f"there is no env {path} (envs in {parent}: {names})",
            hint=f"create it with: plat envs create {path}",
        )
    data = ctx.settings.load()
    data["target"] = path
    ctx.settings.save(data)
    ctx.out({"target": path}, [f"default target is now {path}"])
    return 0
