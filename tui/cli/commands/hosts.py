"""plat hosts, hosts describe, remove, cordon/uncordon/drain, join-token: the cluster's members.

Hosts are not in an env, so these commands take no target; they ask the daemon they talk to,
which answers for the whole cluster (``/v1/hosts``). Removing a host and minting join tokens
need the host admin token; the daemon says so when another token tries.
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from tui.cli.context import Ctx
from tui.cli.options import PlatParser, json_options

DEFAULT_TTL = "1h"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    hosts = sub.add_parser("hosts", parents=[json_options()],
                           help="the cluster's hosts: list, describe, remove, join tokens",
                           description="Without an action: list the hosts of the cluster, "
                           "alive or not, and how far this host is behind each.")
    hosts.set_defaults(handler=list_)
    hsub = hosts.add_subparsers(dest="action", metavar="ACTION")
    # --json also after the action; absent there, the one before it (or none) stands.
    late_json = PlatParser(add_help=False)
    late_json.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                           help="print JSON for scripts")
    p = hsub.add_parser("list", parents=[late_json], help="every host: state, region, labels, "
                        "capacity, lag, address (the same as plat hosts)")
    p.set_defaults(handler=list_)
    p = hsub.add_parser("describe", parents=[late_json],
                        help="one host and its recent membership events")
    p.add_argument("host", help="its name or id (or the end of its id)")
    p.set_defaults(handler=describe)
    p = hsub.add_parser("remove", parents=[late_json],
                        help="forget a host that is gone for good (not one that is alive)",
                        description="Removes a host that is failed or left from the cluster. "
                        "A host that is alive is refused: stop its platd first. Asks you to "
                        "type the host's name; --yes skips that, for scripts.")
    p.add_argument("host", help="its name or id")
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask to type the host's name (for scripts)")
    p.set_defaults(handler=remove)
    for action, words in (
        ("cordon", "take no new instances on a host; it keeps the ones it runs"),
        ("uncordon", "let a cordoned or drained host take instances again"),
        ("drain", "move every instance off a host, never lowering a workload's healthy count"),
    ):
        p = hsub.add_parser(action, parents=[late_json], help=words, description=words + ".")
        p.add_argument("host", help="its name or id")
        p.set_defaults(handler=schedule, schedule=action)
    p = hsub.add_parser("join-token", parents=[late_json],
                        help="a single-use token, and the command a new host joins with",
                        description="Prints, once, the platd init --join command that makes a "
                        "new host a member of this cluster. The token works once and expires.")
    p.add_argument("--ttl", default=DEFAULT_TTL,
                   help="how long the token is good for: 10m, 1h, 2d (default 1h, at most 7d)")
    p.set_defaults(handler=join_token)


def _host_path(host: str) -> str:
    return "/v1/hosts/" + quote(host, safe="")


def list_(ctx: Ctx) -> int:
    from tui.render.hosts import hosts_lines

    r = ctx.client.get("/v1/hosts")
    ctx.out(r, hosts_lines(r))
    return 0


def _get_host(ctx: Ctx, host: str) -> dict[str, Any]:
    """The host named ``host``; on a daemon outside any cluster, an error that says that
    rather than that there is no such host."""
    from platd.spec.errors import NotFound

    try:
        found: dict[str, Any] = ctx.client.get(_host_path(host))
    except NotFound:
        if not ctx.client.get("/v1/cluster").get("cluster"):
            raise _not_in_cluster() from None
        raise
    return found


def _not_in_cluster() -> Exception:
    from platd.spec.errors import Conflict
    from tui.render.hosts import not_in_cluster_lines

    first, *rest = not_in_cluster_lines()
    return Conflict(first, hint=[line.strip() for line in rest])


def describe(ctx: Ctx) -> int:
    from tui.render.hosts import host_lines

    h = _get_host(ctx, ctx.args.host)
    ctx.out(h, host_lines(h))
    return 0


def remove(ctx: Ctx) -> int:
    from platd.spec.errors import InvalidInput
    from tui.render.hosts import remove_host_prompt

    host = ctx.args.host
    if not ctx.args.yes:
        retry = f"plat hosts remove {host} --yes"
        if not ctx.interactive:
            raise InvalidInput("removing a host needs a confirmation",
                               hint=["run it on a terminal and type the host's name when asked",
                                     f"or, in a script: {retry}"])
        h = _get_host(ctx, host)
        note, question = remove_host_prompt(h)
        ctx.note(note)
        answer = ctx.ask(question)
        if answer is None:
            raise InvalidInput(f"host {h['name']} not removed: no name was typed",
                               hint=f"type it when asked, or: {retry}")
        if answer.strip() != h["name"]:
            raise InvalidInput(f"host {h['name']} not removed: {answer.strip()!r} is not its "
                               "name", hint=f"type {h['name']} exactly, or: {retry}")
        host = h["id"]
    r = ctx.client.request("DELETE", _host_path(host))
    ctx.out(r, [f"Removed host {r['name']} ({r['removed']}) from the cluster; every host "
                "forgets it as the change replicates",
                "  a machine joins again only with a fresh data dir and a new token: "
                "plat hosts join-token"])
    return 0


def schedule(ctx: Ctx) -> int:
    r = ctx.client.post(_host_path(ctx.args.host) + "/" + ctx.args.schedule, {})
    lines = [r["message"][:1].upper() + r["message"][1:]]
    if r["action"] == "drain":
        lines.append(f"  {r['moving']} instance(s) placed elsewhere; follow with: "
                     "plat hosts describe " + r["name"])
    ctx.out(r, lines)
    return 0


def join_token(ctx: Ctx) -> int:
    from platd.spec.timeparse import parse_duration
    from tui.render.hosts import join_token_lines

    ttl = parse_duration(ctx.args.ttl)
    t = ctx.client.post("/v1/hosts/join-tokens", {"ttl_seconds": ttl})
    ctx.out(t, join_token_lines(t))
    return 0
