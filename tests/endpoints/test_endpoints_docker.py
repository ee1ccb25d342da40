"""Endpoints end to end on real Docker, for both drivers: the real plat, platd, the engine and
the registry. Traffic reaches the app over IPv6 and IPv4, is spread over instances, follows a
deploy, a rollback and scaling up and down without a refused or failed request, and a
long-lived connection survives an unrelated endpoint change."""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, _remove_containers
from tests.endpoints.conftest import DRIVERS, free_port
from tests.integration.helpers import HELLO_V2, manifest, ready_env, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(params=DRIVERS)
def ingress_daemon(request: pytest.FixtureRequest, tmp_path: Path, docker_services: None) -> Iterator[Daemon]:  # noqa: E501
    d = Daemon(data=tmp_path / "data", config_dir=tmp_path / "config", runtime="docker")
    d.init()
    (d.data / "platd.toml").write_text(f'ingress_driver = "{request.param}"\n')
    d.start()
    try:
        yield d
    finally:
        d.stop()
        _remove_containers(d.host_id)


def with_endpoint(path: Path, port: int, *, ipv4: bool = True) -> Path:
    path.write_text(path.read_text() + f"""
[[endpoints]]
name = "public"
workload = "web"
internal_port = 8080
external_ports = [{port}]
ipv4 = {str(ipv4).lower()}
""")
    return path


def get(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read().decode()
        assert r.status == 200, (r.status, body)
        return body
    finally:
        conn.close()


def serving_instances(d: Daemon) -> list[str]:
    e = d.plat("endpoints", "describe", "public", "--json").json()
    return [i["id"] for i in e["instances"] if i["serving"]]


def serving(host: str, port: int) -> bool:
    try:
        get(host, port)
    except (OSError, AssertionError, http.client.HTTPException):
        return False
    return True


def version_and_instance(body: str) -> tuple[str, str]:
    m = re.search(r"hello <b>(v\d)</b> from instance <code>(\w+)</code>", body)
    assert m, body
    return m.group(1), m.group(2)


class Hammer:
    """HTTP requests through the endpoint back to back; records versions and failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.versions: list[str] = []
        self.answers: list[tuple[float, str]] = []  # (when, instance)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version, instance = version_and_instance(get("::1", self.port))
                self.versions.append(version)
                self.answers.append((time.time(), instance))
            except (OSError, AssertionError, http.client.HTTPException) as e:
                self.failures.append(f"{time.time():.3f} {e!r}")
            time.sleep(0.01)

    def instances_since(self, t: float):  # type: ignore[no-untyped-def]
        return lambda: [i for at, i in self.answers if at >= t]

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_endpoint_end_to_end(ingress_daemon: Daemon, tmp_path: Path) -> None:
    d = ingress_daemon
    ready_env(d)
    port = free_port()
    r = d.plat("deploy", "-f", str(with_endpoint(manifest(tmp_path), port)))
    assert r.code == 0, (r.out, r.err)
    assert f"endpoint public created: [::1]:{port}, 127.0.0.1:{port}" in r.out

    wait_for(lambda: serving("::1", port), timeout=30)
    # IPv6 and IPv4 clients reach the app, and requests are spread over both instances.
    assert version_and_instance(get("127.0.0.1", port))[0] == "v1"
    instances = Counter(version_and_instance(get("::1", port))[1] for _ in range(20))
    assert len(instances) == 2, instances

    # A deploy and a rollback while requests keep coming: none refused, none failed.
    with Hammer(port) as hammer:
        time.sleep(0.5)
        r = d.plat("deploy", "-f", str(with_endpoint(manifest(tmp_path, image=HELLO_V2,
                                                               name="v2.toml"), port)))
        assert r.code == 0, (r.out, r.err)
        wait_for(lambda: hammer.versions[-5:] == ["v2"] * 5, timeout=60)
        r = d.plat("rollback")
        assert r.code == 0, (r.out, r.err)
        wait_for(lambda: hammer.versions[-5:] == ["v1"] * 5, timeout=60)
        # Scaling up adds instances to the set as they become healthy; down drains them.
        assert d.plat("scale", "web", "--count", "3").code == 0
        assert d.plat("wait", "--timeout", "60").code == 0
        wait_for(lambda: len(serving_instances(d)) == 3, timeout=30)
        seen = hammer.instances_since(time.time())
        wait_for(lambda: len(set(seen())) == 3, timeout=30)
        assert d.plat("scale", "web", "--count", "1").code == 0
        wait_for(lambda: len(serving_instances(d)) == 1, timeout=60)
        time.sleep(12)  # past the old instances' stop timeout: their draining is over
    assert hammer.failures == [], hammer.failures[:5]
    assert "v2" in hammer.versions
    assert len(hammer.versions) > 100

    # A connection opened before an unrelated endpoint change is still served after it.
    conn = socket.create_connection(("::1", port), timeout=10)
    try:
        other = free_port()
        assert d.plat("endpoints", "create", "other", "-w", "web", "--internal-port", "8080",
                      "-p", str(other), "--ipv4").code == 0
        wait_for(lambda: serving("127.0.0.1", other), timeout=20)
        assert d.plat("endpoints", "delete", "other", "--yes").code == 0
        time.sleep(1)
        conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
        assert b"200 OK" in data
        assert b"hello <b>v1</b>" in data
    finally:
        conn.close()


def test_ipv4_closed_unless_enabled(ingress_daemon: Daemon, tmp_path: Path) -> None:
    d = ingress_daemon
    ready_env(d)
    port = free_port()
    r = d.plat("deploy", "-f", str(with_endpoint(manifest(tmp_path, count=1), port, ipv4=False)))
    assert r.code == 0, (r.out, r.err)
    wait_for(lambda: serving("::1", port), timeout=30)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    ex = d.plat("exposed", "--json").json()["exposed"]
    assert [(x["family"], x["port"]) for x in ex] == [("ipv6", port)]
    # Onboarding ends with a request: status shows where it listens, check really asks.
    status = d.plat("status")
    assert f"public -> web: [::1]:{port} listening; 1 instance serving" in status.out
    r = d.plat("endpoints", "check", "public")
    assert r.code == 0, (r.out, r.err)
    lines = r.out.splitlines()
    assert re.match(rf"^Endpoint public of \S+: GET / to \[::1\]:{port} from host ", lines[0])
    assert re.match(r"^  answered  HTTP/1.[01] 200 OK$", lines[1]), lines[1]
    assert re.match(r"^  time      connect [\d.]+ ms, first byte [\d.]+ ms, total [\d.]+ ms$",
                    lines[2]), lines[2]
    body = get("::1", port)
    assert int(lines[3].split()[-1]) > len(body)  # the headers and the page
    assert "  PROXY     none (proxy_protocol off)" in lines


NGINX_PROXY = "127.0.0.1:5000/nginx-proxy:v1"
TAGS = "http://127.0.0.1:5000/v2/nginx-proxy/tags/list"


def test_proxy_v2_reaches_nginx_running_as_the_instance(ingress_daemon: Daemon, tmp_path: Path) -> None:  # noqa: E501
    """nginx (``listen 8080 proxy_protocol``) deployed by plat reports each client's address
    and port as the PROXY v2 header gave them, for IPv6 and IPv4 clients."""
    try:
        with urllib.request.urlopen(TAGS, timeout=2) as r:
            tags = r.read().decode()
    except OSError:
        tags = ""
    if '"v1"' not in tags:
        pytest.skip("no nginx-proxy image in the registry (scripts/dev-services builds it)")
    d = ingress_daemon
    d.make_env("acme/shop/edge/prod")
    assert d.plat("use", "acme/shop/edge/prod").code == 0
    port = free_port()
    path = tmp_path / "plat.toml"
    path.write_text(f"""app = "edge"
[workloads.nginx]
image = "{NGINX_PROXY}"
count = 1
memory = "64M"
[workloads.nginx.health]
tcp = 8080
[[endpoints]]
name = "public"
workload = "nginx"
internal_port = 8080
external_ports = [{port}]
ipv4 = true
proxy_protocol = "v2"
""")
    r = d.plat("deploy", "-f", str(path))
    assert r.code == 0, (r.out, r.err)
    assert "PROXY protocol v2" in r.out

    def ask(host: str) -> tuple[str, int] | None:
        try:
            with socket.create_connection((host, port), timeout=5) as c:
                local = c.getsockname()
                c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := c.recv(4096):
                    data += chunk
        except OSError:
            return None
        # Closed without a byte: HAProxy has not taken the new server in yet (ingress follows
        # the instance's health, a moment after the rollout's verdict). Ask again.
        return (data.decode(), int(local[1])) if data else None

    for client in ("::1", "127.0.0.1"):
        answer = wait_for(lambda c=client: ask(c), timeout=30)
        body, local_port = answer
        assert "200 OK" in body, body
        assert f"client={client} port={local_port}" in body, body
