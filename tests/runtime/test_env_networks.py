"""Isolation between envs (and so between orgs) on the real engine: each env's instances live on
their own bridge network, so an instance of org A cannot connect to one of org B, while the host
(health probes, the ingress data plane) and the env's own instances still can."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from platd.runtime import env_firewall
from platd.runtime.base import InstanceSpec, ObservedContainer
from platd.runtime.docker import DockerRuntime
from platd.runtime.docker_networks import DEFAULT_POOL, DEFAULT_PREFIX, free_subnet, network_name

docker = pytest.mark.docker
SpecFactory = Callable[..., InstanceSpec]
Run = Callable[[Callable[[DockerRuntime], Awaitable[Any]]], Any]
GET = "printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} 8080"


async def _run_in(rt: DockerRuntime, container_id: str, script: str) -> tuple[int | None, str]:
    session = await rt.exec(container_id, ["sh", "-c", script], tty=False, stdin=False)
    out = bytearray()
    try:
        while (chunk := await session.read()) is not None:
            out += chunk[1]
        return await session.wait(), out.decode(errors="replace")
    finally:
        await session.close()


async def _running(rt: DockerRuntime, host_id: str, count: int) -> list[ObservedContainer]:
    deadline = time.monotonic() + 30
    while True:
        seen = [o for o in await rt.list_instances(host_id) if o.state == "running" and o.ip]
        if len(seen) == count:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"instances did not start: {seen}")
        await asyncio.sleep(0.1)


async def _gone(rt: DockerRuntime, env_id: str) -> None:
    deadline = time.monotonic() + 10
    while await rt.networks._exists(network_name(env_id)):
        assert time.monotonic() < deadline, f"the network of {env_id} outlived its last instance"
        await asyncio.sleep(0.05)


def _host_reaches(ip: str) -> str:
    with socket.create_connection((ip, 8080), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        return conn.recv(200).decode(errors="replace")


@docker
def test_an_instance_of_org_a_cannot_connect_to_an_instance_of_org_b(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    env_a, env_b = f"env-a-{uuid.uuid4().hex[:8]}", f"env-b-{uuid.uuid4().hex[:8]}"
    server_a = make_spec(env_id=env_a, env_path="org-a/shop/web/prod")
    sibling_a = make_spec(env_id=env_a, env_path="org-a/shop/web/prod", workload="worker")
    intruder_b = make_spec(env_id=env_b, env_path="org-b/evil/probe/prod")

    async def body(rt: DockerRuntime) -> None:
        for spec in (server_a, sibling_a, intruder_b):
            await rt.start(await rt.create(spec))
        observed = {o.instance_id: o for o in await _running(rt, host_id, 3)}
        target = observed[server_a.instance_id]
        assert target.ip is not None

        code, out = await _run_in(rt, observed[intruder_b.instance_id].container_id,
                                  GET.format(target=target.ip))
        assert code != 0, out
        assert "200 OK" not in out

        # The same probe from the env's own instance works (by address and by workload name):
        # the refusal above is isolation, not a broken probe.
        for where in (target.ip, "web"):
            code, out = await _run_in(rt, observed[sibling_a.instance_id].container_id,
                                      GET.format(target=where))
            assert code == 0, (where, out)
            assert "200 OK" in out, where

        # Health probes and the ingress data plane connect from the host to the instance's
        # address: that path stays open.
        assert "200 OK" in await asyncio.to_thread(_host_reaches, target.ip)

        raw = await rt._client().containers.container(target.container_id).show()
        assert list(raw["NetworkSettings"]["Networks"]) == [network_name(env_a)]

        # The env's network goes with its last instance (after release_delay).
        rt.networks.release_delay = 0.05
        await rt.remove(observed[intruder_b.instance_id].container_id)
        await _gone(rt, env_b)

    run(body)


TABLE = env_firewall.table_name(DEFAULT_POOL)


def _needs_root() -> None:
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("nft and iptables need root")


def _open_docker_for(source: str, dest: str, tag: str, *, close: bool = False) -> None:
    """An ACCEPT in DOCKER-USER, the chain Docker jumps to first from FORWARD: Docker's own
    isolation rules never see this pair's packets."""
    subprocess.run(["iptables", "-D" if close else "-I", "DOCKER-USER", "-s", source, "-d", dest,
                    "-m", "comment", "--comment", tag, "-j", "ACCEPT"],
                   check=not close, capture_output=True)


def _drops() -> int:
    """Packets plat's table has dropped since it was loaded."""
    listed = subprocess.run(["nft", "list", "chain", "inet", TABLE, "forward"],
                            capture_output=True, text=True, check=True).stdout
    found = re.search(r"counter packets (\d+)", listed)
    assert found, listed
    return int(found[1])


@docker
def test_envs_stay_apart_while_dockers_own_isolation_is_open(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    """Docker deletes and re-inserts the jump to its isolation rules whenever any network is
    created; CI once saw an instance of one org fetch a page from another's in that moment.
    Here Docker's rules are opened for exactly one pair of instances, and plat's own table
    still keeps them apart: the probe fails, and the table counts the packets it dropped."""
    _needs_root()
    env_a, env_b = f"env-a-{uuid.uuid4().hex[:8]}", f"env-b-{uuid.uuid4().hex[:8]}"
    server_a = make_spec(env_id=env_a, env_path="org-a/shop/web/prod")
    intruder_b = make_spec(env_id=env_b, env_path="org-b/evil/probe/prod")
    tag = f"plat-test-{uuid.uuid4().hex[:8]}"

    async def body(rt: DockerRuntime) -> None:
        for spec in (server_a, intruder_b):
            await rt.start(await rt.create(spec))
        observed = {o.instance_id: o for o in await _running(rt, host_id, 2)}
        target, intruder = observed[server_a.instance_id], observed[intruder_b.instance_id]
        assert target.ip is not None
        assert intruder.ip is not None
        pairs = ((intruder.ip, target.ip), (target.ip, intruder.ip))
        try:
            for pair in pairs:
                _open_docker_for(*pair, tag)
            before = _drops()
            code, out = await _run_in(rt, intruder.container_id, GET.format(target=target.ip))
            assert code != 0, out
            assert "200 OK" not in out
            assert _drops() > before
        finally:
            for pair in pairs:
                _open_docker_for(*pair, tag, close=True)

    run(body)


@docker
def test_the_table_is_loaded_again_before_a_network_is_made_once_it_has_gone(
    run: Run, make_spec: SpecFactory
) -> None:
    """A reboot or an ``nft flush ruleset`` takes the table away."""
    _needs_root()
    spec = make_spec(env_id=f"env-d-{uuid.uuid4().hex[:8]}", env_path="org-d/p/a/e")

    async def body(rt: DockerRuntime) -> None:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], capture_output=True)
        try:
            assert not env_firewall.loaded(DEFAULT_POOL)
            await rt.create(spec)
            assert env_firewall.loaded(DEFAULT_POOL)
        finally:
            assert env_firewall.ensure(DEFAULT_POOL, DEFAULT_PREFIX) is None

    run(body)


def test_a_table_of_that_name_without_this_platds_rule_is_replaced() -> None:
    """An older platd's table, or one damaged in place: loaded again, not taken as it is."""
    _needs_root()
    hollow = (f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
              "\tchain forward {\n\t\ttype filter hook forward priority filter - 10; "
              "policy accept;\n\t}\n}\n")
    try:
        subprocess.run(["nft", "-f", "-"], input=hollow, text=True, check=True)
        assert not env_firewall.loaded(DEFAULT_POOL)
    finally:
        assert env_firewall.ensure(DEFAULT_POOL, DEFAULT_PREFIX) is None
    assert env_firewall.loaded(DEFAULT_POOL)


def test_the_table_drops_only_traffic_between_two_subnets_of_the_pool() -> None:
    script = env_firewall.render("10.213.0.0/22", 24)
    name = "plat_envs_10_213_0_0_22"
    assert f"table inet {name}\ndelete table inet {name}\ntable inet {name} {{" in script
    assert ("elements = { 10.213.0.0/24 . 10.213.0.0/24, 10.213.1.0/24 . 10.213.1.0/24, "
            "10.213.2.0/24 . 10.213.2.0/24, 10.213.3.0/24 . 10.213.3.0/24 }") in script
    assert ("ip saddr 10.213.0.0/22 ip daddr 10.213.0.0/22 ip saddr . ip daddr != @same_env "
            "counter drop") in script
    assert "type filter hook forward priority filter - 10; policy accept;" in script


def test_free_subnet_skips_every_overlap() -> None:
    assert free_subnet("10.213.0.0/16", 24, []) == "10.213.0.0/24"
    taken = ["10.213.0.0/24", "10.213.1.128/25", "172.17.0.0/16", "fd00::/64", "junk"]
    assert free_subnet("10.213.0.0/16", 24, taken) == "10.213.2.0/24"
    assert free_subnet("10.213.0.0/23", 24, taken) is None
    assert free_subnet("10.0.0.0/8", 24, ["10.0.0.0/9"]) == "10.128.0.0/24"


@docker
def test_a_stopped_instance_keeps_its_envs_network_and_starts_again(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    env = f"env-c-{uuid.uuid4().hex[:8]}"
    crashed, sibling = (make_spec(env_id=env, env_path="org-c/p/a/e") for _ in range(2))

    async def body(rt: DockerRuntime) -> None:
        rt.networks.release_delay = 0.05
        ids = [await rt.create(s) for s in (crashed, sibling)]
        for cid in ids:
            await rt.start(cid)
        await rt.stop(ids[0], timeout=1)  # exited: the engine no longer counts it as a user
        await rt.remove(ids[1])
        await asyncio.sleep(0.5)  # well past release_delay
        assert await rt.networks._exists(network_name(env))
        await rt.start(ids[0])
        (again,) = await _running(rt, host_id, 1)
        assert again.container_id == ids[0]
        await rt.remove(ids[0])
        await _gone(rt, env)

    run(body)


@docker
def test_a_known_network_is_not_looked_up_again_and_one_removed_behind_platds_back_returns(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    env = f"env-d-{uuid.uuid4().hex[:8]}"
    first, second, third = (make_spec(env_id=env, env_path="org-d/p/a/e") for _ in range(3))

    async def body(rt: DockerRuntime) -> None:
        a = await rt.create(first)
        lookups: list[str] = []
        real_exists = rt.networks._exists

        async def spy(name: str) -> bool:
            lookups.append(name)
            return await real_exists(name)

        rt.networks._exists = spy  # type: ignore[method-assign]
        b = await rt.create(second)
        assert lookups == [], "the env's network was made by this runtime: no lookup"
        for cid in (a, b):
            await rt.remove(cid)
        # Removed behind platd's back (its containers are gone, so the engine lets it go).
        client = rt._client()
        await (await client.networks.get(network_name(env))).delete()
        c = await rt.create(third)
        await rt.start(c)
        (running,) = await _running(rt, host_id, 1)
        assert running.container_id == c
        assert await real_exists(network_name(env))

    run(body)


@docker
def test_an_instance_an_older_platd_left_on_the_default_bridge_moves_to_its_env_network(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    from platd.runtime.docker_shapes import container_config

    env = f"env-d-{uuid.uuid4().hex[:8]}"
    old = make_spec(env_id=env, env_path="org-d/p/a/e")

    async def body(rt: DockerRuntime) -> None:
        # As a platd without per-env networks created it: on Docker's default bridge.
        created = await rt._client().containers.create(container_config(old, None),
                                                       name=old.container_name)
        await rt.start(created.id)
        (seen,) = await _running(rt, host_id, 1)  # the first listing of this platd run
        raw = await rt._client().containers.container(created.id).show()
        assert list(raw["NetworkSettings"]["Networks"]) == [network_name(env)]
        assert raw["State"]["Running"]
        assert seen.ip == raw["NetworkSettings"]["Networks"][network_name(env)]["IPAddress"]
        assert "200 OK" in await asyncio.to_thread(_host_reaches, seen.ip)

    run(body)


@docker
@pytest.mark.parametrize("kind", ["builtin", "haproxy"])
def test_both_data_planes_reach_an_instance_on_its_env_network(
    run: Run, make_spec: SpecFactory, host_id: str, tmp_path: Path, kind: str
) -> None:
    import shutil

    from platd.ingress.controller import make_driver
    from platd.ingress.model import Backend, IngressConfig, Listener

    if kind == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    spec = make_spec(env_id=f"env-e-{uuid.uuid4().hex[:8]}", env_path="org-e/p/a/e")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def body(rt: DockerRuntime) -> str:
        await rt.start(await rt.create(spec))
        (seen,) = await _running(rt, host_id, 1)
        assert seen.ip is not None
        driver = make_driver(kind, tmp_path / "ingress")
        await driver.start()
        try:
            listener = Listener("ipv4", "127.0.0.1", port, "ep", "org-e/p/a/e web", False,
                                (Backend(seen.ip, 8080, seen.instance_id),))
            result = await driver.apply(IngressConfig((listener,)))
            assert not result.failed, result.failed
            deadline = time.monotonic() + 20
            while True:
                try:
                    return await asyncio.to_thread(_get_through, port)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await driver.close()

    assert "200 OK" in run(body)


def _get_through(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        answer = conn.recv(200).decode(errors="replace")
    if not answer:
        raise ConnectionResetError("no answer yet")
    return answer


@docker
def test_duplicate_networks_of_one_env_made_by_racing_daemons_are_settled_to_one(
    run: Run, make_spec: SpecFactory, host_id: str
) -> None:
    # Several daemons sharing an engine can each create the env's network at once: the
    # engine's duplicate check is not atomic (found by tests/cluster/test_docker_cluster.py).
    env = f"env-e-{uuid.uuid4().hex[:8]}"
    spec = make_spec(env_id=env, env_path="org-e/p/a/e")
    name = network_name(env)

    async def body(rt: DockerRuntime) -> None:
        client = rt.networks._client()
        for subnet in ("10.213.250.0/24", "10.213.251.0/24"):
            await client.networks.create({"Name": name, "CheckDuplicate": False,
                                          "Labels": {"dev.plat.managed": "1",
                                                     "dev.plat.env": env},
                                          "IPAM": {"Config": [{"Subnet": subnet}]}})
        try:
            cid = await rt.create(spec)
            await rt.start(cid)
            (_,) = await _running(rt, host_id, 1)
            listed = await client.networks.list(filters={"name": [name]})
            assert [n["Name"] for n in listed] == [name]
            rt.networks.release_delay = 0.05
            await rt.remove(cid)
            await _gone(rt, env)
        finally:
            for n in await client.networks.list(filters={"name": [name]}):
                with contextlib.suppress(Exception):
                    await (await client.networks.get(n["Id"])).delete()

    run(body)
