"""The pyinfra playbooks plan and run as intended, without changing this machine.

Three levels, none of which installs, starts or writes anything outside tmp_path:

- pyinfra's ``@fake`` connector runs each deploy for real through the CLI (``-y -vv``): facts
  come from canned answers in a generated inventory, commands are recorded, not executed. This
  is where behaviour is checked: the commands a fresh host gets, that an initialised host never
  gets ``platd init`` again, that a running platd is restarted after an upgrade, and the admin
  token reaching the operator.
- ``pyinfra @local ... --dry`` plans both deploys against this real Debian machine: the facts
  are gathered for real (read-only commands) and nothing is executed.
- the nftables table network.py installs is checked by ``nft -c`` and then loaded into a
  private network namespace, where a client namespace connects over a veth pair from a peer and
  a stranger address: only traffic inside those namespaces, which are removed afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
HOST = "@fake/edge-1"
TOKEN = "plat_fake_admin_token"


def load_plat_host() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plat_host", PLAYBOOKS / "plat_host.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plat_host = load_plat_host()


def stat_line(path: str, mode: str) -> str:
    """What pyinfra's File/Directory facts read back from ``stat``."""
    return f"user=root group=root mode={mode} atime=0 mtime=0 ctime=0 size=1 '{path}'"


def systemd_unit(unit: str, state: str) -> str:
    return f"Id={unit}\nSubState={state}\nUnitFileState=enabled"


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out = proc.returncode, proc.stdout + proc.stderr
        self.commands = [line.split(" >>> ", 1)[1] for line in self.out.splitlines()
                         if " >>> " in line]

    def ran(self, fragment: str) -> bool:
        return any(fragment in c for c in self.commands)

    def index(self, fragment: str) -> int:
        return next(i for i, c in enumerate(self.commands) if fragment in c)


@pytest.fixture
def pyz(tmp_path: Path) -> Path:
    """Stands in for dist/plat: the deploys only upload it."""
    path = tmp_path / "plat"
    path.write_text("#!/usr/bin/env python3\n")
    return path


def run_fake(tmp_path: Path, deploy: str, *, systemd: bool = True, initialised: bool = False,
             platd_state: str = "dead", nft_loaded: bool = False, **data: Any) -> Run:
    responses: dict[str, Any] = {}
    if systemd:
        responses["test -L /run/systemd/system"] = stat_line("/run/systemd/system", "drwxr-xr-x")
        responses["SubState platd.service"] = systemd_unit("platd.service", platd_state)
    if initialised:
        responses["test -L /var/lib/platd/host.json"] = stat_line(plat_host.HOST_FILE,
                                                                  "-rw-r--r--")
    if nft_loaded:
        responses["nft list table inet platd"] = "yes"
    responses["platd init --data"] = json.dumps(
        {"host": {"id": "0190fake", "name": "edge-1"}, "schema": 1, "token": TOKEN})
    host_data = {"platd_name": "edge-1", "fake_delay": 0, "fake_delay_jitter": 0,
                 "fake_responses": responses, **data}
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"edge = [({HOST!r}, {host_data!r})]\n")
    env = {**os.environ, "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}
    proc = subprocess.run([PYINFRA, str(inventory), str(PLAYBOOKS / deploy), "-y", "-vv"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
    return Run(proc)


# bootstrap.py on the fake connector


def test_bootstrap_fresh_host(tmp_path: Path, pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(pyz),
                 platd_labels={"region": "ams"}, platd_listen="[::]:7400")
    assert r.code == 0, r.out
    install = next(c for c in r.commands if "apt-get" in c and " install " in c)
    for package in ("docker.io", "haproxy", "python3", "sqlite3"):
        assert package in install
    assert r.ran("systemctl enable docker.service")
    assert r.ran("systemctl start docker.service")
    assert r.ran("chmod 755 /usr/local/bin/plat")
    assert r.ran("chmod 755 /usr/local/bin/platd")
    assert r.ran("chmod 600 /var/lib/platd/platd.toml")
    assert r.ran("chmod 644 /etc/systemd/system/platd.service")
    init = r.index("platd init --data /var/lib/platd --name edge-1 --json")
    assert r.commands[init].startswith("test -e /var/lib/platd/host.json || ")
    assert init < r.index("systemctl start platd.service")
    assert r.index("systemctl daemon-reload") < r.index("systemctl enable platd.service")
    assert not r.ran("systemctl restart platd.service"), "a first start needs no restart"
    assert TOKEN in r.out
    assert "shown once" in r.out


def test_bootstrap_lets_platd_mount_volumes_unless_told_not_to(tmp_path: Path,
                                                              pyz: Path) -> None:
    drop_in = "/etc/systemd/system/platd.service.d/volumes.conf"
    for sub in ("on", "off"):
        (tmp_path / sub).mkdir()
    r = run_fake(tmp_path / "on", "bootstrap.py", plat_pyz=str(pyz))
    assert r.code == 0, r.out
    assert "xfsprogs" in next(c for c in r.commands if "apt-get" in c and " install " in c)
    assert r.ran(f"chmod 644 {drop_in}")
    assert r.index(f"chmod 644 {drop_in}") < r.index("systemctl daemon-reload")

    r = run_fake(tmp_path / "off", "bootstrap.py", plat_pyz=str(pyz), platd_volumes=False)
    assert r.code == 0, r.out
    assert "xfsprogs" not in next(c for c in r.commands if "apt-get" in c and " install " in c)
    assert not r.ran(f"chmod 644 {drop_in}")


def test_bootstrap_upgrades_an_initialised_host(tmp_path: Path, pyz: Path) -> None:
    """host.json exists and platd runs: no second init, and a restart for the new files (the
    fake host has no checksums to compare, so every upload counts as a change)."""
    r = run_fake(tmp_path, "bootstrap.py", initialised=True, platd_state="running",
                 plat_pyz=str(pyz))
    assert r.code == 0, r.out
    assert not r.ran("platd init")
    assert TOKEN not in r.out
    assert r.ran("systemctl restart platd.service")
    assert not r.ran("systemctl start platd.service")


def test_bootstrap_without_systemd_installs_but_does_not_start(tmp_path: Path,
                                                               pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", systemd=False, plat_pyz=str(pyz))
    assert r.code == 0, r.out
    assert not r.ran("systemctl")
    assert r.ran("platd init")
    assert "systemd is not running" in r.out


def test_bootstrap_explains_missing_host_data(tmp_path: Path, pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py")
    assert r.code != 0
    assert "plat_pyz" in r.out
    assert "packaging/build-pyz" in r.out
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(pyz), platd_labels=["ams"])
    assert r.code != 0
    assert "platd_labels must map strings to strings" in r.out
    assert not r.commands or not r.ran("apt-get")


# network.py on the fake connector


def test_network_with_systemd(tmp_path: Path) -> None:
    r = run_fake(tmp_path, "network.py", platd_peers=["192.0.2.11", "2001:db8:10::/64"],
                 platd_listen="[::]:7400", ipv6_accept_ra_interfaces=["eth0"])
    assert r.code == 0, r.out
    for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"):
        assert r.ran(f"sysctl {key}=1")
        assert r.ran(f"echo '{key} = 1' >> /etc/sysctl.d/60-plat.conf")
    assert r.ran("sysctl net.ipv6.conf.eth0.accept_ra=2")
    assert r.index("nft -c -f /etc/nftables.d/platd.nft") < r.index(
        "systemctl start platd-firewall.service")
    assert r.ran("systemctl enable platd-firewall.service")
    assert not r.ran("nft -f /etc/nftables.d/platd.nft")


def test_network_without_systemd_loads_the_table_itself(tmp_path: Path) -> None:
    r = run_fake(tmp_path, "network.py", systemd=False, platd_peers=["192.0.2.11"])
    assert r.code == 0, r.out
    assert r.index("nft -c -f /etc/nftables.d/platd.nft") < r.index(
        "nft -f /etc/nftables.d/platd.nft")
    assert not r.ran("systemctl")


def test_network_rejects_bad_peers(tmp_path: Path) -> None:
    r = run_fake(tmp_path, "network.py", platd_peers=["192.0.2.300"])
    assert r.code != 0
    assert "platd_peers" in r.out
    assert "192.0.2.300" in r.out


# planning against this machine (facts only)


@pytest.mark.parametrize("deploy", ["bootstrap.py", "network.py"])
def test_dry_run_plans_against_this_machine(tmp_path: Path, pyz: Path, deploy: str) -> None:
    proc = subprocess.run(
        [PYINFRA, "@local", str(PLAYBOOKS / deploy), "--dry", "--data", f"plat_pyz={pyz}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"Ready: {PLAYBOOKS / deploy}" in out
    assert "Detected changes" in out or "No changes" in out


def test_example_inventory_is_usable() -> None:
    """The example loads (without connecting anywhere) and every host's data renders."""
    proc = subprocess.run(
        [PYINFRA, str(PLAYBOOKS / "inventory.example.py"), "debug-inventory", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    hosts = {h["name"]: h["data"] for h in json.loads(proc.stdout)}
    assert set(hosts) == {"edge-ams-1", "edge-ams-2", "edge-fra-1"}
    for data in hosts.values():
        assert data["ssh_hostname"] in data["platd_peers"]
        assert "[labels]" in plat_host.render_settings(data)
        plat_host.render_default(data["platd_listen"])
        plat_host.render_nftables(plat_host.listen_port(data["platd_listen"]),
                                  data["platd_peers"])


# what the playbooks write


def test_settings_file_is_what_platd_reads() -> None:
    import tomllib

    from platd.datadir import HostSettings

    text = plat_host.render_settings({"platd_registry": "127.0.0.1:5000",
                                      "platd_labels": {"region": "ams", "note": 'a "b"'},
                                      "platd_resync_seconds": 3})
    assert tomllib.loads(text) == {"registry": "127.0.0.1:5000", "resync_seconds": 3.0,
                                   "labels": {"note": 'a "b"', "region": "ams"}}
    assert tomllib.loads(plat_host.render_settings({})) == {}
    assert HostSettings(**tomllib.loads(text)).labels["region"] == "ams"


def test_listen_port() -> None:
    assert [plat_host.listen_port(v) for v in ("127.0.0.1:7400", "[::]:7401", "7402")] == [
        7400, 7401, 7402]
    with pytest.raises(plat_host.HostDataError):
        plat_host.listen_port("[::]")


NFT = shutil.which("nft")
needs_nft = pytest.mark.skipif(NFT is None, reason="nft is missing (apt-get install -y nftables)")


@needs_nft
@pytest.mark.parametrize("peers", [["192.0.2.11", "192.0.2.0/28", "2001:db8:10::/64"], []])
def test_ruleset_is_valid_nftables(tmp_path: Path, peers: list[str]) -> None:
    path = tmp_path / "platd.nft"
    path.write_text(plat_host.render_nftables(7400, peers))
    r = subprocess.run([str(NFT), "-c", "-f", str(path)], capture_output=True, text=True)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert r.returncode == 0, r.stderr


SERVER = textwrap.dedent("""
    import socket, sys, threading
    def serve(port):
        s = socket.socket(socket.AF_INET6)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", port))
        s.listen()
        while True:
            s.accept()[0].close()
    for port in (7400, 8080):
        threading.Thread(target=serve, args=(port,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
""")

CLIENT = textwrap.dedent("""
    import json, socket, sys
    result = {}
    for src, dst, port in json.loads(sys.argv[1]):
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        s = socket.socket(family)
        s.settimeout(1.0)
        try:
            s.bind((src, 0))
            s.connect((dst, port))
            result[f"{src}>{dst}:{port}"] = "open"
        except OSError:
            result[f"{src}>{dst}:{port}"] = "blocked"
        finally:
            s.close()
    print(json.dumps(result))
""")


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """A server and a client network namespace joined by a veth pair; removed afterwards."""
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("ip (iproute2) is missing")
    server, client = f"plat-fw-s{os.getpid()}", f"plat-fw-c{os.getpid()}"
    made: list[str] = []
    try:
        for ns in (server, client):
            r = subprocess.run([ip, "netns", "add", ns], capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip(f"cannot create network namespaces: {r.stderr.strip()}")
            made.append(ns)
        steps = [
            ["-n", server, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns",
             client],
            ["-n", server, "addr", "add", "192.0.2.1/24", "dev", "vs"],
            ["-n", server, "addr", "add", "2001:db8:1::1/64", "dev", "vs", "nodad"],
            ["-n", client, "addr", "add", "192.0.2.11/24", "dev", "vc"],
            ["-n", client, "addr", "add", "192.0.2.99/24", "dev", "vc"],
            ["-n", client, "addr", "add", "2001:db8:1::11/64", "dev", "vc", "nodad"],
            ["-n", client, "addr", "add", "2001:db8:1::99/64", "dev", "vc", "nodad"],
        ]
        steps += [["-n", ns, "link", "set", dev, "up"]
                  for ns, dev in ((server, "lo"), (server, "vs"), (client, "lo"), (client, "vc"))]
        for step in steps:
            subprocess.run([ip, *step], check=True, capture_output=True)
        yield server, client
    finally:
        for ns in made:
            subprocess.run([ip, "netns", "del", ns], capture_output=True)


@needs_nft
def test_ruleset_admits_only_peers(tmp_path: Path, namespaces: tuple[str, str]) -> None:
    server, client = namespaces
    ruleset = tmp_path / "platd.nft"
    ruleset.write_text(plat_host.render_nftables(7400, ["192.0.2.11", "2001:db8:1::11"]))
    subprocess.run(["ip", "netns", "exec", server, str(NFT), "-f", str(ruleset)], check=True)
    proc = subprocess.Popen(["ip", "netns", "exec", server, sys.executable, "-c", SERVER],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        probes = [("192.0.2.11", "192.0.2.1", 7400), ("192.0.2.99", "192.0.2.1", 7400),
                  ("2001:db8:1::11", "2001:db8:1::1", 7400),
                  ("2001:db8:1::99", "2001:db8:1::1", 7400),
                  # Other ports stay open to anyone; over IPv6 this also needs the stranger's
                  # neighbour advertisements (ICMPv6) to pass the table.
                  ("192.0.2.99", "192.0.2.1", 8080), ("2001:db8:1::99", "2001:db8:1::1", 8080)]
        out = subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", CLIENT,
                              json.dumps(probes)], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        local = subprocess.run(["ip", "netns", "exec", server, sys.executable, "-c", CLIENT,
                                json.dumps([["127.0.0.1", "127.0.0.1", 7400]])],
                               capture_output=True, text=True, check=True, timeout=60).stdout
    finally:
        proc.kill()
        proc.wait()
    assert json.loads(out) == {
        "192.0.2.11>192.0.2.1:7400": "open",
        "192.0.2.99>192.0.2.1:7400": "blocked",
        "2001:db8:1::11>2001:db8:1::1:7400": "open",
        "2001:db8:1::99>2001:db8:1::1:7400": "blocked",
        "192.0.2.99>192.0.2.1:8080": "open",
        "2001:db8:1::99>2001:db8:1::1:8080": "open",
    }
    assert json.loads(local) == {"127.0.0.1>127.0.0.1:7400": "open"}
