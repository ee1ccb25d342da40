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
