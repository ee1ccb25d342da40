"""Fixtures for tests against the real Docker engine and the local registry.

The services come from ``scripts/dev-services``. Without them these tests skip with a message
saying so, except in CI (``CI`` set), where a missing service is a failure: a green CI run must
mean the runtime was really exercised.

pytest-asyncio is not a dependency; each test runs its coroutine with ``asyncio.run`` through the
``run`` fixture, which hands it a fresh ``DockerRuntime`` (aiohttp sessions belong to one loop).
Every container a test creates carries a host id unique to the test; the fixture removes them all
afterwards, and a session sweep removes anything this run left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from platd.runtime.base import LABELS, InstanceSpec, RuntimeError_
from platd.runtime.docker import DockerRuntime
from platd.runtime.registry import resolve_digest
from platd.spec.errors import ImageError

REGISTRY = "127.0.0.1:5000"
HELLO_V1 = f"{REGISTRY}/hello:v1"
RUN_ID = uuid.uuid4().hex[:8]
T = TypeVar("T")

Run = Callable[[Callable[[DockerRuntime], Awaitable[Any]]], Any]


def run_with_runtime(body: Callable[[DockerRuntime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = DockerRuntime()
        try:
            return await body(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


def _unavailable(message: str) -> None:
    message += "; start the services with scripts/dev-services"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_services() -> None:
    """The engine (through the socket DockerRuntime uses) and the registry answer.

    Overrides the suite-wide fixture of the same name so the engine is probed the way the code
    under test reaches it (aiodocker, honouring DOCKER_HOST), not through the docker CLI.
    """
    try:
        run_with_runtime(lambda rt: rt.capacity())
    except RuntimeError_ as exc:
        _unavailable(f"the Docker engine is not reachable ({exc})")
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3):
            pass
    except OSError as exc:
        _unavailable(f"the registry at {REGISTRY} is not reachable ({exc})")


@pytest.fixture(scope="session")
def hello_ref(docker_services: None) -> str:
    """hello:v1 as the registry pins it: ``127.0.0.1:5000/hello@sha256:...``."""
    try:
        return asyncio.run(resolve_digest(HELLO_V1))
    except ImageError as exc:
        _unavailable(f"the sample image is missing: {exc.message}")
        raise


@pytest.fixture(scope="session")
def hello_v1(hello_ref: str) -> str:
    """hello:v1 pinned by digest and pulled onto this host."""
    run_with_runtime(lambda rt: rt.pull(hello_ref))
    return hello_ref


@pytest.fixture(scope="session")
def _sweep_run() -> Iterator[None]:
    yield
    prefix = f"test-{RUN_ID}-"

    async def sweep(rt: DockerRuntime) -> None:
        docker = rt._client()
        filters = f'{{"label": ["{LABELS["managed"]}=1"]}}'
        for container in await docker.containers.list(all=True, filters=filters):
            labels = container["Labels"] or {}
            if str(labels.get(LABELS["host"], "")).startswith(prefix):
                await rt.remove(container.id)

    run_with_runtime(sweep)


_host_numbers = itertools.count(1)


@pytest.fixture
def host_id(docker_services: None, _sweep_run: None) -> Iterator[str]:
    """A host id unique to this test; its containers are removed when the test ends."""
    host = f"test-{RUN_ID}-{next(_host_numbers)}"
    yield host

    async def cleanup(rt: DockerRuntime) -> None:
        for container in await rt.list_instances(host):
            await rt.remove(container.container_id)

    run_with_runtime(cleanup)


@pytest.fixture
def run() -> Run:
    """Run ``async def body(runtime)`` to completion with a fresh DockerRuntime."""
    return run_with_runtime


@pytest.fixture
def make_spec(host_id: str, hello_v1: str) -> Callable[..., InstanceSpec]:
    """Build an InstanceSpec for hello:v1 on this test's host; keywords override fields."""
    numbers = itertools.count(1)

    def make(**overrides: Any) -> InstanceSpec:
        instance = f"i{RUN_ID}{next(numbers)}"
        base = InstanceSpec(
            instance_id=instance,
            host_id=host_id,
            env_id="env-test",
            env_path="test/runtime/hello/dev",
            workload="web",
            release_id="rel-test",
            spec_hash="spec-test",
            image=hello_v1,
            command=None,
            env={"GREETING": "hello from the test", "PLAT_INSTANCE": instance},
            cpu=0.25,
            memory=64 * 1024 * 1024,
        )
        return replace(base, **overrides)

    return make
