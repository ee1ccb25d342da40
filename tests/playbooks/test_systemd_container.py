"""bootstrap.py against a container running systemd as PID 1 (pyinfra @docker).

The chroot test cannot start anything; here systemd really runs the units: Docker comes up with
the merged daemon.json, platd starts once after its firewall, the API answers, a second run
changes nothing and restarts nothing, platd comes back after kill -9, and with the firewall
table gone and its file broken platd serves on loopback only until the playbook repairs it.

The image is the cached debootstrapped root plus systemd, python3 and openssh-server (which
test_hosts_add.py needs to reach its hosts, and which bootstrap.py neither installs nor
touches), made with ``docker import`` (no registry is needed) and kept as
plat-test/debian-systemd:bookworm-ssh. It is made once per machine, under a lock. The container
has no network (``--network none``); apt inside reaches Debian's mirror through apt_proxy.py
over a unix socket mounted into it. It runs with every capability but CAP_SYS_RESOURCE (which
this machine does not grant) so that systemd, dockerd and platd's sandbox can work inside.
/proc/sys is read-only in a container, so forwarding is switched on by docker run (--sysctl)
and network.py finds it on.

Slow: about 4 minutes, plus about 1 minute the first time for the image.
"""

from __future__ import annotations

import json
import os
import shutil
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
    CACHE,
    PLAYBOOKS,
    PROXY,
    PROXY_PORT,
    PYINFRA,
    apt_archives,
    changed_operations,
    debian_tarball,
    locked,
    mirror_proxy,
    namespace_with_mirror,
    shared_pyz,
    unavailable,
)

# A new tag whenever what the image holds changes: an older image on the machine is not reused.
IMAGE = "plat-test/debian-systemd:bookworm-ssh"
# What systemd_image installs into the cached root.
IMAGE_PACKAGES = "systemd systemd-sysv dbus python3 openssh-server"

pytestmark = pytest.mark.slow


def docker(*args: str, check: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check,
                          timeout=timeout)


def systemd_image(work: Path) -> str:
    """The cached Debian root with IMAGE_PACKAGES, imported as an image (once per machine;
    a second worker that asks meanwhile waits for the first one's)."""
    if docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return IMAGE
    with locked(CACHE / "systemd-image.lock"):
        if docker("image", "inspect", IMAGE, check=False).returncode != 0:
            _make_systemd_image(work)
    return IMAGE


def _make_systemd_image(work: Path) -> None:
    root = work / "image-root"
    root.mkdir()
    with tarfile.open(debian_tarball()) as tar:
        tar.extractall(root, filter="fully_trusted")
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    (root / "etc/apt/apt.conf.d/99plat-test-proxy").write_text(APT_PROXY_CONF)
    archives = root / "var/cache/apt/archives"
    with apt_archives() as own:
        subprocess.run(["mount", "--bind", str(own), str(archives)], check=True)
        try:
            with namespace_with_mirror(f"plat-image-{os.getpid()}", work):
                subprocess.run(
                    ["ip", "netns", "exec", f"plat-image-{os.getpid()}", "chroot", str(root),
                     "sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get "
                     f"install -y -q --no-install-recommends {IMAGE_PACKAGES}"],
                    capture_output=True, text=True, check=True, timeout=900)
        finally:
            subprocess.run(["umount", "-l", str(archives)], capture_output=True)
    policy.unlink()  # under systemd, package scripts may start their services
    packer = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "--change", 'CMD ["/sbin/init"]', "--change",
                    "ENV container=docker", "-", IMAGE], stdin=packer.stdout, check=True,
                   capture_output=True, timeout=600)
    packer.wait()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Container:
    name: str
    dist: Path
    work: Path

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, "sh", "-c", command, check=check, timeout=120)

    def deploy(self, deploy: str = "bootstrap.py", **data: Any) -> subprocess.CompletedProcess[str]:
        host_data = {"plat_pyz": str(self.dist), "platd_name": "container-1",
                     "platd_listen": "[::]:7400", "platd_peers": ["2001:db8:10::/64"], **data}
        inventory = self.work / "inventory.py"
        inventory.write_text(f"hosts = [('@docker/{self.name}', {host_data!r})]\n")
        return subprocess.run([PYINFRA, str(inventory), str(PLAYBOOKS / deploy), "-y"],
                              capture_output=True, text=True, cwd=self.work, timeout=1200)

    def health(self, address: str) -> str:
        """GET /v1/health from inside the container: "ok", or why not. Beyond loopback
        (``[::1]`` stands for the ``[::]`` platd listens on) platd speaks only https, with a
        certificate of its CA; on 127.0.0.1 (the guard's fallback) plain http."""
        scheme = "http" if address == "127.0.0.1" else "https"
        r = self.sh("python3 -c 'import ssl, urllib.request, sys; print(urllib.request.urlopen("
                    f"\"{scheme}://{address}:7400/v1/health\", timeout=2, context=ssl."
                    "create_default_context(cafile=\"/var/lib/platd/tls/ca.pem\")).status)' "
                    "2>&1 | tail -1", check=False)
        return "ok" if r.stdout.strip() == "200" else r.stdout.strip()

    def wait_health(self, address: str, seconds: float = 90) -> str:
        deadline = time.monotonic() + seconds
        while (answer := self.health(address)) != "ok" and time.monotonic() < deadline:
            time.sleep(1)
        return answer

    def main_pid(self) -> str:
        return self.sh("systemctl show -p MainPID --value platd.service").stdout.strip()


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("docker") is None:
        unavailable("needs root, iproute2 and the Docker engine (scripts/dev-services)")
    if docker("info", check=False).returncode != 0:
        unavailable("the Docker engine does not answer (scripts/dev-services starts it)")
    if os.uname().machine != "x86_64":
        pytest.skip("the cached root and the build are amd64")
    work = tmp_path_factory.mktemp("container")
    dist = shared_pyz(tmp_path_factory)
    image = systemd_image(work)
    bridge = work / "bridge"
    bridge.mkdir()
    shutil.copy(PROXY, bridge / "apt_proxy.py")
    name = f"plat-systemd-{os.getpid()}"
    with mirror_proxy(bridge / "proxy.sock", work / "proxy.log"):
        docker("run", "-d", "--name", name, "--hostname", "container-1", "--cap-add", "ALL",
               "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
               "--security-opt", "apparmor=unconfined", "--network", "none", "--tmpfs", "/run",
               "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
               # /proc/sys is read-only in a container: what network.py would switch on is
               # switched on here (it then only persists it), with IPv6 for platd's [::].
               "--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
               "--sysctl", "net.ipv6.conf.all.forwarding=1", "--sysctl", "net.ipv4.ip_forward=1",
               "-v", f"{bridge}:/plat-test", image)
        try:
            target = Container(name, dist, work)
            deadline = time.monotonic() + 60
            while target.sh("systemctl is-system-running", check=False).stdout.strip() not in (
                    "running", "degraded"):
                assert time.monotonic() < deadline, "systemd did not come up in the container"
                time.sleep(1)
            docker("exec", "-d", name, "python3", "/plat-test/apt_proxy.py", "relay",
                   str(PROXY_PORT), "/plat-test/proxy.sock")
            # The engine inside cannot use overlayfs on this machine's overlayfs: a setting the
            # host already has, which the playbook must keep.
            target.sh("mkdir -p /etc/docker && echo '{\"storage-driver\": \"vfs\"}' "
                      "> /etc/docker/daemon.json")
            yield target
        finally:
            docker("rm", "-f", name, check=False)


FIRST: dict[str, Any] = {}


def test_first_run_starts_everything_once(container: Container) -> None:
    r = container.deploy(platd_region="ams")
    out = r.stdout + r.stderr
    (container.work / "first-run.log").write_text(out)
    assert r.returncode == 0, out[-6000:]
    FIRST["done"] = True
    for unit in ("docker.service", "platd-firewall.service", "platd.service"):
        state = container.sh(f"systemctl is-active {unit}", check=False).stdout.strip()
        assert state == "active", (unit, container.sh(f"journalctl -u {unit} --no-pager "
                                                      "| tail -20", check=False).stdout)
    assert container.wait_health("[::1]") == "ok"
    starts = container.sh("journalctl -u platd.service --no-pager | grep -c 'Started platd'",
                          check=False).stdout.strip()
    assert starts == "1", "platd must start once on the first run"
    daemon = json.loads(container.sh("cat /etc/docker/daemon.json").stdout)
    assert daemon["storage-driver"] == "vfs"
    assert daemon["live-restore"] is True
    info = container.sh("docker info --format '{{.LoggingDriver}} {{.LiveRestoreEnabled}}'")
    assert info.stdout.split() == ["json-file", "true"]


def test_second_run_changes_and_restarts_nothing(container: Container) -> None:
    if "done" not in FIRST:
        pytest.skip("the first run did not happen")
    pid = container.main_pid()
    r = container.deploy(platd_region="ams")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert changed_operations(out) == []
    assert container.main_pid() == pid


def test_platd_comes_back_after_kill(container: Container) -> None:
    if "done" not in FIRST:
        pytest.skip("the first run did not happen")
    shown = container.sh("systemctl show platd.service -p Restart -p RestartUSec "
                         "-p StartLimitIntervalUSec").stdout.split()
    assert shown == ["Restart=always", "RestartUSec=5s", "StartLimitIntervalUSec=0"]
    pid = container.main_pid()
    container.sh(f"kill -9 {pid}")
    assert container.wait_health("[::1]", 60) == "ok"
    assert container.main_pid() not in (pid, "0")


def test_firewall_fails_closed(container: Container) -> None:
    if "done" not in FIRST:
        pytest.skip("the first run did not happen")
    container.sh("nft delete table inet platd && sed -i 's/counter drop/counter dorp/' "
                 "/etc/nftables.d/platd.nft")
    assert container.sh("systemctl restart platd-firewall", check=False).returncode != 0
    container.sh("systemctl restart platd")
    assert container.wait_health("127.0.0.1") == "ok"
    assert container.health("[::1]") != "ok", "platd must not listen beyond loopback"
    assert "firewall table inet platd is not loaded" in container.sh(
        "journalctl -u platd --no-pager | tail -50").stdout

    r = container.deploy(platd_region="ams")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    # The firewall unit, once loaded, restarts platd, which now listens where it should.
    assert container.wait_health("[::1]", 60) == "ok"
    assert container.sh("test -e /run/platd/listen.env", check=False).returncode != 0
