"""A host's data directory: what ``platd init`` creates and ``platd serve`` opens.

    DATA/host.json     host id and name (the id is this host's ``origin`` in replicated rows)
    DATA/state.db      desired and observed state (SQLite, WAL)
    DATA/logs.db       app and system log lines (SQLite, WAL; see docs/logs.md)
    DATA/secret.key    the key that seals secret values (mode 0600)
    DATA/platd.toml    optional settings: registry, labels, address pools
    DATA/run/          per-instance files delivered into containers (secrets), mode 0700
"""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platd.spec.errors import Conflict, InvalidInput, NotFound
from platd.spec.ids import uuid7


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
    # Cluster members only (docs/cluster.md): where Serf gossips, and the API address peers
    # and users reach this host at.
    gossip_bind: str = ""
    api_url: str = ""
    serf_rpc: str = "127.0.0.1:7373"  # the agent's RPC, on loopback (several hosts on one
    # machine, as scripts/dev-cluster runs them, need one port each)
    anti_entropy_seconds: float = 10.0
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
                 "serf_rpc",
                 "anti_entropy_seconds", "host_grace_seconds"}
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
                "gossip_bind": (isinstance(data.get("gossip_bind", ""), str),
                                'an address like "10.0.0.5:7946"'),
                "serf_rpc": (isinstance(data.get("serf_rpc", ""), str),
                             'a loopback address like "127.0.0.1:7373"'),
                "api_url": (isinstance(data.get("api_url", ""), str),
                            'a URL like "http://10.0.0.5:7400"'),
                "anti_entropy_seconds": (
                    isinstance(data.get("anti_entropy_seconds", 1.0), int | float)
                    and 0 < data.get("anti_entropy_seconds", 1.0) <= 3600,
                    "a number of seconds, at most 3600"),
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
        return cls(**data)


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
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
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
