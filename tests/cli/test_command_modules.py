"""The command table that lets ``plat CMD`` build only CMD's parser must match the modules.

A command missing from ``COMMAND_MODULES`` would still run (through the full parser) but pay
for every module's import; one mapped to the wrong module would not parse at all.
"""

from __future__ import annotations

import argparse

import pytest

from tui.cli.main import ALL_MODULES, COMMAND_MODULES, build_parser, main


def commands_of(parser: argparse.ArgumentParser) -> set[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices) - {"daemon"}


def test_every_command_is_in_the_table() -> None:
    assert commands_of(build_parser()) == set(COMMAND_MODULES)


@pytest.mark.parametrize("module", ALL_MODULES)
def test_each_module_registers_exactly_the_commands_the_table_gives_it(module: str) -> None:
    expected = {name for name, owner in COMMAND_MODULES.items() if owner == module}
    assert commands_of(build_parser((module,))) == expected


def test_a_command_parses_with_only_its_module(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["exec", "--help"])
    assert exit_.value.code == 0
    assert "plat exec [WORKLOAD]" in capsys.readouterr().out


@pytest.mark.parametrize("line", [["--help"], ["-h", "status"], []])
def test_the_top_level_help_names_every_command_as_the_whole_parser_does(
        line: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """``plat --help`` (and a command line with no command, as the TUI's palette may run)
    builds no command's parser, yet says exactly what the parser of every command would."""
    try:
        code = main(line)
    except SystemExit as e:
        code = e.code
    assert code == (2 if not line else 0)
    out = capsys.readouterr().out
    assert out == build_parser().format_help()
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert set(COMMAND_MODULES) <= listed


def test_an_unknown_option_is_refused_with_the_usage_of_every_command(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(build_parser().format_usage())
    assert "unrecognized arguments: --bogus" in err
