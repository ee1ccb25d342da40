"""Fixtures for cluster tests: network namespaces (``make_lab``) and the Serf program.

Tests that need namespaces skip with the reason when the machine cannot make them (not root,
no ``ip netns``, no iptables, no serf) and fail instead under CI=true, where they must run,
as tests/conftest.py does for the Docker services. Unit tests in this directory need nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.netns import Lab, netns_problem, sweep_stale


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def netns_ready() -> None:
    """Namespaces can be made here; stale ones from killed runs are swept first."""
    problem = netns_problem()
    if problem is not None:
        _unavailable(problem)
    sweep_stale()


@pytest.fixture(scope="session")
def serf_program(netns_ready: None) -> str:
    serf = shutil.which("serf")
    if serf is None:
        _unavailable("serf is not installed (scripts/setup installs the Debian package serf)")
    assert serf is not None
    return serf


@pytest.fixture
def make_lab(netns_ready: None) -> Iterator[Callable[[int], Lab]]:
    """``make_lab(3)``: a lab of 3 namespaces, destroyed (processes killed) after the test."""
    labs: list[Lab] = []

    def make(size: int) -> Lab:
        lab = Lab(size)
        labs.append(lab)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            lab.destroy()
