"""bootstrap.py against a real target: a fresh debootstrapped Debian 12 root (pyinfra @chroot).

A minimal Debian root (``debootstrap --variant=minbase``: no procps, no python3, nothing) is made
once and cached as a tarball under $PLAT_TEST_CACHE (default /var/tmp/plat-dev/cache), since
debootstrap takes minutes; each run unpacks a fresh copy. The playbook then runs for real,
twice: the first run must bring the root up (packages, files, platd initialised, the firewall
table loaded), the second must change nothing. Then what an operator adds to platd.toml survives
a rerun, and the firewall fails closed: with the table gone and its file broken, the installed
listen guard keeps platd on loopback.

Kept inside the test's own namespaces: pyinfra runs in a network namespace made here, so the
sysctl forwarding switch and the nftables table land there, not on this machine; apt inside
reaches Debian's mirror (read from this machine's apt sources) through apt_proxy.py, over a
unix socket, and nowhere else. A chroot has no init, so a policy-rc.d keeps package scripts
from starting daemons (dockerd) on this machine; systemd units are installed, not started.

Slow: about 3-4 minutes with a warm cache (apt's downloads are cached too), plus about 4
minutes for debootstrap the first time.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.playbooks.debian_root import (
    APT_PROXY_CONF,
    PLAYBOOKS,
    PYINFRA,
    apt_archives,
    changed_operations,
    debian_tarball,
    namespace_with_mirror,
    shared_pyz,
    unavailable,
)

pytestmark = pytest.mark.slow


def mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/mounts").read_text()
               .splitlines())


@dataclass
class Target:
    root: Path
    netns: str
    dist: Path
    work: Path
    proxy_log: Path

    @property
    def name(self) -> str:
        return f"@chroot{self.root}"

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def run(self, *cmd: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command in the root, inside the test's network namespace."""
        return subprocess.run(["ip", "netns", "exec", self.netns, "chroot", str(self.root),
                               "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                               *[f"{k}={v}" for k, v in (env or {}).items()], *cmd],
                              capture_output=True, text=True, check=check, timeout=120)

    def deploy(self, deploy: str = "bootstrap.py", **data: Any) -> subprocess.CompletedProcess[str]:
        host_data = {"plat_pyz": str(self.dist), "platd_name": "chroot-1",
                     "platd_listen": "[::]:7400", "platd_peers": ["2001:db8:10::/64"], **data}
        inventory = self.work / "inventory.py"
        inventory.write_text(f"hosts = [({self.name!r}, {host_data!r})]\n")
        return subprocess.run(["ip", "netns", "exec", self.netns, PYINFRA, str(inventory),
                               str(PLAYBOOKS / deploy), "-y"],
                              capture_output=True, text=True, cwd=self.work, timeout=1200)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        unavailable("needs root and iproute2 (chroot, mounts, network namespaces)")
    if os.uname().machine != "x86_64":
        pytest.skip("the cached root and the build are amd64")
    tarball = debian_tarball()
    work = tmp_path_factory.mktemp("chroot")
    root, dist = work / "root", shared_pyz(tmp_path_factory)
    root.mkdir()
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="fully_trusted")
    # No init in a chroot: package scripts must not start daemons on this machine.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    (root / "etc/apt/apt.conf.d/99plat-test-proxy").write_text(APT_PROXY_CONF)
    netns = f"plat-chroot-{os.getpid()}"
    mounts: list[Path] = []
    with apt_archives() as archives:
        try:
            subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
            mounts.append(root / "proc")
            subprocess.run(["mount", "--bind", str(archives),
                            str(root / "var/cache/apt/archives")], check=True)
            mounts.append(root / "var/cache/apt/archives")
            with namespace_with_mirror(netns, work) as proxy_log:
                yield Target(root, netns, dist, work, proxy_log)
        finally:
            for mount in reversed(mounts):
                subprocess.run(["umount", "-l", str(mount)], capture_output=True)
            if not any(mounted(m) for m in mounts):
                shutil.rmtree(root, ignore_errors=True)

FIRST: dict[str, str] = {}


def test_first_run_brings_a_fresh_root_up(target: Target) -> None:
    host_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    started = time.monotonic()
    r = target.deploy(platd_region="ams", platd_registry="127.0.0.1:5000")
    FIRST["out"], FIRST["seconds"] = r.stdout + r.stderr, f"{time.monotonic() - started:.0f}"
    (target.work / "first-run.log").write_text(FIRST["out"])
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    out = r.stdout + r.stderr
    for package in ("docker.io", "haproxy", "serf", "procps", "python3", "nftables", "xfsprogs"):
        assert target.run("dpkg-query", "-W", "-f=${Status}", package).stdout == \
            "install ok installed", package
    # The right build, as the program and as the daemon.
    assert target.path("/usr/local/bin/plat").read_bytes() == \
        (target.dist / "plat-debian12-amd64").read_bytes()
    version = target.run("/usr/local/bin/plat", "--version", env={"HOME": "/root"})
    assert version.stdout.startswith("plat ")
    host = json.loads(target.path("/var/lib/platd/host.json").read_text())
    assert host["name"] == "chroot-1"
    token_file = target.path("/var/lib/platd/admin-token")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("plat_")
    assert token not in out
    daemon = json.loads(target.path("/etc/docker/daemon.json").read_text())
    assert daemon["live-restore"] is True
    assert daemon["log-opts"]["max-size"]
    settings = target.path("/var/lib/platd/platd.toml").read_text()
    assert 'region = "ams"' in settings
    assert target.path("/usr/local/lib/platd/listen-guard").exists()
    assert target.path("/etc/systemd/system/platd.service").exists()
    # Kernel state went to the namespace, not to this machine.
    table = target.run("nft", "list", "table", "inet", "platd", check=False)
    assert table.returncode == 0, table.stderr
    assert "2001:db8:10::/64" in table.stdout
    assert target.run("sysctl", "-n", "net.ipv6.conf.all.forwarding").stdout.strip() == "1"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forward
    hosts = {line.split()[1] for line in target.proxy_log.read_text().splitlines()}
    assert len(hosts) == 1, f"apt reached only the mirror: {hosts}"


def test_second_run_changes_nothing(target: Target) -> None:
    if "out" not in FIRST:
        pytest.skip("the first run did not happen")
    plat = target.path("/usr/local/bin/plat").stat().st_mtime_ns
    r = target.deploy(platd_region="ams", platd_registry="127.0.0.1:5000")
    out = r.stdout + r.stderr
    (target.work / "second-run.log").write_text(out)
    assert r.returncode == 0, out[-6000:]
    assert changed_operations(out) == []
    assert target.path("/usr/local/bin/plat").stat().st_mtime_ns == plat


def test_settings_an_operator_added_survive_a_rerun(target: Target) -> None:
    from platd.datadir import HostSettings

    if "out" not in FIRST:
        pytest.skip("the first run did not happen")
    settings = target.path("/var/lib/platd/platd.toml")
    settings.write_text(settings.read_text() + 'logs_max_bytes = "5G"\n'
                        'ingress_ipv4 = ["192.0.2.7"]\n')
    docker = target.path("/etc/docker/daemon.json")
    docker.write_text(json.dumps({**json.loads(docker.read_text()), "data-root": "/srv/d"}))
    # The inventory moves the host to another region.
    r = target.deploy(platd_region="fra", platd_registry="127.0.0.1:5000")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert changed_operations(out) == ["Merge the inventory's settings into platd.toml"]
    loaded = HostSettings.load(settings)  # what platd itself reads at start-up
    assert loaded.labels == {"region": "fra"}
    assert loaded.logs_max_bytes == "5G"
    assert loaded.ingress_ipv4 == ["192.0.2.7"]
    assert loaded.registry == "127.0.0.1:5000"
    assert json.loads(docker.read_text())["data-root"] == "/srv/d"


def test_firewall_fails_closed(target: Target) -> None:
    """The table is gone and its file is broken: the installed guard keeps platd on loopback;
    the next run of the playbook repairs the file and the table, and the guard lets go."""
    if "out" not in FIRST:
        pytest.skip("the first run did not happen")
    nft_file = target.path("/etc/nftables.d/platd.nft")
    nft_file.write_text(nft_file.read_text().replace("counter drop", "counter dorp"))
    assert target.run("nft", "-f", "/etc/nftables.d/platd.nft", check=False).returncode != 0
    target.run("nft", "delete", "table", "inet", "platd")
    listen = dict(line.split("=", 1) for line in
                  target.path("/etc/default/platd").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))["PLAT_LISTEN"].strip('"')
    assert listen == "[::]:7400"
    guard = target.run("/usr/local/lib/platd/listen-guard", env={"PLAT_LISTEN": listen})
    override = target.path("/run/platd/listen.env")
    assert override.read_text() == "PLAT_LISTEN=127.0.0.1:7400\n"
    assert "not loaded" in guard.stderr

    r = target.deploy(platd_region="fra", platd_registry="127.0.0.1:5000")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert changed_operations(out) == ["Write the platd nftables table",
                                       "Check the platd nftables table",
                                       "Load the platd nftables table"]
    target.run("nft", "list", "table", "inet", "platd")
    target.run("/usr/local/lib/platd/listen-guard", env={"PLAT_LISTEN": listen})
    assert not override.exists()


def test_reset_takes_plat_off_the_root(target: Target) -> None:
    if "out" not in FIRST:
        pytest.skip("the first run did not happen")
    r = target.deploy("reset.py", platd_reset_data=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    for gone in ("/usr/local/bin/plat", "/usr/local/bin/platd", "/etc/default/platd",
                 "/etc/systemd/system/platd.service", "/usr/local/lib/platd",
                 "/etc/nftables.d/platd.nft", "/var/lib/platd", "/var/cache/platd"):
        assert not target.path(gone).exists(), gone
    assert target.run("nft", "list", "table", "inet", "platd", check=False).returncode != 0
    assert target.run("dpkg-query", "-W", "-f=${Status}", "docker.io").stdout == \
        "install ok installed"
    # A host that was reset bootstraps again from scratch, with a new identity.
    r = target.deploy(platd_region="ams")
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    assert target.path("/var/lib/platd/host.json").exists()
