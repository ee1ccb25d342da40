"""plat login, logout, whoami, tokens."""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from platd.spec.timeparse import format_utc
from tui.cli import settings
from tui.cli.confirm import add_yes, confirm_by_name
from tui.cli.context import Ctx
from tui.cli.options import json_options
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

LOGIN_HELP = """\
Three ways to log in; the token is checked against the daemon, then stored with the address in
{config} (mode 0600):

  plat login --api URL                 the browser: sign in, approve the code shown here
  plat login --api URL --token-stdin   a token on standard input (a hidden prompt at a terminal)
  PLAT_TOKEN=... plat ...              for CI: nothing stored

Tokens are never given on the command line, where other users of the host can read them.

An https:// API is trusted through its cluster's CA: the first login shows the CA's
fingerprint and asks you to accept it (compare it with `platd ca` on a host), or takes it from
--ca-fingerprint, and refuses a CA with another fingerprint. The CA is then pinned for that
address; later commands trust nothing else there.
"""


def register(sub: Any, _target: argparse.ArgumentParser) -> None:
    common = json_options()
    p = sub.add_parser(
        "login",
        parents=[common],
        help="log in: through the browser (device flow) or with a token",
        description=LOGIN_HELP.format(config=settings.config_file()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--api", help="daemon URL, e.g. http://127.0.0.1:7400 (default: the stored "
                   "one, or PLAT_API)")
    p.add_argument("--token-stdin", action="store_true",
                   help="read the token from standard input (a hidden prompt at a terminal)")
    p.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    p.add_argument("--ca-fingerprint", metavar="SHA256",
                   help="for an https API: the cluster CA's fingerprint, as `platd ca` prints "
                   "it on a host; accepted without asking, and any other CA is refused")
    # Kept for old scripts only: a token on the command line is visible to every process.
    p.add_argument("--token", help=argparse.SUPPRESS)
    p.set_defaults(handler=login)

    p = sub.add_parser("logout", parents=[common], help="forget the stored token")
    p.set_defaults(handler=logout)

    p = sub.add_parser(
        "whoami", parents=[common],
        help="show the daemon, user, orgs and roles, and the token's expiry",
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
    from tui.render.errors import no_daemon

    a = ctx.args
    api = a.api or ctx.settings.api
    if not api:
        raise no_daemon()
    if a.token is not None:
        ctx.note("warning: --token puts the token where other processes can read it; "
                 "use --token-stdin")
        token: str | None = a.token
    elif a.token_stdin:
        token = _token_from_input(ctx)
    else:
        token = None
    ca = _trusted_ca(ctx, api)
    if token is None:
        token = _device_flow(ctx, Client(api, None, ca=ca))
    client = Client(api, token, ca=ca)
    me = client.get("/v1/whoami")
    pinned = None
    if ca is not None:
        from tui.cli import trust

        pinned = trust.pin(api, ca)
    data = ctx.settings.load()
    data.update(api=api, token=token)
    path = ctx.settings.save(data)
    ctx.out(
        {"api": api, **me, "config": path, "ca_pinned": pinned},
        [
            f"logged in to {api} as {_who(me)}",
            *([f"token expires {format_utc(me['expires_at'], millis=False)}"]
              if me.get("expires_at") else []),
            f"credentials saved in {path}",
        ],
    )
    return 0


def _trusted_ca(ctx: Ctx, api: str) -> str | None:
    """For an https API, the CA to trust (pinned once the login works); None for http.

    Without ``--ca-fingerprint``, a CA pinned before is kept as it is. Otherwise the API's CA
    is fetched without trusting it, its fingerprint shown, and it is used only when it is the
    one given, or the person at the terminal accepts it."""
    from platd.spec.errors import Unauthenticated
    from platd.spec.fingerprint import fingerprint, normalise
    from tui.cli import trust
    from tui.client import Client

    if not api.startswith("https://"):
        if ctx.args.ca_fingerprint:
            raise InvalidInput("--ca-fingerprint goes with an https:// API address",
                               hint=f"plat login --api https://{api.split('://', 1)[-1]} ...")
        return None
    expected = normalise(ctx.args.ca_fingerprint) if ctx.args.ca_fingerprint else None
    known = trust.pinned(api)
    if expected is None and known:
        return known
    probe = Client(api, None, verify=False)
    try:
        answer = probe.get("/v1/tls/ca")
    finally:
        probe.close()
    pem = answer.get("ca") if isinstance(answer, dict) else None
    if not isinstance(pem, str):
        raise InvalidInput(f"{api} did not hand over a CA certificate")
    seen = fingerprint(pem)
    if expected is not None:
        if seen != expected:
            raise Unauthenticated(
                f"the CA of {api} is not the one given: it has fingerprint {seen}, "
                f"--ca-fingerprint says {expected}",
                hint=["nothing was stored; check the address, and the fingerprint on a host "
                      "of the cluster: platd ca",
                      "a different CA may mean someone is between you and the host"],
            )
        ctx.note(f"the CA of {api} has the fingerprint given ({seen})")
        return pem
    ctx.note(f"the API at {api} presents a cluster CA with fingerprint\n  {seen}\n"
             "compare it with what `platd ca` prints on a host of the cluster")
    if not ctx.interactive:
        raise Unauthenticated(
            f"the CA of {api} is not trusted yet, and there is nobody to ask",
            hint="check the fingerprint on a host (platd ca) and pass it: plat login --api "
            f"{api} --ca-fingerprint {seen}",
        )
    answer_text = ctx.ask("trust this CA for this address? type yes: ")
    if (answer_text or "").strip().lower() not in ("yes", "y"):
        raise Unauthenticated("the CA was not accepted; nothing was stored",
                              hint=f"plat login --api {api} --ca-fingerprint FP, with FP from "
                              "platd ca on a host")
    return pem


def _token_from_input(ctx: Ctx) -> str:
    text = ctx.read_input()
    if text is None:
        text = ctx.ask_secret("token (not shown): ")
    token = (text or "").strip()
    if not token:
        raise InvalidInput("no token was given",
                           hint=["pipe one in: plat login --api URL --token-stdin < FILE",
                                 "or log in through the browser: plat login --api URL"])
    if any(c.isspace() for c in token):
        raise InvalidInput("the input is not one token (it has spaces or several lines)",
                           hint="give only the token, as plat tokens create printed it")
    return token


def _device_flow(ctx: Ctx, client: Any) -> str:
    import socket
    import time

    from tui import device_login

    def exchange(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        result: tuple[int, Any] = client.exchange(method, path, body)
        return result

    code = device_login.request_code(exchange, f"plat on {socket.gethostname()}")
    minutes = max(1, round(code.expires_in / 60))
    ctx.say(f"to log in, open {code.verification_uri} and enter the code {code.user_code}")
    ctx.say(f"or open directly: {code.verification_uri_complete}")
    if not ctx.json and not ctx.args.no_qr and ctx.interactive:
        from tui import qr
        from tui.cli.options import terminal_columns

        drawing = qr.terminal_lines(code.verification_uri_complete, terminal_columns())
        if drawing:
            for line in drawing:
                ctx.say(line)
    ctx.say(f"waiting for approval (the code works for {minutes} minutes; Ctrl-C stops)")

    def wait(seconds: float) -> None:
        if ctx.cancel.wait(seconds):
            from tui.follow import Cancelled

            raise Cancelled()

    body = device_login.poll(
        exchange, code, sleep=wait, clock=time.monotonic,
        on_slow_down=lambda s: ctx.note(f"the daemon asked to poll more slowly: every {s:g}s"),
    )
    return str(body["access_token"])


def logout(ctx: Ctx) -> int:
    data = ctx.settings.load()
    had = data.pop("token", None) is not None
    ctx.settings.save(data)
    ctx.out({"logged_out": had}, ["logged out" if had else "no stored token"])
    return 0


def _who(me: dict[str, Any]) -> str:
    if me.get("user"):
        return f"user {me['user']}" + (" (host admin)" if me.get("admin") else "")
    if me.get("admin") or me["org"] is None:
        return f"{me['name']} (host admin)"
    return f"{me['name']} ({me['role']} of org {me['org']})"


def whoami(ctx: Ctx) -> int:
    me = ctx.client.get("/v1/whoami")
    target = ctx.settings.default_target
    orgs = me.get("orgs") or []
    expires = me.get("expires_at")
    ctx.out(
        {"api": ctx.client.api, **me, "target": target},
        [
            f"api      {ctx.client.api}",
            f"user     {me['user']}" if me.get("user") else f"token    {_who(me)}",
            *([f"token    {me['name']}"] if me.get("user") else []),
            *(["admin    yes (every org and host)"] if me.get("admin") else []),
            "orgs     " + (", ".join(f"{o['org']} ({o['role']})" for o in orgs) or "(none)"),
            "expires  " + (format_utc(expires, millis=False) if expires
                           else "never (revoke it to end it)"),
            f"target   {target or '(none; set one with plat use ORG/PROJECT/APP/ENV)'}",
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
                    t.get("user") or t["org"] or "(all)",
                    t["role"],
                    t["hint"],
                    format_utc(t["created_at"], millis=False),
                    format_utc(t["expires_at"], millis=False) if t.get("expires_at") else "-",
                ]
                for t in rows
            ],
            ["ID", "NAME", "FOR", "ROLE", "ENDS", "CREATED", "EXPIRES"],
        ),
    )
    return 0


def tokens_revoke(ctx: Ctx) -> int:
    from platd.spec.errors import NotFound
    from tui.api_paths import segment
    from tui.render.confirm import DELETE_CONSEQUENCES

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
