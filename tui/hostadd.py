"""``plat hosts add ssh://root@ADDRESS``: a fresh Debian host to a cluster member, in one command.

What a field engineer would otherwise do by hand, in order: write an inventory for the one
host, run the playbooks (``playbooks/bootstrap.py`` through pyinfra, as a subprocess: its
output streams to the terminal and holds no token), and log in. The first host of a cluster
(``--new-cluster NAME``) runs ``platd init --cluster``; the CLI then reads the admin token and
the CA certificate over the same SSH connection it trusts for root (so the CA needs no
fingerprint check), logs in over https, pins the CA and deletes the token file on the host.
Any later host joins the cluster the CLI is logged in to: a single-use join token is minted
there, handed to the deploy in a 0600 file that the deploy uploads (never a command line, never
the output), and used up by ``platd init --join``.

A host that already has platd data is not initialised again, and no join token is minted for
it: a rerun only brings the host back to what the playbooks say, and changes nothing on a host
that is right. The playbooks and pyinfra come from a plat checkout; the single files from
``packaging/build-pyz`` (``--pyz``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from platd.spec.errors import DaemonUnreachable, InvalidInput, PlatError

CHECKOUT = Path(__file__).resolve().parent.parent
PLAYBOOKS = CHECKOUT / "playbooks"
DATA = "/var/lib/platd"
ADMIN_TOKEN_FILE = f"{DATA}/admin-token"
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SSH_TIMEOUT = 60.0


class DeployFailed(PlatError):
    """The playbook run failed; its output above says where."""

    code = "deploy_failed"
    exit_code = 8


@dataclass(frozen=True)
class Target:
    user: str
    host: str  # as given (a name or an address)
    address: str  # an IP address: for the API URL, gossip and the firewall
    port: int

    @property
    def bracketed(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address


def parse_target(text: str) -> Target:
    """``ssh://[USER@]HOST[:PORT]``; USER defaults to root, PORT to 22."""
    if len(text) > 300:
        raise InvalidInput("the host address is too long (at most 300 characters)")
    parts = urlsplit(text if "://" in text else f"ssh://{text}")
    try:
        port = parts.port or 22
    except ValueError:
        port = -1
    host = parts.hostname or ""
    user = parts.username or "root"
    if (parts.scheme != "ssh" or not host or port <= 0 or parts.path not in ("", "/")
            or parts.password or parts.query or not _USER.match(user)):
        raise InvalidInput(f"cannot use host {text!r}",
                           hint="write it as ssh://root@ADDRESS (or ssh://USER@HOST:PORT)")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        if not _HOSTNAME.match(host):
            raise InvalidInput(f"{host!r} is not a host name or address") from None
        try:
            address = str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
        except OSError as e:
            raise InvalidInput(f"cannot resolve {host}: {e}",
                               hint="give the host's address instead") from None
    return Target(user, host, address, port)


def parse_labels(values: list[str], region: str | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not eq or not _LABEL.match(key) or not val or len(val) > 63 or \
                not re.match(r"^[A-Za-z0-9._-]+$", val):
            raise InvalidInput(f"cannot use label {value[:80]!r}",
                               hint="write KEY=VALUE, e.g. --label disk=ssd")
        labels[key] = val
    if region is not None:
        if not _LABEL.match(region):
            raise InvalidInput(f"cannot use region {region[:80]!r}",
                               hint="lower case letters, digits, dots and dashes: --region ams")
        labels["region"] = region
    return labels


def default_peers(target: Target) -> list[str]:
    """Who may reach the new host's API: its own network (/24 or /64, where its cluster
    peers usually are) and the address this machine reaches it from."""
    ip = ipaddress.ip_address(target.address)
    net = ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False)
    peers = [str(net)]
    try:
        with socket.socket(socket.AF_INET if ip.version == 4 else socket.AF_INET6,
                           socket.SOCK_DGRAM) as s:
            s.connect((target.address, target.port))  # no packet is sent for UDP
            mine = s.getsockname()[0]
        if ipaddress.ip_address(mine) not in net:
            peers.append(mine)
    except OSError:
        pass
    return peers


def host_data(target: Target, *, name: str, pyz: Path, labels: dict[str, str],
              peers: list[str], api_port: int, cluster: str | None, join: str | None,
              join_token_file: str | None, ssh_key: str | None,
              known_hosts: str) -> dict[str, Any]:
    """The inventory data of the one host (playbooks/README.md lists each key)."""
    listen = f"[::]:{api_port}" if ":" in target.address else f"0.0.0.0:{api_port}"
    data: dict[str, Any] = {
        "ssh_user": target.user, "ssh_port": target.port,
        "ssh_known_hosts_file": known_hosts, "ssh_strict_host_key_checking": "accept-new",
        "plat_pyz": str(pyz), "platd_name": name, "platd_listen": listen,
        "platd_peers": peers,
        "platd_gossip": f"{target.bracketed}:7946",
        "platd_advertise": f"https://{target.bracketed}:{api_port}",
        # A cluster member's endpoints reach instances on every host only through HAProxy
        # (the bootstrap installs it); the built-in proxy serves this host's instances.
        "platd_ingress_driver": "haproxy",
    }
    if ssh_key:
        data["ssh_key"] = ssh_key
    if labels:
        region = labels.get("region")
        rest = {k: v for k, v in labels.items() if k != "region"}
        if region:
            data["platd_region"] = region
        if rest:
            data["platd_labels"] = rest
    if cluster:
        data["platd_cluster"] = cluster
    if join:
        data["platd_join"] = join
        data["platd_join_token_file"] = join_token_file
    return data


class Ssh:
    """Commands on the target over the system's ssh, as the same user as the deploy."""

    def __init__(self, target: Target, key: str | None, known_hosts: str) -> None:
        self.target = target
        self.argv = ["ssh", "-p", str(target.port), "-o", "BatchMode=yes",
                     "-o", "StrictHostKeyChecking=accept-new",
                     "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=20",
                     *(["-i", key] if key else []), f"{target.user}@{target.address}"]

    def run(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run([*self.argv, command], capture_output=True, text=True,
                                  timeout=SSH_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DaemonUnreachable(f"cannot run ssh to {self.target.host}: {e}") from None
        if check and done.returncode != 0:
            raise DaemonUnreachable(
                f"ssh {self.target.user}@{self.target.host} failed: "
                f"{done.stderr.strip()[-300:] or 'exit ' + str(done.returncode)}",
                hint=["can you log in with: ssh -p "
                      f"{self.target.port} {self.target.user}@{self.target.host} ?",
                      "give the key with --ssh-key PATH"])
        return done


def pyinfra_program() -> str:
    here = Path(sys.executable).parent / "pyinfra"
    if here.exists():
        return str(here)
    import shutil

    found = shutil.which("pyinfra")
    if found is None:
        raise InvalidInput("plat hosts add needs pyinfra",
                           hint="in a plat checkout: scripts/setup (it is in .venv); "
                           "elsewhere: uv tool install pyinfra")
    return found


def run_bootstrap(inventory: Path, say: Any) -> None:
    """pyinfra with the bootstrap deploy, its output streamed to stderr."""
    if not (PLAYBOOKS / "bootstrap.py").exists():
        raise InvalidInput(f"no playbooks at {PLAYBOOKS}",
                           hint="run plat hosts add from a plat checkout (.venv/bin/plat)")
    argv = [pyinfra_program(), str(inventory), str(PLAYBOOKS / "bootstrap.py"), "-y"]
    env = {k: v for k, v in os.environ.items() if k not in ("PLAT_TOKEN", "PLAT_JOIN_TOKEN")}
    say(f"running: {shlex.join(argv)}")
    proc = subprocess.run(argv, cwd=inventory.parent, env=env, stdin=subprocess.DEVNULL,
                          stdout=sys.stderr, stderr=sys.stderr, check=False)
    if proc.returncode != 0:
        raise DeployFailed(f"the bootstrap deploy failed (pyinfra exit {proc.returncode})",
                           hint="its output above names the operation that failed; fix it "
                           "and run the same plat hosts add again (it picks up where it was)")


def wait_whoami(client: Any, seconds: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            me: dict[str, Any] = client.get("/v1/whoami")
            return me
        except DaemonUnreachable:
            if time.monotonic() > deadline:
                raise
            client.close()
            time.sleep(1)


def pyz_dir(given: str | None) -> Path:
    path = Path(given) if given else CHECKOUT / "dist"
    if not path.exists() or (path.is_dir() and not any(path.glob("plat-debian*"))):
        raise InvalidInput(f"no single files in {path}",
                           hint="build them first: packaging/build-pyz (or pass --pyz DIR)")
    return path.resolve()


def private_dir() -> tempfile.TemporaryDirectory[str]:
    made = tempfile.TemporaryDirectory(prefix="plat-hosts-add-")
    os.chmod(made.name, 0o700)
    return made


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
