"""``plat hosts add ssh://root@ADDRESS``: two fresh Debian hosts to a cluster, over real SSH.

Each target is a container the test starts from the cached Debian root with systemd as PID 1
and openssh-server (test_systemd_container.py's image; each box makes host keys of its own
at start), on a Docker network the test creates with ``--internal`` (no route out: only this
machine and the two containers are on it). apt inside reaches Debian's mirror only through
apt_proxy.py over a unix socket. The real ``plat`` runs here, with its own config dir and an
SSH key made for the test:

- ``--new-cluster`` bootstraps the first host (pyinfra through SSH), and ends with the CLI
  logged in over https with the cluster CA pinned; the admin token file is gone from the host
  and the token appears in no output.
- plain ``plat hosts add`` bootstraps the second and joins it with a join token that appears in
  no output either; both hosts then see each other alive.
- the same command again changes nothing (pyinfra's closing table) and restarts nothing.

Slow: about 8 minutes (two bootstraps and a rerun), plus the image the first time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PLAT
from tests.playbooks.debian_root import (
    PROXY,
    PROXY_PORT,
    changed_operations,
    mirror_proxy,
    shared_pyz,
    unavailable,
)
from tests.playbooks.test_systemd_container import docker, systemd_image

pytestmark = pytest.mark.slow


@dataclass
class Box:
    name: str
    ip: str

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, "sh", "-c", command, check=check, timeout=300)

    def journal(self) -> str:
        return self.sh("journalctl -u platd -u platd-firewall --no-pager | tail -60; "
                       "ss -ltnp; cat /run/platd/listen.env", check=False).stdout

    def main_pid(self) -> str:
        return self.sh("systemctl show -p MainPID --value platd.service").stdout.strip()


@dataclass
class Lab:
    boxes: list[Box]
    work: Path
    dist: Path
    key: Path
    config: Path

    def plat(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAT_")}
        env.update(PLAT_CONFIG_DIR=str(self.config), COLUMNS="200")
        return subprocess.run([PLAT, *args], capture_output=True, text=True, env=env,
                              timeout=1500, stdin=subprocess.DEVNULL, check=False)

    def add(self, box: Box, *extra: str) -> subprocess.CompletedProcess[str]:
        r = self.plat("hosts", "add", f"ssh://root@{box.ip}", "--name", box.name.split("-")[-1],
                      "--ssh-key", str(self.key), "--pyz", str(self.dist), *extra)
        (self.work / f"{box.name}-{time.monotonic():.0f}.log").write_text(r.stdout + r.stderr)
        return r


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0 or shutil.which("docker") is None or shutil.which("ssh") is None:
        unavailable("needs root, ssh and the Docker engine (scripts/dev-services)")
    if docker("info", check=False).returncode != 0:
        unavailable("the Docker engine does not answer (scripts/dev-services starts it)")
    if os.uname().machine != "x86_64":
        pytest.skip("the cached root and the build are amd64")
    work = tmp_path_factory.mktemp("hosts-add")
    dist = shared_pyz(tmp_path_factory)
    image = systemd_image(work)
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    bridge = work / "bridge"
    bridge.mkdir()
    shutil.copy(PROXY, bridge / "apt_proxy.py")
    shutil.copy(key.with_suffix(".pub"), bridge / "authorized_keys")
    net = f"plat-hostsadd-{os.getpid()}"
    docker("network", "create", "--internal", net)
    names = [f"plat-add-{os.getpid()}-h{i}" for i in (1, 2)]
    boxes: list[Box] = []
    try:
        with mirror_proxy(bridge / "proxy.sock", work / "proxy.log"):
            for name in names:
                docker("run", "-d", "--name", name, "--hostname", name.split("-")[-1],
                       "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                       "--security-opt", "seccomp=unconfined",
                       "--security-opt", "apparmor=unconfined", "--network", net,
                       "--tmpfs", "/run", "--tmpfs", "/run/lock",
                       "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                       "--sysctl", "net.ipv6.conf.all.forwarding=1",
                       "--sysctl", "net.ipv4.ip_forward=1",
                       "-v", f"{bridge}:/plat-test", image)
                ip = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}"
                            "{{.IPAddress}}{{end}}", name).stdout.strip()
                boxes.append(Box(name, ip))
            for box in boxes:
                deadline = time.monotonic() + 60
                while box.sh("systemctl is-system-running", check=False).stdout.strip() not in (
                        "running", "degraded"):
                    assert time.monotonic() < deadline, "systemd did not come up"
                    time.sleep(1)
                docker("exec", "-d", box.name, "python3", "/plat-test/apt_proxy.py", "relay",
                       str(PROXY_PORT), "/plat-test/proxy.sock")
                box.sh("mkdir -p /etc/docker && echo '{\"storage-driver\": \"vfs\"}' "
                       "> /etc/docker/daemon.json")
                # openssh-server is in the image: host keys of this box's own, the test's key.
                box.sh("rm -f /etc/ssh/ssh_host_*_key* && ssh-keygen -A -q"
                       " && mkdir -p -m 700 /root/.ssh && cp /plat-test/authorized_keys "
                       "/root/.ssh/ && chmod 600 /root/.ssh/authorized_keys && "
                       "systemctl restart ssh")
            yield Lab(boxes, work, dist, key, work / "plat-config")
    finally:
        for name in names:
            docker("rm", "-f", name, check=False)
        docker("network", "rm", net, check=False)


STATE: dict[str, str] = {}


def test_new_cluster_ends_logged_in_with_the_ca_pinned(lab: Lab) -> None:
    first = lab.boxes[0]
    r = lab.add(first, "--new-cluster", "lab", "--region", "ams", "--label", "disk=ssd")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:] + first.journal()
    assert f"is the first host of cluster lab: https://{first.ip}:7400" in r.stdout
    assert first.sh("test -e /var/lib/platd/admin-token", check=False).returncode != 0
    token = json.loads((lab.config / "config.json").read_text())["token"]
    assert token.startswith("plat_")
    assert token not in out
    assert len(list((lab.config / "ca").glob("*.pem"))) == 1
    who = lab.plat("whoami")
    assert who.returncode == 0, who.stderr
    assert f"https://{first.ip}:7400" in who.stdout
    STATE["first"] = "done"


def test_a_second_host_joins_with_a_token_no_output_shows(lab: Lab) -> None:
    if "first" not in STATE:
        pytest.skip("the first host was not added")
    second = lab.boxes[1]
    r = lab.add(second, "--region", "fra")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:] + second.journal()
    assert "is a member of the cluster of" in r.stdout
    assert re.search(r"platj_\S+", out) is None  # the join token is in no output
    assert second.sh("test -e /var/lib/platd/.join-token", check=False).returncode != 0
    deadline = time.monotonic() + 60
    while True:
        listed = lab.plat("hosts", "--json")
        hosts = json.loads(listed.stdout)["hosts"] if listed.returncode == 0 else []
        states = sorted((h["name"], h["state"], h["region"]) for h in hosts)
        if states == [("h1", "alive", "ams"), ("h2", "alive", "fra")]:
            break
        assert time.monotonic() < deadline, (listed.stdout, listed.stderr)
        time.sleep(1)
    STATE["second"] = "done"


def test_the_same_command_again_changes_nothing(lab: Lab) -> None:
    if "second" not in STATE:
        pytest.skip("the cluster was not made")
    first = lab.boxes[0]
    pid = first.main_pid()
    r = lab.add(first, "--new-cluster", "lab", "--region", "ams", "--label", "disk=ssd")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert changed_operations(out) == []
    assert first.main_pid() == pid
    assert lab.plat("whoami").returncode == 0
