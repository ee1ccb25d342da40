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
import re
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


def systemd_units(**states: str) -> str:
    """What ``systemctl show --property Id --property SubState UNIT...`` prints."""
    return "\n\n".join(f"Id={unit.replace('_', '-')}.service\nSubState={state}"
                        for unit, state in states.items())


MISSING = "__pyinfra_missing_"  # pyinfra's FileContents marker for an absent file


def os_release(version: str) -> list[str]:
    return ["PRETTY_NAME=\"Debian GNU/Linux\"", "ID=debian", f'VERSION_ID="{version}"']


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out = proc.returncode, proc.stdout + proc.stderr
        self.commands = [line.split(" >>> ", 1)[1] for line in self.out.splitlines()
                         if " >>> " in line]

    def ran(self, fragment: str) -> bool:
        return any(fragment in c for c in self.commands)

    def index(self, fragment: str) -> int:
        return next(i for i, c in enumerate(self.commands) if fragment in c)

    def last(self, fragment: str) -> int:
        return max(i for i, c in enumerate(self.commands) if fragment in c)


@pytest.fixture
def pyz(tmp_path: Path) -> Path:
    """Stands in for dist/plat: the deploys only upload it."""
    path = tmp_path / "plat"
    path.write_text("#!/usr/bin/env python3\n")
    return path


def run_fake(tmp_path: Path, deploy: str, *, systemd: bool = True, initialised: bool = False,
             platd_state: str = "dead", docker_state: str = "dead",
             firewall_state: str = "dead", nft_loaded: bool = False,
             files: dict[str, str] | None = None, release: str = "12",
             machine: str = "x86_64", present: tuple[str, ...] = (), **data: Any) -> Run:
    """Run a deploy on the fake host. ``files`` maps paths to their content on the host (the
    two files the playbook merges); any other file read is absent."""
    responses: dict[Any, Any] = {}
    if systemd:
        responses["test -L /run/systemd/system"] = stat_line("/run/systemd/system", "drwxr-xr-x")
        responses[re.compile(r"SubState .*platd\.service")] = systemd_units(
            docker=docker_state, platd=platd_state)
        responses[re.compile(r"SubState .*platd-firewall\.service")] = systemd_units(
            platd_firewall=firewall_state)
    if initialised:
        responses["test -L /var/lib/platd/host.json"] = stat_line(plat_host.HOST_FILE,
                                                                  "-rw-r--r--")
    if nft_loaded:
        responses["nft list table inet platd"] = "yes"
    for path in present:  # what pyinfra's File and Directory facts find
        responses[f"test -L {path} "] = stat_line(path, "-rwxr-xr-x")
        responses[f"test -L {path}/ "] = stat_line(path, "drwx------")
    for path in (plat_host.SETTINGS_FILE, plat_host.DOCKER_DAEMON_FILE):
        text = (files or {}).get(path)
        responses[f"cat {path}"] = text.splitlines() if text is not None else f"{MISSING}{path}"
    responses["cat /etc/os-release"] = os_release(release)
    responses["uname -m"] = machine
    host_data = {"platd_name": "edge-1", "fake_delay": 0, "fake_delay_jitter": 0,
                 "fake_responses": responses, **data}
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"import re\nedge = [({HOST!r}, {host_data!r})]\n")
    env = {**os.environ, "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}
    proc = subprocess.run([PYINFRA, str(inventory), str(PLAYBOOKS / deploy), "-y", "-vv"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
    return Run(proc)


# bootstrap.py on the fake connector


def installed(r: Run) -> str:
    return " ".join(c for c in r.commands if "apt-get" in c and " install " in c)


def test_bootstrap_fresh_host(tmp_path: Path, pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(pyz),
                 platd_labels={"region": "ams"}, platd_listen="[::]:7400")
    assert r.code == 0, r.out
    for package in ("docker.io", "haproxy", "serf", "procps", "python3", "sqlite3", "nftables"):
        assert package in installed(r)
    # The firewall is loaded before platd can start; sysctl's package before sysctl runs.
    assert r.index("procps") < r.index("sysctl net.ipv4.ip_forward=1")
    assert r.index("nft -c -f /etc/nftables.d/platd.nft") < r.index(
        "systemctl start platd-firewall.service") < r.index("systemctl start platd.service")
    # Docker's first start already has daemon.json.
    assert r.index("chmod 644 /etc/docker/daemon.json") < r.index("docker.io")
    assert r.ran("systemctl enable docker.service")
    assert r.ran("systemctl start docker.service")
    assert not r.ran("systemctl restart docker.service")
    assert r.ran("chmod 755 /usr/local/bin/plat")
    assert r.ran("chmod 755 /usr/local/bin/platd")
    assert r.ran("chmod 755 /usr/local/lib/platd/listen-guard")
    assert r.ran("chmod 600 /var/lib/platd/platd.toml")
    assert r.ran("chmod 644 /etc/systemd/system/platd.service")
    init = r.index("platd init --data /var/lib/platd --name edge-1 --json")
    assert r.commands[init].startswith("test -e /var/lib/platd/host.json || (umask 077 && ")
    assert "> /var/lib/platd/admin-token" in r.commands[init]
    assert init < r.index("systemctl start platd.service")
    assert r.last("systemctl daemon-reload") < r.index("systemctl start platd.service")
    # platd starts once: no restart after its first start.
    assert sum("systemctl start platd.service" in c for c in r.commands) == 1
    assert not r.ran("systemctl restart platd.service")
    assert TOKEN not in r.out
    assert "/var/lib/platd/admin-token" in r.out


def test_bootstrap_lets_platd_mount_volumes_unless_told_not_to(tmp_path: Path,
                                                              pyz: Path) -> None:
    drop_ins = "/etc/systemd/system/platd.service.d"
    helper = "/usr/local/lib/platd/volume-helper"
    for sub in ("on", "off", "helper", "bad"):
        (tmp_path / sub).mkdir()
    # True: the old way, the sandbox options lifted in platd.service itself.
    r = run_fake(tmp_path / "on", "bootstrap.py", plat_pyz=str(pyz), platd_volumes=True)
    assert r.code == 0, r.out
    assert "xfsprogs" in installed(r)
    assert r.ran(f"chmod 644 {drop_ins}/volumes.conf")
    assert r.index(f"chmod 644 {drop_ins}/volumes.conf") < r.last("systemctl daemon-reload")
    assert not r.ran(f"chmod 755 {helper}")

    r = run_fake(tmp_path / "off", "bootstrap.py", plat_pyz=str(pyz), platd_volumes=False)
    assert r.code == 0, r.out
    assert "xfsprogs" not in installed(r)
    assert not r.ran(f"chmod 644 {drop_ins}/volumes.conf")

    # The default: platd keeps its sandbox; the privileged steps go to the socket-activated
    # helper.
    r = run_fake(tmp_path / "helper", "bootstrap.py", plat_pyz=str(pyz))
    assert r.code == 0, r.out
    assert "xfsprogs" in installed(r)
    assert r.ran(f"chmod 644 {drop_ins}/volumes-helper.conf")
    assert not r.ran(f"chmod 644 {drop_ins}/volumes.conf")
    assert r.ran(f"chmod 755 {helper}")
    assert r.ran("chmod 644 /etc/systemd/system/platd-volumes.socket")
    assert r.ran("chmod 644 /etc/systemd/system/platd-volumes@.service")
    assert r.index("systemctl start platd-volumes.socket") < r.index(
        "systemctl start platd.service")

    r = run_fake(tmp_path / "bad", "bootstrap.py", plat_pyz=str(pyz), platd_volumes="yes")
    assert r.code != 0
    assert 'platd_volumes must be true, false or "helper"' in r.out


RIGHT_DAEMON_JSON = json.dumps({"log-driver": "json-file", "live-restore": True,
                                "log-opts": {"max-size": "10m", "max-file": "3"}})


def test_bootstrap_upgrades_an_initialised_host(tmp_path: Path, pyz: Path) -> None:
    """host.json exists and platd runs: no second init, and one restart for the new files (the
    fake host has no checksums to compare, so every upload counts as a change)."""
    r = run_fake(tmp_path, "bootstrap.py", initialised=True, platd_state="running",
                 docker_state="running", firewall_state="exited", plat_pyz=str(pyz),
                 files={plat_host.DOCKER_DAEMON_FILE: RIGHT_DAEMON_JSON})
    assert r.code == 0, r.out
    assert not r.ran("platd init")
    assert sum("systemctl restart platd.service" in c for c in r.commands) == 1
    assert not r.ran("systemctl start platd.service")
    # The firewall is reloaded, not restarted (a restart would not restart platd, but a reload
    # is all a new table needs).
    assert r.ran("systemctl reload platd-firewall.service")
    assert not r.ran("systemctl start platd-firewall.service")
    # daemon.json was right already: Docker is left alone.
    assert not r.ran("chmod 644 /etc/docker/daemon.json")
    assert not r.ran("systemctl restart docker.service")


def test_bootstrap_merges_daemon_json_and_keeps_containers_up(tmp_path: Path,
                                                              pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", initialised=True, platd_state="running",
                 docker_state="running", plat_pyz=str(pyz),
                 files={plat_host.DOCKER_DAEMON_FILE: '{"data-root": "/srv/docker"}'})
    assert r.code == 0, r.out
    assert r.ran("chmod 644 /etc/docker/daemon.json")
    # live-restore is reloaded first, so the restart for the log settings keeps containers.
    assert r.index("systemctl reload docker.service") < r.index(
        "systemctl restart docker.service")


def test_bootstrap_leaves_a_platd_toml_that_says_it_all_alone(tmp_path: Path,
                                                             pyz: Path) -> None:
    toml = '# mine\nregistry = "r.example:5000"\nlogs_max_bytes = "5G"\n[labels]\nregion = "ams"\n'
    r = run_fake(tmp_path, "bootstrap.py", initialised=True, plat_pyz=str(pyz),
                 platd_registry="r.example:5000", platd_region="ams",
                 files={plat_host.SETTINGS_FILE: toml})
    assert r.code == 0, r.out
    assert not r.ran("chmod 600 /var/lib/platd/platd.toml")
    r = run_fake(tmp_path, "bootstrap.py", initialised=True, plat_pyz=str(pyz),
                 platd_registry="r.example:5001", files={plat_host.SETTINGS_FILE: toml})
    assert r.code == 0, r.out
    assert r.ran("chmod 600 /var/lib/platd/platd.toml")


def test_bootstrap_stops_on_a_broken_file_it_must_merge(tmp_path: Path, pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(pyz),
                 files={plat_host.SETTINGS_FILE: "registry = \n"})
    assert r.code != 0
    assert "/var/lib/platd/platd.toml on the host is not valid TOML" in r.out
    assert "Traceback" not in r.out
    assert not r.ran("apt-get")


def test_bootstrap_picks_the_build_for_the_host(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    for target in ("debian12-amd64", "debian13-arm64"):
        (dist / f"plat-{target}").write_text("#!/usr/bin/env python3\n")
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(dist), release="13", machine="aarch64")
    assert r.code == 0, r.out
    assert "Install the single-file plat (plat-debian13-arm64)" in r.out

    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(dist), release="13", machine="x86_64")
    assert r.code != 0
    assert "needs the debian13-amd64 build" in r.out
    assert "packaging/build-pyz --target debian13-amd64" in r.out
    assert not r.ran("apt-get")

    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(dist), release="11")
    assert r.code != 0
    assert "plat hosts must run Debian 12 or 13" in r.out


def test_bootstrap_without_systemd_installs_but_does_not_start(tmp_path: Path,
                                                               pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", systemd=False, plat_pyz=str(pyz))
    assert r.code == 0, r.out
    assert not r.ran("systemctl")
    assert r.ran("platd init")
    assert "systemd is not running" in r.out


def test_bootstrap_explains_bad_host_data(tmp_path: Path, pyz: Path) -> None:
    r = run_fake(tmp_path, "bootstrap.py", plat_pyz=str(tmp_path / "nowhere"))
    assert r.code != 0
    assert "nowhere does not exist" in r.out
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
        assert "labels = {" in (plat_host.merge_settings(None, data) or "")
        plat_host.render_default(data["platd_listen"])
        plat_host.render_nftables(plat_host.listen_port(data["platd_listen"]),
                                  data["platd_peers"])


# what the playbooks write


def test_settings_file_is_what_platd_reads() -> None:
    import tomllib

    from platd.datadir import HostSettings

    text = plat_host.merge_settings(None, {
        "platd_registry": "127.0.0.1:5000", "platd_labels": {"note": 'a "b"'},
        "platd_region": "ams", "platd_resync_seconds": 3, "platd_logs_max_age": "3d",
        "platd_logs_max_bytes": "2G", "platd_ingress_ipv6": ["2001:db8:10::/64"],
        "platd_ingress_ipv4": ["192.0.2.7"], "platd_ingress_driver": "haproxy"})
    assert text is not None
    assert tomllib.loads(text) == {
        "registry": "127.0.0.1:5000", "resync_seconds": 3.0, "logs_max_age": "3d",
        "logs_max_bytes": "2G", "ingress_ipv6": ["2001:db8:10::/64"],
        "ingress_ipv4": ["192.0.2.7"], "ingress_driver": "haproxy",
        "labels": {"note": 'a "b"', "region": "ams"}}
    settings = HostSettings(**tomllib.loads(text))
    assert settings.labels["region"] == "ams"
    assert settings.ingress_driver == "haproxy"
    # Nothing set: a file with no setting in it, so platd's defaults apply.
    empty = plat_host.merge_settings(None, {})
    assert empty is not None
    assert tomllib.loads(empty) == {}


def test_settings_merge_keeps_what_the_operator_added() -> None:
    import tomllib

    operator = ('registry = "old:5000"\nlogs_max_bytes = "5G"\ningress_ipv4 = ["192.0.2.9"]\n'
                '[labels]\nrack = "r7"\nregion = "old"\n')
    merged = plat_host.merge_settings(operator, {"platd_registry": "new:5000",
                                                 "platd_region": "ams"})
    assert merged is not None
    assert tomllib.loads(merged) == {"registry": "new:5000", "logs_max_bytes": "5G",
                                     "ingress_ipv4": ["192.0.2.9"],
                                     "labels": {"rack": "r7", "region": "ams"}}
    # The merged file says it all: the next run leaves it as it is, comments and all.
    assert plat_host.merge_settings(merged, {"platd_registry": "new:5000",
                                             "platd_region": "ams"}) is None
    assert plat_host.merge_settings("# mine\n" + merged, {"platd_region": "ams"}) is None
    # A key appended at the end of the file by hand is a setting, not a label.
    appended = tomllib.loads(merged + 'resync_seconds = 9\n')
    assert appended["resync_seconds"] == 9
    assert "resync_seconds" not in appended["labels"]
    # Keys the playbook knows nothing of pass through platd_settings, and stay.
    passed = plat_host.merge_settings(merged, {"platd_settings": {"registries": ["a", "b"]}})
    assert passed is not None
    assert tomllib.loads(passed)["registries"] == ["a", "b"]
    assert tomllib.loads(passed)["logs_max_bytes"] == "5G"


@pytest.mark.parametrize(("data", "words"), [
    ({"platd_ingress_ipv6": ["192.0.2.1"]}, "platd_ingress_ipv6: '192.0.2.1' is not an IPv6"),
    ({"platd_ingress_ipv4": "192.0.2.1"}, "platd_ingress_ipv4 must be a list"),
    ({"platd_ingress_driver": "nginx"}, 'platd_ingress_driver must be "builtin" or "haproxy"'),
    ({"platd_logs_max_bytes": True}, "platd_logs_max_bytes must be a string like"),
    ({"platd_region": ""}, "platd_region must be a non-empty string"),
    ({"platd_settings": ["x"]}, "platd_settings must map platd.toml keys"),
])
def test_settings_mistakes_name_the_key(data: dict[str, Any], words: str) -> None:
    with pytest.raises(plat_host.HostDataError, match=re.escape(words)):
        plat_host.merge_settings(None, data)


def test_docker_daemon_json_merge() -> None:
    fresh = json.loads(plat_host.merge_docker_daemon(None) or "")
    assert fresh == {"live-restore": True, "log-driver": "json-file",
                     "log-opts": {"max-size": "10m", "max-file": "3"}}
    mine = json.dumps({"data-root": "/srv/docker", "log-opts": {"max-size": "50m"}})
    merged = json.loads(plat_host.merge_docker_daemon(mine) or "")
    assert merged == {"data-root": "/srv/docker", "live-restore": True,
                      "log-driver": "json-file",
                      "log-opts": {"max-size": "50m", "max-file": "3"}}
    assert plat_host.merge_docker_daemon(json.dumps(merged)) is None
    # A driver the host chose rotates by its own means: kept, without json-file's options.
    journald = json.loads(plat_host.merge_docker_daemon('{"log-driver": "journald"}') or "")
    assert journald == {"log-driver": "journald", "live-restore": True}
    for broken in ("{", "[1]"):
        with pytest.raises(plat_host.HostDataError, match=r"daemon\.json on the host"):
            plat_host.merge_docker_daemon(broken)


def test_build_target() -> None:
    def release(version: str, id_: str = "debian") -> dict[str, str]:
        return {"id": id_, "version_id": version, "pretty_name": f"{id_} {version}"}

    assert plat_host.build_target(release("12"), "x86_64") == "debian12-amd64"
    assert plat_host.build_target(release("13"), "aarch64") == "debian13-arm64"
    with pytest.raises(plat_host.HostDataError, match=r"runs ubuntu 24\.04; plat hosts must run"):
        plat_host.build_target(release("24.04", "ubuntu"), "x86_64")
    with pytest.raises(plat_host.HostDataError, match="riscv64 machine"):
        plat_host.build_target(release("13"), "riscv64")


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
    for port in (7400, 7401, 8080):
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
                  # The hop to this host's instances: peers only, like the API.
                  ("192.0.2.11", "192.0.2.1", 7401), ("192.0.2.99", "192.0.2.1", 7401),
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
        "192.0.2.11>192.0.2.1:7401": "open",
        "192.0.2.99>192.0.2.1:7401": "blocked",
        "192.0.2.99>192.0.2.1:8080": "open",
        "2001:db8:1::99>2001:db8:1::1:8080": "open",
    }
    assert json.loads(local) == {"127.0.0.1>127.0.0.1:7400": "open"}


# reset.py on the fake connector


def test_reset_stops_platd_before_the_firewall_goes_and_keeps_data(tmp_path: Path) -> None:
    r = run_fake(tmp_path, "reset.py", platd_state="running", firewall_state="exited",
                 present=("/usr/local/bin/plat", "/etc/systemd/system/platd.service"))
    assert r.code == 0, r.out
    stop = r.index("systemctl stop platd.service")
    assert stop < r.index("systemctl stop platd-firewall.service")
    assert stop < r.index("nft delete table inet platd")
    assert stop < r.index("rm -f /usr/local/bin/plat")
    assert r.ran("rm -f /etc/systemd/system/platd.service")
    assert not r.ran("docker rm")
    assert not r.ran("rm -rf /var/lib/platd")
    assert "kept /var/lib/platd" in r.out


def test_reset_with_data_removes_containers_mounts_and_state(tmp_path: Path) -> None:
    r = run_fake(tmp_path, "reset.py", platd_reset_data="True")
    assert r.code == 0, r.out
    assert r.index("xargs -r docker rm -f") < r.index("xargs -r -n1 umount") < r.index(
        "losetup -d")
    assert "kept /var/lib/platd" not in r.out
