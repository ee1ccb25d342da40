"""plat exec and plat instances: commands and shells inside a running instance, said where.

Choosing the instance is visible and scriptable: one running instance is used; several make a
person at a terminal pick from a numbered list, and make a script stop with the exact
``--instance`` flags to pass; nothing is ever picked at random. The session itself (websocket,
raw terminal, signals) lives in ``tui.exec_session``, imported only when a session starts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from platd.spec.errors import Conflict, InvalidInput, NotFound
from tui.cli.context import Ctx
from tui.render import instance_lines

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
    parent = argparse.ArgumentParser(add_help=False)
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
    target = ctx.target()
    listed = list_instances(ctx, target, ctx.args.workload)
    body = {"target": target, "workload": ctx.args.workload, "instances": listed}
    lines = instance_lines(listed) if listed else [f"no instances in {target}"]
    ctx.out(body, lines)
    return 0


def list_instances(ctx: Ctx, target: str, workload: str | None) -> list[dict[str, Any]]:
    status = ctx.client.get(ctx.client.env_path(target, "/status"))
    names = [w["name"] for w in status["workloads"]]
    if workload is not None and workload not in names:
        raise NotFound(f"no workload {workload!r} in {target} (workloads there: "
                       f"{', '.join(names) or 'none'})",
                       hint=f"see them with: plat status --target {target}")
    return [i for w in status["workloads"] for i in w["instances"]
            if workload is None or w["name"] == workload]


# --- plat exec ---------------------------------------------------------------------------------


def exec_command(ctx: Ctx) -> int:
    a = ctx.args
    workload, cmd = _split(a)
    target = ctx.target()
    shell = not cmd
    stdin = a.interactive or shell
    tty = a.tty or shell
    if tty and stdin and not sys.stdin.isatty():
        if a.tty:
            print("plat: stdin is not a terminal, so the command runs without a TTY",
                  file=sys.stderr)
        tty = False
    instance = a.instance or choose_instance(ctx, target, workload)["id"]

    from tui import exec_session

    request = exec_session.SessionRequest(
        api=ctx.client.api, token=ctx.client.token, target=target, instance=instance,
        workload=workload, cmd=cmd, tty=tty, stdin=stdin, as_json=ctx.json,
    )
    return exec_session.run(request)


def _split(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """WORKLOAD and CMD from what follows the first positional, '--' included.

    Options may also come after WORKLOAD (``plat exec web -i -- cat``): they are parsed here,
    into the same namespace, from the words before '--'.
    """
    rest: list[str] = args.rest
    at = rest.index("--") if "--" in rest else len(rest)
    before, cmd = rest[:at], rest[at + 1 :]
    tail = argparse.ArgumentParser(prog="plat exec", parents=[_exec_options()], add_help=False)
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


def choose_instance(ctx: Ctx, target: str, workload: str | None) -> dict[str, Any]:
    """The running instance to exec into: the only one, the one picked, or a refusal."""
    listed = list_instances(ctx, target, workload)
    what = f"workload {workload}" if workload else f"env {target}"
    running = [i for i in listed if i["state"] == "running"]
    if len(running) == 1:
        return running[0]
    if not running:
        states = ", ".join(f"{i['id']} is {i['state']}" for i in listed) or "it has none"
        raise Conflict(f"no running instance of {what} to exec into ({states})",
                       hint=f"see why with: plat status --target {target}")
    if sys.stdin.isatty() and sys.stderr.isatty() and not ctx.json:
        return _pick(running, what)
    flags = [f"  plat exec {i['workload']} --instance {i['id']} --target {target}"
             for i in running]
    raise InvalidInput(
        f"{what} has {len(running)} running instances and plat does not pick one at random",
        hint=["instances:", *(f"  {line}" for line in instance_lines(running)),
              "run again naming one:", *flags],
        details={"target": target, "instances": running},
    )


def _pick(running: list[dict[str, Any]], what: str) -> dict[str, Any]:
    print(f"{what} has {len(running)} running instances; pick one (--instance ID skips this):",
          file=sys.stderr)
    header, *rows = instance_lines(running)
    print(f"     {header}", file=sys.stderr)
    for n, row in enumerate(rows, start=1):
        print(f"  {n:>2} {row}", file=sys.stderr)
    answers: TextIO
    try:
        answers = open("/dev/tty")  # noqa: SIM115 - closed below; stdin may be redirected
    except OSError:
        answers = sys.stdin
    try:
        while True:
            print(f"instance [1-{len(running)}]: ", end="", file=sys.stderr, flush=True)
            line = answers.readline()
            if not line:
                raise InvalidInput("no instance chosen", hint="pass --instance ID")
            choice = line.strip()
            if choice.isdigit() and 1 <= int(choice) <= len(running):
                return running[int(choice) - 1]
            by_id = [i for i in running if choice and i["id"].startswith(choice)]
            if len(by_id) == 1:
                return by_id[0]
            print(f"  type a number from 1 to {len(running)}, or an instance id",
                  file=sys.stderr)
    finally:
        if answers is not sys.stdin:
            answers.close()
