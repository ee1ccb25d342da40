"""plat config set/unset/list/import and plat secrets create/update/list/describe/delete."""

from __future__ import annotations

import argparse

from platd.spec.dotenv import parse_env_file, parse_pairs
from platd.spec.errors import InvalidInput
from platd.spec.timeparse import format_utc
from tui.cli.context import Ctx
from tui.cli.options import path_arg
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    cfg = sub.add_parser("config", help="the env's plain configuration (env vars), versioned")
    csub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = csub.add_parser("set", parents=[common], help="set KEY=value pairs (a new config version)")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    p.set_defaults(handler=config_set)
    p = csub.add_parser("unset", parents=[common], help="remove keys (a new config version)")
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.set_defaults(handler=config_unset)
    p = csub.add_parser("list", parents=[common], help="show the current config version")
    p.set_defaults(handler=config_list)
    p = csub.add_parser("import", parents=[common], help="set every KEY=value of a .env file")
    p.add_argument("file", type=path_arg, metavar="FILE.env")
    p.set_defaults(handler=config_import)

    sec = sub.add_parser("secrets", help="secret bundles, delivered as files in /run/secrets/")
    ssub = sec.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("create", "create a bundle"),
        ("update", "add a version to a bundle, merging keys"),
    ):
        p = ssub.add_parser(action, parents=[common], help=text)
        p.add_argument("name")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a secret value (repeatable); prefer --from-file to keep values "
            "out of shell history",
        )
        p.add_argument(
            "--from-file", type=path_arg, metavar="FILE.env",
            help="read KEY=value lines from a file",
        )
        p.set_defaults(handler=secrets_write, create=action == "create")
    p = ssub.add_parser(
        "list", parents=[common], help="list bundles (names and keys, never values)"
    )
    p.set_defaults(handler=secrets_list)
    p = ssub.add_parser("describe", parents=[common], help="a bundle's versions and key names")
    p.add_argument("name")
    p.set_defaults(handler=secrets_describe)
    p = ssub.add_parser(
        "delete", parents=[common], help="delete a bundle (releases keep the versions they pinned)"
    )
    p.add_argument("name")
    p.set_defaults(handler=secrets_delete)


def _config_change(ctx: Ctx, set_values: dict[str, str], unset: list[str]) -> int:
    target = ctx.target()
    r = ctx.client.patch(
        ctx.client.env_path(target, "/config"), {"set": set_values, "unset": unset}
    )
    if r["unchanged"]:
        ctx.out(r, [f"config of {target} unchanged (still version {r['version']})"])
        return 0
    parts = (
        [f"+{k}" for k in r["added"]]
        + [f"~{k}" for k in r["changed"]]
        + [f"-{k}" for k in r["removed"]]
    )
    ctx.out(
        r,
        [
            f"config of {target} is now version {r['version']}: {' '.join(parts)}",
            "it applies to the next release: plat deploy -f plat.toml",
        ],
    )
    return 0


def config_set(ctx: Ctx) -> int:
    return _config_change(ctx, parse_pairs(ctx.args.pairs), [])


def config_unset(ctx: Ctx) -> int:
    return _config_change(ctx, {}, list(ctx.args.keys))


def config_import(ctx: Ctx) -> int:
    from tui.cli.files import MAX_ENV_FILE

    path: Path = ctx.args.file
    text = ctx.read_text(path, ".env file", MAX_ENV_FILE,
                          "pass the path of a readable .env file of KEY=value lines")
    return _config_change(ctx, parse_env_file(text, str(path)), [])


def config_list(ctx: Ctx) -> int:
    target = ctx.target()
    r = ctx.client.get(ctx.client.env_path(target, "/config"))
    lines = [f"{target} config version {r['version']}"]
    lines += [f"  {k}={v}" for k, v in sorted(r["values"].items())] or ["  (empty)"]
    ctx.out(r, lines)
    return 0


def _secret_values(ctx: Ctx) -> dict[str, str]:
    values: dict[str, str] = {}
    if ctx.args.from_file is not None:
        from tui.cli.files import MAX_ENV_FILE

        text = ctx.read_text(ctx.args.from_file, "secrets file", MAX_ENV_FILE,
                              "pass the path of a readable .env file of KEY=value lines, "
                              "or use --set KEY=value")
        values.update(parse_env_file(text, str(ctx.args.from_file)))
    values.update(parse_pairs(ctx.args.set, "--set"))
    if not values:
        raise InvalidInput(
            "no secret values given",
            hint="pass --set KEY=value (repeatable) or --from-file FILE.env",
        )
    return values


def _bundle_path(ctx: Ctx, target: str) -> str:
    return ctx.client.item_path(target, "secrets", ctx.args.name, "secret bundle name")


def _bundle_lines(b: dict[str, Any]) -> list[str]:
    return [
        f"secret bundle {b['name']} in {b['target']}: version {b['version']}",
        f"  keys: {', '.join(b['keys'])}",
        f"  delivered as the file {b['file']}",
    ]


def secrets_write(ctx: Ctx) -> int:
    target = ctx.target()
    values = _secret_values(ctx)
    if ctx.args.create:
        b = ctx.client.post(
            ctx.client.env_path(target, "/secrets"), {"name": ctx.args.name, "values": values}
        )
    else:
        b = ctx.client.patch(
            _bundle_path(ctx, target), {"values": values}
        )
    ctx.out(b, [*_bundle_lines(b), "it applies to the next release: plat deploy -f plat.toml"])
    return 0


def secrets_list(ctx: Ctx) -> int:
    target = ctx.target()
    rows = ctx.client.get(ctx.client.env_path(target, "/secrets"))
    ctx.out(
        rows,
        table(
            [[b["name"], b["version"], ", ".join(b["keys"]), b["file"]] for b in rows],
            ["BUNDLE", "VERSION", "KEYS", "FILE"],
        )
        if rows
        else [f"no secret bundles in {target}"],
    )
    return 0


def secrets_describe(ctx: Ctx) -> int:
    target = ctx.target()
    b = ctx.client.get(_bundle_path(ctx, target))
    versions = [
        [v["version"], format_utc(v["created_at"], millis=False), v["created_by"],
         ", ".join(v["keys"])]
        for v in b["versions"]
    ]
    lines = [*_bundle_lines(b), "", *table(versions, ["VERSION", "CREATED", "BY", "KEYS"])]
    ctx.out(b, lines)
    return 0


def secrets_delete(ctx: Ctx) -> int:
    target = ctx.target()
    b = ctx.client.delete(_bundle_path(ctx, target))
    ctx.out(
        b,
        [
            f"deleted secret bundle {b['name']} from {target}",
            "releases that pinned one of its versions keep it; new deploys need it again "
            "if the manifest lists it",
        ],
    )
    return 0
