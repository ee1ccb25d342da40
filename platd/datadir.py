"""A host's data directory: what ``platd init`` creates and ``platd serve`` opens.

    DATA/host.json     host id and name (the id is this host's ``origin`` in replicated rows)
    DATA/state.db      desired and observed state (SQLite, WAL)
    DATA/logs.db       app and system log lines (SQLite, WAL; see docs/logs.md)
    DATA/secret.key    the key that seals secret values (mode 0600)
    DATA/platd.toml    optional settings: registry, labels, address pools, storage limits
    DATA/run/          per-instance files delivered into containers (secrets), mode 0700
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7
from platd.spec.limits import DEFAULTS as LIMIT_DEFAULTS
from platd.spec.limits import Limits

LIMIT_SETTINGS = tuple(LIMIT_DEFAULTS)


def default_data_dir() -> Path:
    env = os.environ.get("PLAT_DATA")
    if env:
        return Path(env)
    if os.geteuid() == 0 and not os.environ.get("XDG_DATA_HOME"):
        return Path("/var/lib/platd")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(base) / "platd"


@dataclass
class HostSettings:
    """``platd.toml``: everything optional, defaults suit one development host."""

    registry: str = "127.0.0.1:5000"
    labels: dict[str, str] = field(default_factory=lambda: {"region": "local"})
    resync_seconds: float = 5.0
    logs_max_age: str | float = "7d"  # lines older than this are deleted; "0": no age limit
    logs_max_bytes: str | int = "1G"  # the log store's size limit; "0": no size limit
    # Endpoint address pools (addresses or prefixes routed to this host; see docs/endpoints.md)
    # and the data plane that serves them.
    ingress_ipv6: list[str] = field(default_factory=lambda: ["::1"])
    ingress_ipv4: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    ingress_driver: str = "builtin"  # builtin | haproxy
    # The port of this host's hop, where other hosts' ingress reaches its instances for
    # endpoints they serve (haproxy driver; the same on every host of a cluster).
    hop_port: int = 7401
    # Cluster members only (docs/cluster.md): where Serf gossips, and the API address peers
    # and users reach this host at.
    gossip_bind: str = ""
    api_url: str = ""
    # More names and addresses the API's TLS certificate must carry (a NAT address, a DNS
    # name), besides the host's own addresses and the host of api_url (platd.certs).
    tls_names: list[str] = field(default_factory=list)
    serf_rpc: str = "127.0.0.1:7373"  # the agent's RPC, on loopback (several hosts on one
    # machine, as scripts/dev-cluster runs them, need one port each)
    anti_entropy_seconds: float = 10.0
    # Storage limits (platd/spec/limits.py, docs/operations.md): per env, and the free space
    # on the data directory's filesystem that volumes and snapshots may not take.
    env_config_max_bytes: str | int = "1M"
    env_secrets_max_bytes: str | int = "1M"
    env_logs_max_bytes: str | int = "256M"  # "0": no per-env limit (logs_max_bytes still holds)
    disk_reserve: str | int = "1G"  # "0": volumes may take every free byte
    disk_min_free: str | int = "256M"  # below it the host is "full": additions are refused
    # Each env's instances get a bridge network with a /24 of this pool (docs/operations.md).
    instance_network_pool: str = "10.213.0.0/16"
    pids_limit: int = 4096  # processes and threads per instance
    # Registries deploys may name besides ``registry`` (host[:port]; docs/operations.md).
    allowed_registries: list[str] = field(default_factory=list)

    @property
    def registries(self) -> list[str]:
        """The registries deploys may pull from: the host's own (builds are pushed there) and
        the allow-list."""
        host = self.registry.split("/", 1)[0]
        return [host, *(r for r in self.allowed_registries if r.lower() != host.lower())]
    # plat login's device flow: how long a code works, and the poll interval it asks for.
    device_code_seconds: float = 600.0
    device_poll_seconds: float = 5.0
    # How long a failed host keeps its instances before they are placed elsewhere.
    host_grace_seconds: float = 60.0

    @classmethod
    def load(cls, path: Path) -> HostSettings:
        if not path.exists():
            return cls()
        try:
            data: dict[str, Any] = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise InvalidInput(f"{path}: {e}", hint="fix the file and start platd again") from e
        known = {"registry", "labels", "resync_seconds", "logs_max_age", "logs_max_bytes",
                 "ingress_ipv6", "ingress_ipv4", "ingress_driver", "gossip_bind", "api_url",
                 "hop_port", "serf_rpc", "tls_names",
                 "anti_entropy_seconds", "instance_network_pool", "pids_limit",
                 "allowed_registries", "device_code_seconds", "device_poll_seconds",
                 "host_grace_seconds",
                 *LIMIT_SETTINGS}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(
                f"{path}: unknown settings {', '.join(sorted(unknown))}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        problems = [
            f"{key} must be {what}"
            for key, (ok, what) in {
                "registry": (isinstance(data.get("registry", ""), str),
                             "a string like \"127.0.0.1:5000\""),
                "labels": (isinstance(data.get("labels", {}), dict)
                           and all(isinstance(v, str) for v in data.get("labels", {}).values()),
                           "a table of strings, e.g. labels = { region = \"eu-west\" }"),
                "resync_seconds": (isinstance(data.get("resync_seconds", 1.0), int | float)
                                   and data.get("resync_seconds", 1.0) > 0, "a positive number"),
                "logs_max_age": (isinstance(data.get("logs_max_age", ""), str | int | float),
                                 "a duration like \"7d\""),
                "logs_max_bytes": (isinstance(data.get("logs_max_bytes", ""), str | int),
                                   "a size like \"1G\""),
                "ingress_ipv6": (_pool_ok(data.get("ingress_ipv6", []), 6),
                                 'a list of IPv6 addresses or prefixes, e.g. ["2001:db8::/64"]'),
                "ingress_ipv4": (_pool_ok(data.get("ingress_ipv4", []), 4),
                                 'a list of IPv4 addresses or prefixes, e.g. ["203.0.113.7"]'),
                "ingress_driver": (data.get("ingress_driver", "builtin") in ("builtin", "haproxy"),
                                   '"builtin" or "haproxy"'),
                "hop_port": (not isinstance(data.get("hop_port"), bool)
                             and isinstance(data.get("hop_port"), int)
                             and 1 <= data.get("hop_port", 0) <= 65535,
                             "a port number from 1 to 65535, the same on every host"),
                "gossip_bind": (isinstance(data.get("gossip_bind", ""), str),
                                'an address like "10.0.0.5:7946"'),
                "serf_rpc": (isinstance(data.get("serf_rpc", ""), str),
                             'a loopback address like "127.0.0.1:7373"'),
                "api_url": (isinstance(data.get("api_url", ""), str),
                            'a URL like "http://10.0.0.5:7400"'),
                "tls_names": (isinstance(data.get("tls_names"), list)
                              and len(data.get("tls_names", [])) <= 50
                              and all(isinstance(n, str) and _TLS_NAME_RE.match(n)
                                      for n in data.get("tls_names", [])),
                              'a list of at most 50 DNS names or addresses, e.g. '
                              '["plat.example.net", "203.0.113.7"]'),
                "anti_entropy_seconds": (
                    isinstance(data.get("anti_entropy_seconds", 1.0), int | float)
                    and 0 < data.get("anti_entropy_seconds", 1.0) <= 3600,
                    "a number of seconds, at most 3600"),
                "instance_network_pool": (_network_pool_ok(data.get("instance_network_pool")),
                                          'an IPv4 prefix of /8 to /24, e.g. "10.213.0.0/16"'),
                "pids_limit": (not isinstance(data.get("pids_limit"), bool)
                               and isinstance(data.get("pids_limit"), int)
                               and 64 <= data.get("pids_limit", 0) <= 4_194_304,
                               "a whole number of processes from 64 to 4194304"),
                "allowed_registries": (
                    isinstance(data.get("allowed_registries"), list)
                    and all(isinstance(r, str) and _REGISTRY_RE.match(r)
                            for r in data.get("allowed_registries", [])),
                    'a list of registries as host[:port], e.g. ["registry.internal:5000", '
                    '"ghcr.io"]'),
                "device_code_seconds": (
                    isinstance(data.get("device_code_seconds", 60), int | float)
                    and 5 <= data.get("device_code_seconds", 60) <= 3600,
                    "a number of seconds from 5 to 3600"),
                "device_poll_seconds": (
                    isinstance(data.get("device_poll_seconds", 5), int | float)
                    and 0.1 <= data.get("device_poll_seconds", 5) <= 60,
                    "a number of seconds from 0.1 to 60"),
                "host_grace_seconds": (
                    isinstance(data.get("host_grace_seconds", 1.0), int | float)
                    and 0 < data.get("host_grace_seconds", 1.0) <= 86400,
                    "a number of seconds, at most 86400 (a day)"),
            }.items()
            if key in data and not ok
        ]
        if problems:
            raise InvalidInput(f"{path}: " + "; ".join(problems),
                               hint="fix the file and start platd again")
        try:
            Limits.from_settings(data)
        except InvalidInput as e:
            raise InvalidInput(f"{path}: {e.message}", hint="fix the file and start platd again"
                               ) from None
        return cls(**data)

    def limits(self) -> Limits:
        return Limits.from_settings({k: getattr(self, k) for k in LIMIT_SETTINGS})


_TLS_NAME_RE = re.compile(r"^(?:[0-9a-fA-F:.]{2,45}|[A-Za-z0-9*](?:[A-Za-z0-9.-]{0,252}))$")
_REGISTRY_RE = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")


def _network_pool_ok(value: Any) -> bool:
    import ipaddress

    try:
        network = ipaddress.ip_network(value) if isinstance(value, str) else None
    except ValueError:
        return False
    return network is not None and network.version == 4 and 8 <= network.prefixlen <= 24


def _pool_ok(value: Any, version: int) -> bool:
    import ipaddress

    if not isinstance(value, list):
        return False
    for entry in value:
        try:
            if not isinstance(entry, str):
                return False
            if ipaddress.ip_network(entry, strict=False).version != version:
                return False
        except ValueError:
            return False
    return True


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def state_db(self) -> Path:
        return self.path / "state.db"

    @property
    def logs_db(self) -> Path:
        return self.path / "logs.db"

    @property
    def host_file(self) -> Path:
        return self.path / "host.json"

    @property
    def key_file(self) -> Path:
        return self.path / "secret.key"

    @property
    def settings_file(self) -> Path:
        return self.path / "platd.toml"

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    def exists(self) -> bool:
        return self.host_file.exists()

    def create(self, name: str | None = None) -> dict[str, Any]:
        if self.exists():
            raise Conflict(
                f"{self.path} is already initialised (host {self.host()['id']})",
                hint="start it with: platd serve --data " + str(self.path),
            )
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkdir's mode does nothing to a directory that already exists (an operator's
        # `mkdir /var/lib/platd`, umask 022): state.db, keys and tokens must not be readable
        # by other local users, so the mode is set whatever was there.
        self.path.chmod(0o700)
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self.run_dir.chmod(0o700)
        host = {"id": uuid7(), "name": name or socket.gethostname(), "created_at": time.time()}
        self.host_file.write_text(json.dumps(host, indent=2) + "\n")
        return host

    def host(self) -> dict[str, Any]:
        if not self.exists():
            raise NotFound(
                f"no platd data in {self.path}",
                hint=f"create it with: platd init --data {self.path}",
            )
        data: dict[str, Any] = json.loads(self.host_file.read_text())
        return data

    def settings(self) -> HostSettings:
        return HostSettings.load(self.settings_file)
