"""The command runner every front end shares: a command line run in this process with an
injected ``Ctx`` says exactly what the ``plat`` program prints, byte for byte and stream for
stream, with the daemon and token given to it rather than read from the user's config file.

Each case runs the real ``plat`` as a subprocess and the same line through
``tui.cli.runner.run`` with a ``TranscriptCtx`` (what the web console and the TUI use), against
the same real platd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, satisfy_gate

from tui.cli import options
from tui.cli.context import ERR, OUT
from tui.cli.runner import run
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx

COLUMNS = "100"  # argparse wraps its help and usage to the terminal; the same width for both


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process without PLAT_* and with an empty config dir: whatever the runner uses
    must come from the settings the test injects."""
    for key in ("PLAT_API", "PLAT_TOKEN", "PLAT_TARGET", "PLAT_RECONNECT_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    config = tmp_path / "nobody"
    monkeypatch.setenv("PLAT_CONFIG_DIR", str(config))
    monkeypatch.setenv("COLUMNS", COLUMNS)
    monkeypatch.setattr(options, "_columns", None)
    return config


def transcript(platd: Any, *words: str, target: str | None = None) -> tuple[int, TranscriptCtx]:
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token, target))
    return run(list(words), ctx), ctx


def same_as_cli(cli: Cli, platd: Any, *words: str) -> TranscriptCtx:
    expected = cli(*words, COLUMNS=COLUMNS)
    code, ctx = transcript(platd, *words)
    assert (code, ctx.text(OUT), ctx.text(ERR)) == (expected.code, expected.out, expected.err)
    return ctx


def test_read_commands_say_what_the_cli_prints(cli: Cli, platd: Any, target: str,
                                               no_user_config: Path) -> None:
    satisfy_gate(platd, target)
    assert cli("secrets", "create", "extra", "--set", "K=v", "--target", target).code == 0
    for words in (
        ["config", "list", "--target", target],
        ["secrets", "list", "--target", target],
        ["secrets", "list", "--json", "--target", target],
        ["releases", "--target", target],
        ["events", "--limit", "20", "--target", target],
        ["events", "--json", "--target", target],
        ["envs", "list", target.rsplit("/", 1)[0]],
        ["whoami"],
    ):
        same_as_cli(cli, platd, *words)


def test_a_mutation_says_its_receipt_as_the_cli_does(cli: Cli, platd: Any, target: str,
                                                     no_user_config: Path) -> None:
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token))
    assert run(["config", "set", "A=1", "--target", target], ctx) == 0
    assert ctx.lines(OUT) == [f"config of {target} is now version 1: +A",
                              "it applies to the next release: plat deploy -f plat.toml"]
    r = cli("config", "set", "A=1", "--target", target)
    assert r.out == f"config of {target} unchanged (still version 1)\n"
    same_as_cli(cli, platd, "config", "set", "A=1", "--target", target)


def test_errors_help_and_usage_mistakes_are_said_as_the_cli_says_them(
        cli: Cli, platd: Any, target: str, no_user_config: Path) -> None:
    org = target.split("/")[0]
    ctx = same_as_cli(cli, platd, "releases", "--target", f"{org}/shop/hello/nope")
    assert ctx.text(OUT) == ""
    assert ctx.lines(ERR)[0].startswith("error: ")
    ctx = same_as_cli(cli, platd, "releases", "--json", "--target", f"{org}/shop/hello/nope")
    assert json.loads(ctx.text(ERR))["error"]["code"] == "not_found"
    same_as_cli(cli, platd, "status", "--help")  # help on stdout, exit 0
    same_as_cli(cli, platd, "status", "--bogus")  # usage and argparse's error on stderr, exit 2
    same_as_cli(cli, platd, "tokens")  # a group without its action
    code, ctx = transcript(platd, "--version")
    assert (code, ctx.text(OUT)) == (0, cli("--version").out)


def test_a_line_is_split_as_a_shell_would(platd: Any, target: str,
                                          no_user_config: Path) -> None:
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token))
    assert run(f"plat config set 'GREETING=hello world' --target {target}", ctx) == 0
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token))
    assert run(f"config list --target {target}", ctx) == 0
    assert "  GREETING=hello world" in ctx.lines(OUT)
    ctx = TranscriptCtx(FixedSettings(platd.url, platd.token))
    assert run("config set 'unclosed", ctx) == 2
    assert ctx.lines(ERR) == ["error: cannot read the command: No closing quotation"]


def test_settings_are_injected_and_the_users_file_is_left_alone(
        cli: Cli, platd: Any, target: str, no_user_config: Path) -> None:
    """The daemon and token come from the injected settings even when the user's own file
    names another daemon; what `use` and `login` set stays in those settings."""
    cli.config_dir.mkdir(parents=True)
    theirs = {"api": "http://127.0.0.1:9", "token": "plat_theirs", "target": "a/b/c/d"}
    (no_user_config).mkdir(parents=True)
    (no_user_config / "config.json").write_text(json.dumps(theirs))
    settings = FixedSettings(platd.url, platd.token)
    ctx = TranscriptCtx(settings)
    assert run(["use", target], ctx) == 0, ctx.text()
    assert settings.default_target == target
    ctx = TranscriptCtx(settings)
    assert run(["releases"], ctx) == 0, ctx.text()  # the target `use` set, in these settings
    assert ctx.lines(OUT) == [f"{target} has no releases yet"]
    ctx = TranscriptCtx(settings)
    assert run(["login", "--api", platd.url, "--token", platd.token], ctx) == 0
    assert ctx.lines(OUT)[-1] == "credentials saved in this session"
    assert json.loads((no_user_config / "config.json").read_text()) == theirs

    ctx = TranscriptCtx(FixedSettings(None, None))
    assert run(["releases", "--target", target], ctx) == 3
    assert ctx.lines(ERR)[0] == "error: plat does not know which daemon to talk to"


def test_a_question_goes_to_whoever_answers_the_front_end() -> None:
    """`plat exec` asks which instance when platd will not choose: through ``ask``, never
    the process's terminal; with nobody to answer, the refusal stands."""
    from platd.spec.errors import InvalidInput

    running = [{"id": f"inst{n}aaaaaa", "workload": "web", "release": "v1", "state": "running",
                "health": "healthy", "age_seconds": 60.0, "host": "host-0000-stable0001"}
               for n in (1, 2)]

    class Session(TranscriptCtx):
        attached: list[Any] = []

        def attach(self, request: Any) -> int:
            self.attached.append(request)
            if request.instance is None:
                raise InvalidInput("env a/b/c/d has 2 running instances",
                                   details={"instances": running})
            return 7

    settings = FixedSettings("http://127.0.0.1:9", "tok", "a/b/c/d")
    ctx = Session(settings, answers=["9", "inst2"])
    assert run(["exec", "web", "--", "true"], ctx) == 7
    assert [r.instance for r in ctx.attached] == [None, "inst2aaaaaa"]
    said = ctx.lines(ERR)
    assert said[0] == "workload web has 2 running instances; pick one (--instance ID skips this):"
    assert said[-3:] == ["instance [1-2]: 9", "  type a number from 1 to 2, or an instance id",
                         "instance [1-2]: inst2"]

    Session.attached = []
    ctx = Session(settings)  # nobody can answer: a script's refusal
    assert run(["exec", "web", "--", "true"], ctx) == 2
    assert ctx.lines(ERR) == ["error: env a/b/c/d has 2 running instances"]
