"""plat endpoints create|list|describe|delete, and plat exposed."""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.confirm import add_yes, confirm_by_name
from tui.cli.context import Ctx
from tui.cli.options import json_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("endpoints", help="L4 ingress: external ports to a workload's port")
    gsub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = gsub.add_parser(
        "create", parents=[common], help="expose a workload's port (IPv6; IPv4 with --ipv4)",
        description="Listens on addresses from the host's pool: IPv6 always (unless --no-ipv6), "
        "IPv4 only with --ipv4. Prints the addresses and what the app must handle.")
    p.add_argument("name")
    p.add_argument("--workload", "-w", required=True)
    p.add_argument("--internal-port", type=int, required=True, metavar="PORT",
                   help="the port the workload listens on")
    p.add_argument("--port", "-p", type=int, action="append", required=True, dest="ports",
                   metavar="PORT", help="external port (repeatable)")
    p.add_argument("--protocol", default="tcp", help="tcp (the only one)")
    p.add_argument("--ipv4", action="store_true", help="also listen on IPv4")
    p.add_argument("--no-ipv6", action="store_true", help="IPv4 only (needs --ipv4)")
    p.add_argument("--proxy-protocol", choices=("v2",),
                   help="send a PROXY v2 header with the client's address to the app")
    p.set_defaults(handler=create)

    p = gsub.add_parser(
        "update", parents=[common], help="change an endpoint made with create",
        description="Changes only what is given; the endpoint keeps its addresses where the "
        "new ports are free there. Prints the details like create.")
    p.add_argument("name")
    p.add_argument("--workload", "-w")
    p.add_argument("--internal-port", type=int, metavar="PORT")
    p.add_argument("--port", "-p", type=int, action="append", dest="ports", metavar="PORT",
                   help="the new external ports (repeatable; replaces the old list)")
    v4 = p.add_mutually_exclusive_group()
    v4.add_argument("--ipv4", action="store_true", default=None, help="also listen on IPv4")
    v4.add_argument("--no-ipv4", action="store_false", dest="ipv4", help="stop IPv4")
    v6 = p.add_mutually_exclusive_group()
    v6.add_argument("--ipv6", action="store_true", default=None, help="listen on IPv6")
    v6.add_argument("--no-ipv6", action="store_false", dest="ipv6", help="stop IPv6")
    p.add_argument("--proxy-protocol", choices=("v2", "none"))
    p.set_defaults(handler=update)

    p = gsub.add_parser("list", parents=[common], help="the env's endpoints")
    p.set_defaults(handler=list_)
    p = gsub.add_parser("describe", parents=[common], help="one endpoint and what serves it")
    p.add_argument("name")
    p.set_defaults(handler=describe)
    p = gsub.add_parser(
        "check", parents=[common], help="make one request through an endpoint and report it",
        description="From platd's host: connects to the endpoint's first address, sends "
        "GET / (HTTP/1.0), and reports the first line of the answer, the time to connect, to "
        "the first byte and in total, the bytes, and the PROXY v2 header the app received. "
        "Exit 0 when it answered, 5 when it did not.")
    p.add_argument("name")
    p.set_defaults(handler=check)
    p = gsub.add_parser("delete", parents=[common], help="stop listening (made with create; "
                        "asks to type its name)")
    p.add_argument("name")
    add_yes(p, "endpoint")
    p.set_defaults(handler=delete)

    p = sub.add_parser("exposed", parents=[json_options()],
                       help="everything in the org reachable from outside, in one table")
    p.add_argument("org", nargs="?", help="the org (default: from the default target)")
    p.set_defaults(handler=exposed)


def create(ctx: Ctx) -> int:
    from tui.render.endpoints import endpoint_lines

    a = ctx.args
    if a.no_ipv6 and not a.ipv4:
        raise InvalidInput("--no-ipv6 without --ipv4 would listen nowhere",
                           hint="add --ipv4, or drop --no-ipv6")
    target = ctx.target()
    body = {"name": a.name, "workload": a.workload, "internal_port": a.internal_port,
            "external_ports": a.ports, "protocol": a.protocol, "ipv6": not a.no_ipv6,
            "ipv4": a.ipv4, "proxy_protocol": a.proxy_protocol}
    e = ctx.client.post(ctx.client.env_path(target, "/endpoints"), body)
    ctx.out(e, [*endpoint_lines(e, "created"), "Next:",
                f"  plat endpoints describe {e['name']} --target {target}", "  plat exposed",
                *try_it(e)])
    return 0


def try_it(e: dict[str, Any]) -> list[str]:
    """A first request to check it works, for apps that speak HTTP (most do)."""
    if not e.get("addresses"):
        return []
    # curl sends PROXY v1, which parsers of the protocol (nginx, HAProxy) take as well as v2.
    proxy = "--haproxy-protocol " if e.get("proxy_protocol") == "v2" else ""
    return [f"  curl -g {proxy}http://{e['addresses'][0]}/   # if the app speaks HTTP"]


def update(ctx: Ctx) -> int:
    from tui.render.endpoints import endpoint_lines

    a = ctx.args
    body = {"workload": a.workload, "internal_port": a.internal_port, "external_ports": a.ports,
            "ipv4": a.ipv4, "ipv6": a.ipv6, "proxy_protocol": a.proxy_protocol}
    body = {k: v for k, v in body.items() if v is not None}
    if not body:
        raise InvalidInput("nothing to change",
                           hint="pass what to change, e.g. --ipv4 or --port 8443")
    target = ctx.target()
    path = ctx.client.env_path(target, "/endpoints/" + _segment(a.name))
    e = ctx.client.patch(path, body)
    ctx.out(e, endpoint_lines(e, "changed"))
    return 0


def list_(ctx: Ctx) -> int:
    from tui.render.endpoints import endpoints_table

    r = ctx.client.get(ctx.client.env_path(ctx.target(), "/endpoints"))
    ctx.out(r, endpoints_table(r))
    return 0


def describe(ctx: Ctx) -> int:
    from tui.render.endpoints import endpoint_lines

    target = ctx.target()
    e = ctx.client.get(ctx.client.env_path(target, "/endpoints/" + _segment(ctx.args.name)))
    ctx.out(e, endpoint_lines(e))
    return 0


def check(ctx: Ctx) -> int:
    from tui.render.endpoints import endpoint_check_lines, endpoint_not_answering

    target = ctx.target()
    path = ctx.client.env_path(target, "/endpoints/" + _segment(ctx.args.name) + "/check")
    r = ctx.client.post(path, {})
    if not r["answered"] and not ctx.json:
        for line in endpoint_check_lines(r):
            ctx.note(line)
        raise endpoint_not_answering(r)
    ctx.out(r, endpoint_check_lines(r))
    return 0 if r["answered"] else 5


def delete(ctx: Ctx) -> int:
    from tui.render.confirm import DELETE_CONSEQUENCES

    target = ctx.target()
    confirm_by_name(ctx, "endpoint", ctx.args.name, DELETE_CONSEQUENCES["endpoint"],
                    f"plat endpoints delete {ctx.args.name} --target {target} --yes")
    path = ctx.client.env_path(target, "/endpoints/" + _segment(ctx.args.name))
    e = ctx.client.delete(path)
    ctx.out(e, [f"Endpoint {e['name']} of {target} deleted: no longer listening on "
                + ("  ".join(e["addresses"]) or "anything")])
    return 0


def exposed(ctx: Ctx) -> int:
    from tui.render.endpoints import exposed_lines

    org = ctx.args.org or (ctx.settings.default_target or "").split("/")[0]
    if not org:
        raise InvalidInput("which org? pass ORG", hint="for example: plat exposed acme")
    r = ctx.client.get(f"/v1/orgs/{_segment(org)}/exposed")
    ctx.out(r, exposed_lines(r))
    return 0


def _segment(text: str) -> str:
    """``text`` as one URL path segment; empty or undecodable text is refused."""
    from tui.api_paths import segment

    return segment(text, "name")
