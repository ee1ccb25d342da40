"""A listening daemon (fake runtime) with a quick device flow, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from daemon_support import start_daemon, stop_daemon
from people_support import FAST


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    daemon = start_daemon(tmp_path_factory.mktemp("people"), settings=FAST)
    try:
        yield daemon
    finally:
        stop_daemon(daemon)
