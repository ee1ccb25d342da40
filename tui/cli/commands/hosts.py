"""plat hosts, hosts describe, remove, cordon/uncordon/drain, join-token: the cluster's members.

Hosts are not in an env, so these commands take no target; they ask the daemon they talk to,
which answers for the whole cluster (``/v1/hosts``). Removing a host and minting join tokens
need the host admin token; the daemon says so when another token tries.
"""

from __future__ import annotations

import argparse
import os

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import PlatParser, json_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

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
    p = hsub.add_parser(
        "add", parents=[late_json],
        help="bootstrap a fresh Debian host over SSH and make it a member (pyinfra)",
        description="Runs the bootstrap playbook on ssh://USER@ADDRESS (Docker, Serf, HAProxy, "
        "the firewall, platd) and joins the host to the cluster this CLI is logged in to, "
        "with a single-use join token that never appears in any output; --new-cluster makes "
        "the first host of a new cluster instead and logs this CLI in to it. Running it again "
        "changes nothing on a host that is right. Needs a plat checkout (pyinfra, playbooks) "
        "and the single files from packaging/build-pyz.")
    p.add_argument("target", metavar="ssh://USER@ADDRESS", help="the host, e.g. ssh://root@10.0.0.5")
    p.add_argument("--new-cluster", metavar="NAME",
                   help="make this the first host of a new cluster NAME (and log in to it)")
    p.add_argument("--name", help="the host's name in plat (default: the address)")
    p.add_argument("--region", help="the host's region label, e.g. ams")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                   help="a label for placement (repeatable)")
    p.add_argument("--peers", action="append", metavar="CIDR",
                   help="who may reach the host's API port (repeatable; default: the host's "
                   "/24 or /64 and this machine's address)")
    p.add_argument("--ssh-key", metavar="PATH", help="the SSH private key to log in with")
    p.add_argument("--pyz", metavar="DIR", help="where build-pyz wrote the single files "
                   "(default: dist/ of the checkout)")
    p.add_argument("--api-port", type=int, default=7400, help="the API port (default 7400)")
    p.set_defaults(handler=add)


def _host_path(host: str) -> str:
    from urllib.parse import quote

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


def add(ctx: Ctx) -> int:
    """plat hosts add: the playbook on one host, then a member, then logged in."""
    from pathlib import Path  # here: every plat --help imports this module

    from tui import hostadd
    from tui.cli import settings as cli_settings
    from tui.cli import trust
    from tui.client import Client

    a = ctx.args
    target = hostadd.parse_target(a.target)
    labels = hostadd.parse_labels(a.label, a.region)
    if not 0 < a.api_port < 65536:
        raise InvalidInput(f"--api-port {a.api_port} is not a port")
    if a.new_cluster:
        from platd.spec.names import check_name

        check_name("cluster", a.new_cluster)
    name = a.name or target.host
    if len(name) > 63 or not name.replace(".", "-").replace(":", "-").replace("-", "a").isalnum():
        raise InvalidInput(f"cannot use host name {name[:80]!r}",
                           hint="letters, digits, dots and dashes: --name edge-ams-1")
    pyz = hostadd.pyz_dir(a.pyz)
    known_hosts = os.path.join(cli_settings.config_dir(), "known_hosts")
    os.makedirs(cli_settings.config_dir(), mode=0o700, exist_ok=True)
    ssh = hostadd.Ssh(target, a.ssh_key, known_hosts)
    initialised = ssh.run(f"test -e {hostadd.DATA}/host.json", check=False).returncode == 0
    api = f"https://{target.bracketed}:{a.api_port}"
    peers = a.peers or hostadd.default_peers(target)
    join = None
    with hostadd.private_dir() as work:
        token_file = os.path.join(work, "join-token")
        if not a.new_cluster:
            if not ctx.settings.api:
                raise InvalidInput("plat hosts add joins the cluster this CLI is logged in to, "
                                   "and it is logged in to none",
                                   hint="the first host: plat hosts add --new-cluster NAME "
                                   f"{a.target}")
            join = ctx.settings.api
            if not initialised:
                minted = ctx.client.post("/v1/hosts/join-tokens", {"ttl_seconds": 3600})
                hostadd.write_private(Path(token_file), str(minted["token"]))
        data = hostadd.host_data(
            target, name=name, pyz=pyz, labels=labels, peers=peers, api_port=a.api_port,
            cluster=a.new_cluster, join=join if not initialised else None,
            join_token_file=token_file, ssh_key=a.ssh_key, known_hosts=known_hosts)
        inventory = Path(work) / "inventory.py"
        inventory.write_text(f"hosts = [({target.address!r}, {data!r})]\n")
        hostadd.run_bootstrap(inventory, ctx.note)
    ca = ssh.run(f"/usr/local/bin/platd ca --pem --data {hostadd.DATA}").stdout.strip() + "\n"
    from platd.spec.fingerprint import fingerprint

    seen = fingerprint(ca)
    result: dict[str, Any] = {"host": name, "api": api, "ca_fingerprint": seen,
                              "initialised": not initialised}
    if a.new_cluster:
        token_text = ssh.run(f"cat {hostadd.ADMIN_TOKEN_FILE} 2>/dev/null", check=False).stdout
        token = token_text.strip() or (ctx.settings.token if ctx.settings.api == api else None)
        if not token:
            raise InvalidInput(f"{name} is initialised but its admin token file is gone, and "
                               "this CLI is not logged in to it",
                               hint=f"on the host: platd token reset; then plat login --api "
                               f"{api} --token-stdin --ca-fingerprint {seen}")
        client = Client(api, token, ca=ca)
        me = hostadd.wait_whoami(client)
        pinned = trust.pin(api, ca)
        stored = ctx.settings.load()
        stored.update(api=api, token=token)
        where = ctx.settings.save(stored)
        ssh.run(f"rm -f {hostadd.ADMIN_TOKEN_FILE}", check=False)
        result.update(logged_in_as=me.get("name"), config=where, ca_pinned=pinned)
        lines = [f"{name} is the first host of cluster {a.new_cluster}: {api}",
                 f"CA fingerprint {seen} (read over SSH, pinned)",
                 f"logged in as {me.get('name', 'admin')}; credentials saved in {where}"]
    else:
        pinned_ca = trust.pinned(join or api)
        if pinned_ca and fingerprint(pinned_ca) != seen:
            raise InvalidInput(f"{name} has a CA other than its cluster's ({seen})",
                               hint="it may belong to another cluster: see plat hosts")
        pinned = trust.pin(api, ca)
        lines = [f"{name} is a member of the cluster of {join}: {api}",
                 "see it with: plat hosts"]
    ctx.out(result, lines)
    return 0
