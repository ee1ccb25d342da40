"""Fixtures for the HTTP API tests: one daemon per module, in this process, and a fresh env per
test.

The daemon is assembled in the test process (``tests/daemon_support.Hosts``) on the fake
runtime and the fake data plane, and answers through Litestar's test client: these tests are
about what the API says, not about the process around it. ``test_real_platd.py`` proves the
same daemon as a real ``platd serve``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_support import make_env
from daemon_support import local_daemon


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A daemon with the fake runtime, shared by the tests of one module."""
    with local_daemon(tmp_path_factory.mktemp("platd")) as d:
        yield d


@pytest.fixture
def fresh_env(api: Any) -> str:
    """ORG/shop/hello/prod in an org no other test uses (the sample manifest's app is hello)."""
    return make_env(api)
