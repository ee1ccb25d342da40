"""The settings of one host's Serf agent and its two secrets, rendered as Serf's JSON config.

Pure: no files, no processes (``agent.SerfAgent`` writes and runs what this renders). Keys are
those of ``cmd/serf/command/agent/config.go``. The choices, and why:

- ``profile`` ``lan`` (probe every 1 s, suspicion 4 s x log10(n), gossip every 200 ms): a killed
  host is marked failed in about 5-7 s. ``wan`` is for hosts across the internet (slower,
  fewer false alarms); ``local`` is quicker still but flaps on a busy host.
- ``reconnect_interval`` 5 s (Serf's default is 30 s): how often an agent retries failed
  members, which is what re-merges the two sides after a partition heals.
- ``reconnect_timeout`` 72 h: a failed host is forgotten (reaped) only after that, or earlier
  by ``plat hosts remove`` (force-leave). ``tombstone_timeout`` 24 h for hosts that left.
- ``skip_leave_on_interrupt``/``leave_on_terminate``: a signal never makes the host leave the
  cluster; leaving is an explicit act (``SerfAgent.stop(leave=True)``).
- ``disable_coordinates``: plat does not use Serf's network coordinates.
- ``event_handlers`` none: platd reads events over the RPC stream.
- The RPC listens on loopback and requires ``rpc_auth``; gossip is encrypted with the keyring.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from platd.gossip.address import parse_address
from platd.gossip.tags import MAX_TAGS_BYTES, encoded_size
from platd.spec.errors import InvalidInput

__all__ = [
    "DEFAULT_BIND_PORT",
    "DEFAULT_RPC_ADDR",
    "AgentConfig",
    "AgentSecrets",
    "Profile",
    "generate_key",
    "render_config",
]

DEFAULT_BIND_PORT = 7946
DEFAULT_RPC_ADDR = "127.0.0.1:7373"
Profile = Literal["lan", "wan", "local"]
_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m|h)$")


def generate_key() -> str:
    """A new gossip encryption key, as ``serf keygen`` makes one: 32 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class AgentSecrets:
    """The RPC auth key and the gossip keyring (base64 keys, the first one in use).

    Both are cluster secrets: never printed (``repr`` hides them), written only to mode 0600
    files in the agent's state directory.
    """

    rpc_auth: str = field(repr=False)
    keyring: tuple[str, ...] = field(repr=False)

    @classmethod
    def generate(cls) -> AgentSecrets:
        return cls(rpc_auth=secrets.token_urlsafe(32), keyring=(generate_key(),))

    def validate(self) -> None:
        if len(self.rpc_auth) < 16:
            raise InvalidInput(
                "the Serf RPC auth key is too short (16 characters at least)",
                hint="let platd generate one (AgentSecrets.generate())",
            )
        if not self.keyring:
            raise InvalidInput("the gossip keyring is empty: gossip would travel unencrypted")
        for position, key in enumerate(self.keyring, start=1):
            try:
                raw = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) not in (16, 24, 32):
                # The key itself is never shown: only where it is.
                raise InvalidInput(
                    f"gossip keyring key #{position} is not base64 of 16, 24 or 32 bytes",
                    hint="make one with `serf keygen` (or generate_key())",
                )


@dataclass(frozen=True)
class AgentConfig:
    node_name: str  # this host's id: unique in the cluster, the same across restarts
    bind: str  # "IP:PORT" of the gossip listener (TCP and UDP), e.g. "10.0.0.5:7946"
    rpc_addr: str = DEFAULT_RPC_ADDR  # loopback only
    advertise: str | None = None  # "IP:PORT" peers should use, when it differs from bind
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    profile: Profile = "lan"
    reconnect_interval: str = "5s"
    reconnect_timeout: str = "72h"
    tombstone_timeout: str = "24h"
    user_event_size_limit: int = 512  # Serf's default; 9216 at most
    # Peers to keep trying at start, every reconnect_interval, until one answers. The snapshot
    # rejoins too, but Serf flushes it lazily: after a crash it can lack recent peers.
    retry_join: tuple[str, ...] = ()
    log_level: str = "info"

    def validate(self) -> None:
        if not self.node_name or len(self.node_name) > 128:
            raise InvalidInput("the Serf node name must be 1-128 characters (the host id)")
        for what, value in (("bind", self.bind), ("advertise", self.advertise)):
            if value is not None:
                _check_endpoint(what, value)
        host, _ = _check_endpoint("rpc_addr", self.rpc_addr)
        if not ipaddress.ip_address(host).is_loopback:
            raise InvalidInput(
                f"the Serf RPC must listen on loopback, not {self.rpc_addr}",
                hint=f"use {DEFAULT_RPC_ADDR}: platd is its only client",
            )
        if self.profile not in ("lan", "wan", "local"):
            raise InvalidInput(f"unknown Serf timing profile {self.profile!r} (lan, wan, local)")
        for what, value in (
            ("reconnect_interval", self.reconnect_interval),
            ("reconnect_timeout", self.reconnect_timeout),
            ("tombstone_timeout", self.tombstone_timeout),
        ):
            if not _DURATION.match(value):
                raise InvalidInput(f"{what} {value!r} is not a duration like 5s, 10m or 72h")
        if not 64 <= self.user_event_size_limit <= 9216:
            raise InvalidInput("user_event_size_limit must be between 64 and 9216 bytes")
        size = encoded_size(self.tags)
        if size > MAX_TAGS_BYTES:
            raise InvalidInput(
                f"the agent's tags take {size} bytes; Serf carries at most {MAX_TAGS_BYTES}"
            )


def _check_endpoint(what: str, value: str) -> tuple[str, int]:
    try:
        host, port = parse_address(value)
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not IP:PORT", hint='e.g. "10.0.0.5:7946" or "[fd00::5]:7946"'
        ) from None
    if not 0 < port < 65536:
        raise InvalidInput(f"{what} {value!r} has no valid port")
    return host, port


def render_config(
    config: AgentConfig, secrets: AgentSecrets, *, keyring_file: Path, snapshot_file: Path
) -> dict[str, Any]:
    """Serf's JSON config for this agent (it holds ``rpc_auth``: write it mode 0600)."""
    config.validate()
    secrets.validate()
    rendered: dict[str, Any] = {
        "node_name": config.node_name,
        "bind": config.bind,
        "rpc_addr": config.rpc_addr,
        "rpc_auth": secrets.rpc_auth,
        "keyring_file": str(keyring_file),
        "snapshot_path": str(snapshot_file),
        "tags": dict(config.tags),
        "profile": config.profile,
        "reconnect_interval": config.reconnect_interval,
        "reconnect_timeout": config.reconnect_timeout,
        "tombstone_timeout": config.tombstone_timeout,
        "user_event_size_limit": config.user_event_size_limit,
        "event_handlers": [],
        "leave_on_terminate": False,
        "skip_leave_on_interrupt": True,
        "disable_coordinates": True,
        "log_level": config.log_level,
    }
    if config.advertise:
        rendered["advertise"] = config.advertise
    if config.retry_join:
        rendered["retry_join"] = list(config.retry_join)
        rendered["retry_interval"] = config.reconnect_interval
    return rendered
