"""plat exec and plat instances: commands and shells inside a running instance, said where.

Choosing the instance is visible and scriptable. platd uses the one running instance it is asked
about, and refuses to choose among several, listing them with the exact ``--instance`` flags;
a person at a terminal then picks from a numbered list (and the session is opened again with the
choice), a script gets the refusal. Nothing is ever picked at random. The session itself runs
on the front end's terminal (``ctx.attach``; the CLI's is ``tui.exec_session``: websocket, raw
terminal, signals), imported only when it starts.
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import PlatParser

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

USAGE = "plat exec [WORKLOAD] [--instance ID] [-i] [-t] [--target ORG/PROJECT/APP/ENV] [-- CMD ...]"
DESCRIPTION = """\
Run CMD inside a running instance of the target env, or open the instance's shell (bash if the
image has it, else sh) with a TTY when no CMD is given. plat first prints, on stderr, which
instance it is in; its exit code is then the remote command's.

Choosing the instance: --instance ID (or a unique prefix) names it. Otherwise the running
instances of WORKLOAD (of the whole env without WORKLOAD) are the candidates: one is used; with
several, plat shows a numbered list when stdin and stderr are terminals, and refuses with the
exact --instance flags when they are not (scripts and CI). plat never picks one at random.
"""
EPILOG = """\
examples:
  plat exec web                          a shell in the only running instance of web
  plat exec web --instance 0197c3a1      a shell in that instance
  plat exec web -- ls -l /data           a command; its exit code becomes plat's
  echo hi | plat exec web -i -- cat      stdin piped in; end of input reaches the command
  plat instances web --json              the instances, for scripts

Exit codes before the command starts are plat's (see plat --help); after it starts, the
command's own. The session protocol is described in docs/exec.md.
"""


def _exec_options() -> argparse.ArgumentParser:
    # The shared target options bind -t to --target; here -t means a TTY, as in docker exec.
    parent = PlatParser(add_help=False)
    parent.add_argument("--json", action="store_true",
                        help="machine-readable banner and errors on stderr")
    scope = parent.add_argument_group("target (default: what `plat use` set)")
    scope.add_argument("--target", metavar="ORG/PROJECT/APP/ENV")
    scope.add_argument("--org")
    scope.add_argument("--project")
    scope.add_argument("--app")
    scope.add_argument("--env")
    parent.add_argument("--instance", metavar="ID",
                        help="the instance to use (an id or a unique prefix of one)")
    parent.add_argument("-i", "--interactive", action="store_true",
                        help="send stdin to the command (always on for a shell)")
    parent.add_argument("-t", "--tty", action="store_true",
                        help="run the command with a TTY (always on for a shell at a terminal)")
    return parent


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("instances", parents=[common],
                       help="the instances of the env or of one workload: id, release, health, age")
    p.add_argument("workload", nargs="?", help="only this workload's instances")
    p.set_defaults(handler=instances)

    p = sub.add_parser(
        "exec", parents=[_exec_options()], usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="run a command or open a shell inside a running instance",
    )
    # Everything after the options, '--' included, so "WORKLOAD -- CMD" is split unambiguously.
    p.add_argument("rest", nargs=argparse.REMAINDER, metavar="[WORKLOAD] [-- CMD ...]",
                   help="the workload, then -- and the command to run")
    p.set_defaults(handler=exec_command)


# --- plat instances ----------------------------------------------------------------------------


def instances(ctx: Ctx) -> int:
    from tui.render.instances import instance_lines

    target = ctx.target()
    body = ctx.client.get(ctx.client.env_path(target, "/instances"), workload=ctx.args.workload)
    listed = body["instances"]
    ctx.out(body, instance_lines(listed) if listed else [f"no instances in {target}"])
    return 0


# --- plat exec ---------------------------------------------------------------------------------


def exec_command(ctx: Ctx) -> int:
    from tui.exec_session import SessionRequest

    a = ctx.args
    workload, cmd = _split(a)
    target = ctx.target()
    shell = not cmd
    stdin = a.interactive or shell
    tty = a.tty or shell
    if tty and stdin and not ctx.terminal_input:
        if a.tty:
            # Imported only here: the renderer is otherwise imported while the session starts.
            from tui.render.instances import EXEC_WITHOUT_TTY

            ctx.note(EXEC_WITHOUT_TTY)
        tty = False
    api = ctx.settings.api
    if not api:
        _ = ctx.client  # says which daemon is missing and how to log in, as every command does
    # Not ctx.client: the HTTP client is not needed for a websocket.
    request = SessionRequest(
        api=api or "", token=ctx.settings.token, target=target, instance=a.instance,
        workload=workload, cmd=cmd, tty=tty, stdin=stdin, as_json=ctx.json,
    )
    try:
        return ctx.attach(request)
    except InvalidInput as e:
        # platd refuses to choose among several running instances; a person at a terminal
        # picks one, a script gets the refusal with the flags that name each.
        candidates = e.details.get("instances")
        if a.instance or not candidates or ctx.json or not ctx.interactive:
            raise
    chosen = _pick(ctx, candidates, workload, target)
    return ctx.attach(request._replace(instance=chosen["id"]))


def _split(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """WORKLOAD and CMD from what follows the first positional, '--' included.

    Options may also come after WORKLOAD (``plat exec web -i -- cat``): they are parsed here,
    into the same namespace, from the words before '--'.
    """
    rest: list[str] = args.rest
    at = rest.index("--") if "--" in rest else len(rest)
    before, cmd = rest[:at], rest[at + 1 :]
    tail = PlatParser(prog="plat exec", parents=[_exec_options()], add_help=False)
    tail.add_argument("workload", nargs="?")
    _, extra = tail.parse_known_args(before, namespace=args)
    if extra:
        guess = f"plat exec {args.workload} -- {' '.join(extra)}" if args.workload else None
        raise InvalidInput(
            f"plat exec takes one WORKLOAD before the command; unexpected: {' '.join(extra)}",
            hint=["the command goes after --, as in: plat exec web -- ls -l",
                  *([f"did you mean: {guess}"] if guess else [])],
        )
    if at < len(rest) and not cmd:
        raise InvalidInput("nothing after --: give the command to run, or drop -- for a shell")
    workload: str | None = args.workload
    return workload, cmd


def _pick(ctx: Ctx, running: list[dict[str, Any]], workload: str | None,
          target: str) -> dict[str, Any]:
    from tui.render.instances import exec_pick_again, exec_pick_list, exec_pick_prompt

    for line in exec_pick_list(running, workload, target):
        ctx.note(line)
    while True:
        answer = ctx.ask(exec_pick_prompt(len(running)))
        if answer is None:
            raise InvalidInput("no instance chosen", hint="pass --instance ID")
        choice = answer.strip()
        if choice.isdigit() and 1 <= int(choice) <= len(running):
            return running[int(choice) - 1]
        by_id = [i for i in running if choice and i["id"].startswith(choice)]
        if len(by_id) == 1:
            return by_id[0]
        ctx.note(exec_pick_again(len(running)))
