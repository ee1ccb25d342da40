"""Fixtures for the HTTP API tests: one real platd per module and a fresh env per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_support import make_env, start_daemon, stop_daemon


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``platd serve --runtime fake`` shared by the tests of one module."""
    d = start_daemon(tmp_path_factory.mktemp("platd"))
    try:
        yield d
    finally:
        stop_daemon(d)


@pytest.fixture
def fresh_env(api: Any) -> str:
    """ORG/shop/hello/prod in an org no other test uses (the sample manifest's app is hello)."""
    return make_env(api)
