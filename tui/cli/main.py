"""``plat``: bare, the full-screen TUI; with a subcommand, a plain scriptable CLI.

Start-up time is part of the product, so this module imports only the standard library and
``platd.spec``; the TUI, the daemon and the HTTP client are imported by the commands that use
them.
"""

from __future__ import annotations

import argparse
import json
import sys

from platd import __version__
from platd.spec.errors import EXIT_CODES, PlatError
from tui.cli.options import PlatParser, target_options

EPILOG = "exit codes:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())


# Which module registers each command. With a known command, only its module is imported and
# only its parsers are built: building every subcommand's parser costs more than a round trip
# to platd (25 ms of a 45 ms start). A command missing here still works, through the full
# parser; tests/cli/test_command_modules.py keeps this table equal to what the modules register.
COMMAND_MODULES = {
    "login": "auth", "logout": "auth", "whoami": "auth", "tokens": "auth",
    "orgs": "tree", "projects": "tree", "apps": "tree", "envs": "tree", "use": "tree",
    "config": "config", "secrets": "config", "manifest": "deploy",
    "deploy": "deploy", "wait": "deploy", "releases": "deploy", "rollback": "deploy",
    "scale": "deploy",
    "status": "observe", "describe": "observe", "events": "observe",
    "instances": "exec", "exec": "exec",
    "logs": "logs",
    "volumes": "volumes",
    "endpoints": "endpoints", "exposed": "endpoints",
}
ALL_MODULES = tuple(dict.fromkeys(COMMAND_MODULES.values()))


def build_parser(modules: tuple[str, ...] = ALL_MODULES) -> argparse.ArgumentParser:
    """The parser with the commands of ``modules`` (all of them for ``plat --help``)."""
    import importlib

    parser = PlatParser(
        prog="plat", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run containers on small clusters of edge hosts. Without a command, opens "
        "the full-screen TUI.",
    )
    parser.add_argument("--version", action="version", version=f"plat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = target_options()
    for name in modules:
        importlib.import_module(f"tui.cli.commands.{name}").register(sub, common)
    sub.add_parser("daemon", help="run platd (the same program): plat daemon init|serve ...",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "daemon":
        from platd.cli import main as daemon_main

        return daemon_main(argv[1:], prog="plat daemon")
    if argv == ["--version"]:  # answered before any parser is built: scripts call it often
        print(f"plat {__version__}")
        return 0
    if not argv:
        from tui.app import run_tui

        return run_tui()
    module = COMMAND_MODULES.get(argv[0])
    parser = build_parser((module,) if module else ALL_MODULES)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from tui.cli.context import Ctx

    ctx = Ctx(args)
    try:
        return int(args.handler(ctx))
    except PlatError as e:
        report(e, as_json=ctx.json)
        return e.exit_code
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def report(e: PlatError, as_json: bool) -> None:
    if as_json:
        print(json.dumps(e.to_wire(), sort_keys=True), file=sys.stderr)
        return
    print(f"error: {e.message}", file=sys.stderr)
    for line in e.hint:
        print(f"  {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
