"""The cluster a host belongs to, as files in its data directory.

    DATA/cluster.json   {"id", "name"}: which cluster (absent on a host of its own)
    DATA/cluster.key    32 random bytes every member shares: peers sign requests with it
    DATA/gossip.json    the Serf keyring every member shares and this host's own RPC key
    DATA/secret.key     the key that seals secret values; a cluster shares one, so any host
                        can deliver any secret (it is handed to a joining host, never sent
                        in the clear)
    DATA/serf/          the Serf agent's config, keyring and rpc key (platd.gossip.agent)

The files are written 0600 and never printed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from platd.private_files import write_private
from platd.spec.errors import Conflict
from platd.spec.ids import uuid7

KEY_BYTES = 32


@dataclass(frozen=True)
class ClusterIdentity:
    id: str
    name: str
    key: bytes  # the peer-authentication key
    gossip_keyring: tuple[str, ...] = ()  # base64 Serf keys, the first in use
    rpc_auth: str = ""  # this host's Serf RPC key (not shared)

    def __repr__(self) -> str:  # never a key in a log line or traceback
        return f"ClusterIdentity(id={self.id!r}, name={self.name!r})"


def cluster_file(data: Path) -> Path:
    return data / "cluster.json"


def key_file(data: Path) -> Path:
    return data / "cluster.key"


def load(data: Path) -> ClusterIdentity | None:
    """This host's cluster, or None for a host of its own."""
    path = cluster_file(data)
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    gossip = json.loads(gossip_file(data).read_text())
    return ClusterIdentity(meta["id"], meta["name"], key_file(data).read_bytes(),
                           tuple(gossip["keyring"]), gossip["rpc"])


def gossip_file(data: Path) -> Path:
    return data / "gossip.json"


def write(data: Path, cluster_id: str, name: str, key: bytes,
          gossip_keyring: tuple[str, ...]) -> ClusterIdentity:
    if cluster_file(data).exists():
        current = load(data)
        raise Conflict(
            f"{data} already belongs to cluster {current.name if current else '?'}",
            hint="a host is in one cluster; to move it, remove it there and init a fresh data dir",
        )
    rpc_auth = secrets.token_urlsafe(32)
    write_private(key_file(data), key)
    write_private(gossip_file(data),
                  json.dumps({"keyring": list(gossip_keyring), "rpc": rpc_auth}).encode())
    # Last: its presence is what says "this host is in a cluster".
    meta = json.dumps({"id": cluster_id, "name": name}) + "\n"
    write_private(cluster_file(data), meta.encode())
    return ClusterIdentity(cluster_id, name, key, gossip_keyring, rpc_auth)


def create(data: Path, name: str) -> ClusterIdentity:
    from platd.gossip.agent_config import generate_key

    return write(data, uuid7(), name, os.urandom(KEY_BYTES), (generate_key(),))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
