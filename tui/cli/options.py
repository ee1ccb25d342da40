"""Options shared by many subcommands, as argparse parent parsers."""

from __future__ import annotations

import argparse


def json_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parent


def target_options() -> argparse.ArgumentParser:
    """--json plus the target env: --target ORG/PROJECT/APP/ENV or one level at a time."""
    parent = json_options()
    scope = parent.add_argument_group("target (default: what `plat use` set)")
    scope.add_argument("--target", "-t", metavar="ORG/PROJECT/APP/ENV")
    scope.add_argument("--org")
    scope.add_argument("--project")
    scope.add_argument("--app")
    scope.add_argument("--env")
    return parent
