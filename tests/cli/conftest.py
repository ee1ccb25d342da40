"""Fixtures for the ``plat`` program tests: one real platd per module, a config dir per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, make_env, start_daemon, stop_daemon


@pytest.fixture(scope="module")
def platd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``platd serve --runtime fake`` shared by the tests of one module."""
    d = start_daemon(tmp_path_factory.mktemp("platd"))
    try:
        yield d
    finally:
        stop_daemon(d)


@pytest.fixture
def cli(platd: Any, tmp_path: Path) -> Cli:
    """The real ``plat``, pointed at ``platd``, with a config directory of this test's own."""
    return Cli(platd, tmp_path / "plat-config")


@pytest.fixture
def target(platd: Any) -> str:
    """ORG/shop/hello/prod in an org no other test uses (the sample manifest's app is hello)."""
    return make_env(platd)
