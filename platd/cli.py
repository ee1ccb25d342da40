"""``platd``: create a host's data directory and run the daemon on it.

Kept to the standard library at import time; ``serve`` imports the server stack only when it
runs, so ``platd --help`` and ``plat daemon --help`` answer instantly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from platd import __version__
from platd.spec.errors import InvalidInput, NotFound, PlatError

if TYPE_CHECKING:
    from platd.datadir import DataDir
    from platd.store.db import Store

DEFAULT_LISTEN = "127.0.0.1:7400"


def parse_listen(text: str) -> tuple[str, int]:
    """ "127.0.0.1:7400", "[::1]:7400", "::" + port, or a bare port."""
    host, port = "127.0.0.1", text
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise InvalidInput(
            f"cannot read listen address {text!r}",
            hint="write IPv6 addresses in brackets: [::1]:7400",
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(
            f"invalid port in listen address {text!r}",
            hint="use ADDRESS:PORT, e.g. 127.0.0.1:7400 or [::1]:7400",
        )
    return host or "127.0.0.1", int(port)


def build_parser(prog: str = "platd") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The plat daemon: one per host, holding state and running containers.",
    )
    parser.add_argument("--version", action="version", version=f"platd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create the data dir, host id, database and admin token")
    init.add_argument(
        "--data",
        type=Path,
        help="data directory (default: $PLAT_DATA, "
        "/var/lib/platd as root, else ~/.local/share/platd)",
    )
    init.add_argument("--name", help="host name shown to people (default: the hostname)")
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    cluster = init.add_mutually_exclusive_group()
    cluster.add_argument("--cluster", metavar="NAME",
                         help="make this host the first member of a new cluster NAME")
    cluster.add_argument("--join", metavar="ADDRESS",
                         help="join the cluster of the member whose API is at ADDRESS "
                         "(needs --token from `plat hosts join-token` there)")
    init.add_argument("--token", help="the join token (or set PLAT_JOIN_TOKEN)")
    init.add_argument("--gossip", metavar="IP:PORT",
                      help="where this host gossips with its peers (cluster members; "
                      "default: 0.0.0.0:7946)")
    init.add_argument("--advertise", metavar="URL",
                      help="the API address peers and users reach this host at "
                      f"(cluster members; default: http://{DEFAULT_LISTEN})")
    serve = sub.add_parser("serve", help="run the API and the reconciler")
    serve.add_argument("--data", type=Path, help="data directory (as for init)")
    serve.add_argument(
        "--listen",
        default=os.environ.get("PLAT_LISTEN", DEFAULT_LISTEN),
        help=f"address:port to listen on (default {DEFAULT_LISTEN}; IPv6 as [::1]:7400)",
    )
    serve.add_argument(
        "--runtime",
        choices=("docker", "fake"),
        default="docker",
        help="what runs containers: the Docker engine, or an in-memory fake for demos "
        "and UI tests (default docker)",
    )
    serve.add_argument(
        "--tls", action="store_true",
        help="serve https on a loopback address too (beyond loopback platd always does)",
    )
    serve.add_argument(
        "--docker-url",
        default=os.environ.get("DOCKER_HOST"),
        help="Docker engine address (default: the local socket)",
    )
    ca = sub.add_parser("ca", help="the cluster CA's fingerprint (what plat login asks "
                        "you to check), or its certificate",
                        description="Prints the fingerprint of the cluster CA that signs this "
                        "host's API certificate. Compare it with the one plat login shows, or "
                        "pass it to plat login --ca-fingerprint.")
    ca.add_argument("--data", type=Path, help="data directory (as for init)")
    ca.add_argument("--pem", action="store_true", help="print the CA certificate instead")
    ca.add_argument("--create", action="store_true",
                    help="make a CA for a data dir initialised before platd had one "
                    "(a host of its own; members of a cluster copy the first member's tls/ca.*)")
    token = sub.add_parser("token", help="recover the host admin token (on the host)")
    tsub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = tsub.add_parser(
        "reset", help="make a new host admin token, written to a 0600 file",
        description="Makes a new host admin token for a host whose admin token is lost. It "
        "is written to DATA/admin-token (mode 0600), not printed, unless --stdout (to pipe it "
        "into plat login over SSH). Works while platd runs; in a cluster the token works on "
        "every host once replicated.")
    reset.add_argument("--data", type=Path, help="data directory (as for init)")
    reset.add_argument("--stdout", action="store_true",
                       help="print the token instead of writing the file")
    reset.add_argument("--revoke-old", action="store_true",
                       help="revoke every earlier admin token as well")
    return parser


def main(argv: list[str] | None = None, prog: str = "platd") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        if args.command == "init":
            return _init(args)
        if args.command == "ca":
            return _ca(args)
        if args.command == "token":
            return _token_reset(args)
        return _serve(args)
    except PlatError as e:
        print(f"error: {e.message}", file=sys.stderr)
        for line in e.hint:
            print(f"  {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def _init(args: argparse.Namespace) -> int:
    from platd.clock import SystemClock
    from platd.datadir import DataDir, default_data_dir
    from platd.secrets.crypto import create_key_file
    from platd.services.people import create_setup_link
    from platd.services.tokens import create_admin_token
    from platd.store.db import Store, migrate

    data = DataDir((args.data or default_data_dir()).resolve())
    host = data.create(args.name)
    version = migrate(data.state_db)
    create_key_file(data.key_file)
    store = Store(data.state_db, host["id"])
    cluster_line = _cluster_init(args, data, store, host)
    from platd import certs

    # A host of its own is a cluster of one: its CA signs its API certificate. A joined host
    # got the cluster's CA with the join (bootstrap.join_cluster).
    ca_print = certs.create_ca(data.path, args.cluster or host["name"])
    # A joined host got the cluster's rows, the admin token among them: it mints none of its own.
    token = create_admin_token(store, SystemClock()) if not args.join else None
    # The first host admin is a person who signs in through this one-time link.
    setup = create_setup_link(store, SystemClock()) if not args.join else None
    store.close()
    setup_url = f"http://{DEFAULT_LISTEN}/setup?code={setup}" if setup else None
    if args.json:
        print(json.dumps({"host": host, "data": str(data.path), "schema": version, "token": token,
                          "setup_url": setup_url, "cluster": cluster_line,
                          "ca_fingerprint": ca_print}))
        return 0
    print(f"initialised host {host['name']} ({host['id']}) in {data.path}")
    if cluster_line:
        print(cluster_line)
    print(f"cluster CA fingerprint (plat login shows it; check they match): {ca_print}")
    if token is None:
        print("next:")
        print(f"  platd serve --data {data.path}")
        print("  (the cluster's tokens work here too: plat login --api "
              f"{args.advertise or 'http://' + DEFAULT_LISTEN})")
        return 0
    print(f"admin token, for automation (shown once, stored only as a hash):\n\n  {token}\n")
    print("next:")
    print(f"  platd serve --data {data.path}")
    print("  make the first administrator (a one-time link, valid 24 hours; use this host's\n"
          "  address if you open it elsewhere):")
    print(f"    {setup_url}")
    print(f"  plat login --api http://{DEFAULT_LISTEN}   (signs in through the browser)")
    return 0


def _cluster_init(args: argparse.Namespace, data: DataDir, store: Store,
                  host: dict[str, object]) -> str | None:
    """Make or join a cluster when asked; the line that says so."""
    if not args.cluster and not args.join:
        if args.token or args.gossip or args.advertise:
            raise InvalidInput("--token, --gossip and --advertise go with --cluster or --join")
        return None
    from platd.cluster import bootstrap, identity
    from platd.spec.names import check_name

    gossip = args.gossip or "0.0.0.0:7946"
    advertise = args.advertise or f"http://{DEFAULT_LISTEN}"
    bootstrap.write_settings(data.settings_file, gossip, advertise)
    if args.cluster:
        check_name("cluster", args.cluster)
        ident = identity.create(data.path, args.cluster)
        return (f"made cluster {ident.name} ({ident.id}); add hosts with a token from "
                "`plat hosts join-token`")
    token = args.token or os.environ.get("PLAT_JOIN_TOKEN")
    if not token:
        raise InvalidInput("joining needs a join token",
                           hint="make one on a member: plat hosts join-token; then "
                           "platd init --join ADDRESS --token TOKEN")
    labels = data.settings().labels
    ident, pulled = bootstrap.join_cluster(
        data.path, data.key_file, store, host, args.join, token, gossip_bind=gossip,
        api_url=advertise, region=labels.get("region", ""), labels=labels,
    )
    return f"joined cluster {ident.name} ({ident.id}) through {args.join}; {pulled} rows synced"


def _ca(args: argparse.Namespace) -> int:
    from platd import certs
    from platd.datadir import DataDir, default_data_dir

    data = DataDir((args.data or default_data_dir()).resolve())
    host = data.host()  # NotFound (exit 4) on a data dir never initialised
    if args.create and certs.ca_pem(data.path) is None:
        certs.create_ca(data.path, str(host["name"]))
    pem = certs.ca_pem(data.path)
    if pem is None:
        raise NotFound(f"{data.path} has no cluster CA (it was made before platd had one)",
                       hint=f"make one: platd ca --create --data {data.path}")
    print(pem.strip() if args.pem else certs.fingerprint(pem))
    return 0


def _token_reset(args: argparse.Namespace) -> int:
    from platd.clock import SystemClock
    from platd.datadir import DataDir, default_data_dir
    from platd.private_files import write_private
    from platd.services.tokens import reset_admin_token
    from platd.store.db import Store

    data = DataDir((args.data or default_data_dir()).resolve())
    host = data.host()  # NotFound (exit 4) on a data dir never initialised
    store = Store(data.state_db, host["id"])
    try:
        token, revoked = reset_admin_token(store, SystemClock(), args.revoke_old)
    finally:
        store.close()
    if args.stdout:
        print(token)
        return 0
    path = data.path / "admin-token"
    write_private(path, (token + "\n").encode())
    print(f"a new host admin token is in {path} (mode 0600; not printed)")
    if revoked:
        print(f"revoked {revoked} earlier admin token(s)")
    print(f"log in with it, then delete the file:\n  ssh root@HOST cat {path} | plat login "
          "--api https://HOST:7400 --token-stdin --ca-fingerprint $(ssh root@HOST platd ca)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from platd.server import serve

    host, port = parse_listen(args.listen)
    return serve(args.data, host, port, runtime=args.runtime, docker_url=args.docker_url,
                 tls=args.tls)


if __name__ == "__main__":
    sys.exit(main())
