"""plat endpoints and plat exposed against platd (fake runtime, the built-in data plane, in
this process): details, refusals, and that a refusal leaves nothing half-configured."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_support import LocalDaemon as Daemon
from tests.daemon_support import start_daemon, stop_daemon
from tests.endpoints.conftest import first_line, free_port

TARGET = "acme/shop/hello/prod"


def manifest(tmp: Path, *, endpoints: str = "", name: str = "plat.toml") -> Path:
    path = tmp / name
    path.write_text(f"""app = "hello"
[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 2
ports = [9000]
[workloads.web.health]
tcp = 8080
{endpoints}""")
    return path


def start(tmp_path: Path, settings: str = "") -> Daemon:
    d: Daemon = start_daemon(tmp_path, settings)
    d.make_env(TARGET)
    assert d.plat("use", TARGET).code == 0
    return d


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start(tmp_path)
    try:
        yield d
    finally:
        stop_daemon(d)


def endpoints_of(d: Daemon) -> list[dict]:  # type: ignore[type-arg]
    r = d.plat("endpoints", "list", "--json")
    assert r.code == 0, r.err
    return r.json()["endpoints"]  # type: ignore[no-any-return]


def test_create_prints_addresses_and_notes_and_exposed_lists_it(
    fake_daemon: Daemon, tmp_path: Path,
) -> None:
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    port = free_port()
    r = d.plat("endpoints", "create", "public", "-w", "web", "--internal-port", "8080",
               "-p", str(port), "--ipv4", "--proxy-protocol", "v2")
    assert r.code == 0, r.err
    assert f"IPv6      ::1  port(s) {port}" in r.out
    assert f"IPv4      127.0.0.1  port(s) {port}" in r.out
    assert "PROXY protocol v2: every connection" in r.out
    assert "TLS is the app's responsibility" in r.out
    assert r.out.splitlines()[-1] == \
        f"  curl -g --haproxy-protocol http://[::1]:{port}/   # if the app speaks HTTP"

    admin_port = free_port()
    r = d.plat("endpoints", "create", "admin", "-w", "web", "--internal-port", "9000",
               "-p", str(admin_port))
    assert r.code == 0, r.err
    assert "IPv4      off" in r.out
    assert r.out.splitlines()[-1] == \
        f"  curl -g http://[::1]:{admin_port}/   # if the app speaks HTTP"

    ex = d.plat("exposed", "--json").json()
    rows = {(x["family"], x["endpoint"]) for x in ex["exposed"]}
    assert rows == {("ipv6", "public"), ("ipv4", "public"), ("ipv6", "admin")}
    public6 = next(x for x in ex["exposed"] if x["endpoint"] == "public")
    assert public6["target"] == TARGET
    assert public6["proxy_protocol"] == "v2"
    assert len(public6["instances"]) == 2  # the fake runtime's two healthy instances
    table = d.plat("exposed").out
    assert table.splitlines()[0].split() == ["FAMILY", "ADDRESS", "PORT", "PROTO", "PROXY", "ENV",
                                             "WORKLOAD", "ENDPOINT", "INSTANCES"]

    desc = d.plat("endpoints", "describe", "public", "--json").json()
    assert desc["addresses"] == [f"[::1]:{port}", f"127.0.0.1:{port}"]
    assert d.plat("endpoints", "delete", "admin", "--yes").code == 0
    assert [e["name"] for e in endpoints_of(d)] == ["public"]


def test_manifest_endpoints_follow_deploys_and_rollbacks(
    fake_daemon: Daemon, tmp_path: Path,
) -> None:
    d = fake_daemon
    port = free_port()
    block = f"""[[endpoints]]
name = "public"
workload = "web"
internal_port = 8080
external_ports = [{port}]
"""
    r = d.plat("deploy", "-f", str(manifest(tmp_path, endpoints=block)), "--detach")
    assert r.code == 0, r.err
    assert f"endpoint public created: [::1]:{port}" in r.out
    rows = [(e["name"], e["source"], e["ipv4"]) for e in endpoints_of(d)]
    assert rows == [("public", "manifest", False)]
    with_v4 = manifest(tmp_path, endpoints=block + "ipv4 = true\n")
    r = d.plat("deploy", "-f", str(with_v4), "--detach")
    assert r.code == 0, r.err
    assert f"127.0.0.1:{port}" in r.out
    assert endpoints_of(d)[0]["ipv4"] is True
    r = d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach")
    assert "endpoint public removed" in r.out
    assert endpoints_of(d) == []
    r = d.plat("rollback", "v2", "--detach")
    assert r.code == 0, r.err
    assert endpoints_of(d)[0]["ipv4"] is True
    # A manifest endpoint is changed through plat.toml, not deleted by hand.
    r = d.plat("endpoints", "delete", "public", "--yes")
    assert r.code == 5
    assert "remove it from [[endpoints]]" in r.err


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["-w", "web", "--internal-port", "8080", "-p", "70000"], 2, "port 70000 is out of range"),
        (["-w", "web", "--internal-port", "0", "-p", "8081"], 2, "port 0 is out of range"),
        (["-w", "nope", "--internal-port", "8080", "-p", "8081"], 4, "no workload 'nope'"),
        (["-w", "web", "--internal-port", "9999", "-p", "8081"], 2,
         "does not expose port 9999 (its ports: 8080, 9000)"),
        (["-w", "web", "--internal-port", "8080", "-p", "8081", "--protocol", "udp"], 2,
         "protocol 'udp' is not supported"),
        (["-w", "web", "--internal-port", "8080", "-p", "8081", "--no-ipv6"], 2,
         "would listen nowhere"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    fake_daemon: Daemon, tmp_path: Path, args: list[str], code: int, words: str,
) -> None:
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    r = d.plat("endpoints", "create", "bad", *args)
    assert r.code == code, r.err
    assert words in r.err
    assert endpoints_of(d) == []


def test_nothing_deployed_yet(fake_daemon: Daemon) -> None:
    r = fake_daemon.plat("endpoints", "create", "e", "-w", "web", "--internal-port", "1", "-p", "2")
    assert r.code == 4
    assert "nothing deployed" in r.err
    assert "plat deploy" in r.err


def test_taken_ports_name_what_holds_them(fake_daemon: Daemon, tmp_path: Path) -> None:
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    port = free_port()
    assert d.plat("endpoints", "create", "a", "-w", "web", "--internal-port", "8080",
                  "-p", str(port)).code == 0
    r = d.plat("endpoints", "create", "b", "-w", "web", "--internal-port", "9000", "-p", str(port))
    assert r.code == 5
    assert f"[::1]:{port} is taken by endpoint a of {TARGET}" in r.err
    assert "plat exposed lists this org's endpoints" in r.err
    assert "ss -ltnp" not in r.err
    # Another program on the host holds a port: refused too, saying so.
    other = free_port()
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(("::1", other))
        s.listen()
        r = d.plat("endpoints", "create", "b", "-w", "web", "--internal-port", "9000",
                   "-p", str(other))
    assert r.code == 5
    assert f"[::1]:{other} is taken by another program on this host" in r.err
    # The hint is true: plat exposed knows only endpoints; ss names the program.
    assert f"ss -ltnp 'sport = :{other}' names it" in r.err
    assert "plat exposed" not in r.err
    # A deploy whose manifest endpoint wants a taken port is refused whole: no release is made.
    block = f"""[[endpoints]]
name = "public"
workload = "web"
internal_port = 8080
external_ports = [{port}]
"""
    r = d.plat("deploy", "-f", str(manifest(tmp_path, endpoints=block)), "--detach")
    assert r.code == 5
    assert "endpoint public of plat.toml" in r.err
    assert len(d.plat("releases", "--json").json()["releases"]) == 1
    assert [e["name"] for e in endpoints_of(d)] == ["a"]


def test_ipv4_with_an_empty_pool(tmp_path: Path) -> None:
    d = start(tmp_path, 'ingress_ipv4 = []\n')
    try:
        assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
        r = d.plat("endpoints", "create", "e", "-w", "web", "--internal-port", "8080",
                   "-p", str(free_port()), "--ipv4")
        assert r.code == 2
        assert "IPv4 was asked for but this host's IPv4 pool is empty" in r.err
        assert "ingress_ipv4 in platd.toml" in r.err
        assert endpoints_of(d) == []
    finally:
        stop_daemon(d)


def test_the_daemon_listens_on_what_it_reports(fake_daemon: Daemon, tmp_path: Path) -> None:
    """With the fake runtime no instance answers, so the listener accepts and closes at once."""
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    port = free_port()
    assert d.plat("endpoints", "create", "e", "-w", "web", "--internal-port", "8080",
                  "-p", str(port)).code == 0
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("::1", port), timeout=1).close()
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "platd never listened"
            time.sleep(0.1)
    try:
        first_line("127.0.0.1", port, timeout=1)
        raise AssertionError("IPv4 answered although it was not asked for")
    except ConnectionRefusedError:
        pass
    assert d.plat("endpoints", "delete", "e", "--yes").code == 0
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("::1", port), timeout=1).close()
        except ConnectionRefusedError:
            break
        except ConnectionResetError:
            pass  # accepted and reset: the listener is still there, going
        assert time.monotonic() < deadline, "platd still listens after delete"
        time.sleep(0.1)
    assert json.loads(d.plat("exposed", "--json").out)["exposed"] == []


def test_update_changes_in_place_and_keeps_the_address(fake_daemon: Daemon, tmp_path: Path) -> None:
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    port, other = free_port(), free_port()
    assert d.plat("endpoints", "create", "e", "-w", "web", "--internal-port", "8080",
                  "-p", str(port)).code == 0
    r = d.plat("endpoints", "update", "e", "--ipv4", "--proxy-protocol", "v2", "-p", str(other))
    assert r.code == 0, r.err
    assert "changed" in r.out
    assert f"IPv4      127.0.0.1  port(s) {other}" in r.out
    assert "PROXY protocol v2" in r.out
    e = endpoints_of(d)[0]
    assert (e["external_ports"], e["ipv4"], e["proxy_protocol"]) == ([other], True, "v2")
    r = d.plat("endpoints", "update", "e", "--proxy-protocol", "none", "--no-ipv4")
    assert r.code == 0, r.err
    assert endpoints_of(d)[0]["proxy_protocol"] is None
    # A refused change leaves it as it was.
    r = d.plat("endpoints", "update", "e", "--internal-port", "9999")
    assert r.code == 2
    assert endpoints_of(d)[0]["internal_port"] == 8080
    r = d.plat("endpoints", "update", "e")
    assert r.code == 2
    assert "nothing to change" in r.err


def test_status_shows_addresses_and_check_reports_a_silent_endpoint(fake_daemon: Daemon,
                                                                   tmp_path: Path) -> None:
    """With no instance behind it, the listener accepts, then closes: the check says so."""
    d = fake_daemon
    assert d.plat("deploy", "-f", str(manifest(tmp_path)), "--detach").code == 0
    assert d.plat("scale", "web", "--count", "0").code == 0
    port = free_port()
    assert d.plat("endpoints", "create", "e", "-w", "web", "--internal-port", "8080",
                  "-p", str(port), "--proxy-protocol", "v2").code == 0
    import time

    deadline = time.monotonic() + 10
    while True:
        status = d.plat("status")
        if f"[::1]:{port} listening; 0 instances serving" in status.out:
            break
        assert time.monotonic() < deadline, status.out
        time.sleep(0.2)
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert "Endpoints:" in lines
    assert f"    does it answer? plat endpoints check e --target {TARGET}" in lines
    assert d.plat("status", "--json").json()["endpoints"][0]["addresses"] == [
        {"address": f"[::1]:{port}", "listening": True}]

    r = d.plat("endpoints", "check", "e")
    assert r.code == 5, (r.out, r.err)
    assert r.out == ""
    assert f"GET / to [::1]:{port}" in r.err
    # With nobody behind it the proxy closes the connection: politely, or with a reset when
    # the request was still unread (which one is a race inside the kernel).
    assert ("no answer: the connection was accepted, then closed without a byte of answer"
            in r.err or "no answer: the connection was reset before any answer" in r.err), r.err
    assert re.search(rf"PROXY v2  the app received: source \[::1\]:\d+, destination "
                     rf"\[::1\]:{port}", r.err), r.err
    assert "error: endpoint e did not answer" in r.err
    report = d.plat("endpoints", "check", "e", "--json")
    assert report.code == 5
    assert report.json()["outcome"] in ("closed", "reset")
    assert report.json()["bytes"] == 0

    assert d.plat("endpoints", "delete", "e", "--yes").code == 0
    assert d.plat("endpoints", "check", "e").code == 4
