"""Command handlers reach the world only through their ``Ctx``: no print, no stdin, stdout or
stderr, no ``/dev/tty``, no config file or environment of their own. That is what lets the
TUI's palette and the web console run the CLI's handlers and show their words.

Two checks: every handler module read as source (so a new command cannot slip by), and the
handlers run for real, through the runner, against a real platd while the process's own
streams and terminal refuse to be touched.
"""

from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_support import MANIFEST, ROOT, satisfy_gate

from tui.cli.context import ERR, OUT
from tui.cli.runner import ALL_MODULES, run
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx

COMMANDS = ROOT / "tui" / "cli" / "commands"
STREAMS = {"stdin", "stdout", "stderr", "__stdin__", "__stdout__", "__stderr__"}
SETTINGS_READS = {"load", "save", "api", "token", "default_target"}
TERMINAL_CALLS = {("os", "write"), ("os", "read"), ("os", "dup2"), ("os", "isatty"),
                  ("os", "getenv"), ("os", "open")}


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("print", "input", "breakpoint"):
            found.append(f"{where}: {node.func.id}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            pair = (node.value.id, node.attr)
            if node.value.id == "sys" and node.attr in STREAMS:
                found.append(f"{where}: sys.{node.attr}")
            elif pair in TERMINAL_CALLS or pair == ("os", "environ"):
                found.append(f"{where}: {'.'.join(pair)}")
            elif node.value.id == "settings" and node.attr in SETTINGS_READS:
                found.append(f"{where}: settings.{node.attr} (use ctx.settings)")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                "/dev/tty" in node.value:
            found.append(f"{where}: /dev/tty")
    return found


def test_the_checker_finds_what_it_looks_for() -> None:
    bad = ("import sys, os\nprint('x')\nsys.stderr.write('y')\nopen('/dev/tty')\n"
           "os.environ.get('PLAT_API')\nsettings.load()\ninput()\n")
    assert len(offences(bad)) == 6


@pytest.mark.parametrize("module", ALL_MODULES)
def test_no_handler_module_prints_reads_a_terminal_or_the_config(module: str) -> None:
    assert offences((COMMANDS / f"{module}.py").read_text()) == []


class Refuse:
    """A stream that fails the test when anything uses it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        raise AssertionError(f"a handler used sys.{self.name}.{attr}")


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No stdout, stderr or stdin, no /dev/tty, no user config: only the Ctx is left."""
    for name in ("stdout", "stderr", "stdin"):
        monkeypatch.setattr(sys, name, Refuse(name))
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == "/dev/tty" or str(file).endswith("config.json"):
            raise AssertionError(f"a handler opened {file}")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    for key in ("PLAT_API", "PLAT_TOKEN", "PLAT_TARGET"):
        monkeypatch.delenv(key, raising=False)


def test_handlers_run_with_only_their_ctx(platd: Any, target: str, tmp_path: Path,
                                          sealed: None) -> None:
    satisfy_gate(platd, target)
    org = target.split("/")[0]
    settings = FixedSettings(platd.url, platd.token, target)
    manifest = tmp_path / "plat.toml"
    manifest.write_text(Path(MANIFEST).read_text())

    def said(*words: str) -> TranscriptCtx:
        ctx = TranscriptCtx(settings)
        code = run(list(words), ctx)
        assert code == 0, (words, ctx.text())
        return ctx

    deploy = said("deploy", "-f", str(manifest))  # the receipt, then the rollout followed
    assert deploy.lines(OUT)[0].startswith("Release v1 (")
    assert deploy.lines(OUT)[-1] == "release v1 converged: every instance is running and healthy"
    for words in (
        ["manifest", "check", "-f", str(manifest)], ["wait"], ["releases"], ["status"],
        ["describe", "release", "v1"], ["describe", "workload", "web"], ["instances"],
        ["events", "--limit", "5"], ["logs", "--limit", "5"], ["scale", "web", "--count", "1"],
        ["config", "list"], ["secrets", "list"], ["secrets", "describe", "db"],
        ["endpoints", "list"], ["volumes", "list"], ["exposed", org], ["whoami"],
        ["tokens", "list"], ["orgs", "list"], ["envs", "list"], ["use", target],
        ["--help"],
    ):
        ctx = said(*words)
        assert ctx.text(OUT), words
    ctx = TranscriptCtx(settings)
    assert run(["describe", "release", "v9"], ctx) == 4
    assert ctx.text(OUT) == ""
    assert ctx.lines(ERR)[0].startswith("error: ")
