"""``platd init --cluster`` and ``platd init --join``: a host's first step into a cluster.

Making a cluster writes its identity next to the host's data. Joining asks a member (with a
join token, through the key exchange in ``join``) for the cluster's keys, writes them, takes the
cluster's secret key in place of this fresh host's own, and pulls the whole replicated state
from that member before returning, so the new host never serves or reconciles from an empty
database. A host that already holds state does not join: its secrets are sealed with a key
the cluster does not share.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from platd.cluster import identity
from platd.cluster.identity import ClusterIdentity, unb64
from platd.private_files import write_private
from platd.secrets import join
from platd.spec.errors import Conflict, DaemonUnreachable, InvalidInput, from_wire
from platd.store.db import Store

JOIN_TIMEOUT = 15.0


def settings_lines(gossip_bind: str, api_url: str) -> str:
    return f'gossip_bind = "{gossip_bind}"\napi_url = "{api_url}"\n'


def write_settings(settings_file: Path, gossip_bind: str, api_url: str) -> None:
    """Record where this host gossips and answers, at the top of platd.toml (kept otherwise)."""
    current = settings_file.read_text() if settings_file.exists() else ""
    kept = "".join(line for line in current.splitlines(keepends=True)
                   if not line.startswith(("gossip_bind", "api_url")))
    # Top-level keys must come before any [table], or TOML puts them inside it.
    settings_file.write_text(settings_lines(gossip_bind, api_url) + kept)


def post_join(address: str, body: dict[str, Any]) -> dict[str, Any]:
    url = address.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    request = urllib.request.Request(
        url + "/v1/peer/join", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    context = None
    if url.startswith("https://"):
        import ssl

        # The joining host has no trust anchor yet: the cluster CA comes in the answer. The
        # join's own key exchange authenticates both sides with the token (secrets.join), so
        # a machine in the middle learns nothing and cannot forge the answer; everything
        # after the join checks the member's certificate against that CA.
        context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(request, timeout=JOIN_TIMEOUT, context=context) as r:
            answer: dict[str, Any] = json.loads(r.read())
            return answer
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read())
        except ValueError:
            raise DaemonUnreachable(f"{url} answered {e.code} to the join") from None
        raise from_wire(body, e.code) from None
    except (urllib.error.URLError, OSError) as e:
        raise DaemonUnreachable(
            f"cannot reach {url} to join: {getattr(e, 'reason', e)}",
            hint="is platd serving there, and reachable from this host?",
        ) from None


def join_cluster(
    data: Path, key_file: Path, store: Store, host: dict[str, Any], address: str, token_text: str,
    *, gossip_bind: str, api_url: str, region: str = "", labels: dict[str, str] | None = None,
) -> tuple[ClusterIdentity, int]:
    """Join through the member at ``address``; returns the identity and rows pulled."""
    token = join.parse_token(token_text)
    if _holds_state(store):
        raise Conflict(
            f"{data} already holds state; a host joins a cluster with a fresh data dir",
            hint="init a new data dir for this host and join with that",
        )
    request = join.make_request(token, {
        "id": host["id"], "name": host["name"], "api": api_url, "gossip": gossip_bind,
        "region": region, "labels": labels or {},
    })
    answer = join.open_answer(token, request, post_join(address, request.body))
    try:
        cluster = answer["cluster"]
        key, secret_key = unb64(answer["cluster_key"]), unb64(answer["secret_key"])
        keyring = tuple(answer["gossip_keyring"])
    except (KeyError, ValueError, TypeError):
        raise InvalidInput("the member's answer to the join is incomplete") from None
    ca_cert, ca_key = answer.get("ca_cert"), answer.get("ca_key")
    write_private(key_file, secret_key)
    if isinstance(ca_cert, str) and isinstance(ca_key, str):
        from platd import certs

        certs.write_ca(data, ca_cert, ca_key)
    ident = identity.write(data, cluster["id"], cluster["name"], key, keyring)
    pulled = asyncio.run(_full_sync(store, ident, str(host["id"]), address, data))
    return ident, pulled


def _holds_state(store: Store) -> bool:
    from sqlmodel import select

    from platd.store.models import Org

    with store.read() as session:
        return session.exec(select(Org)).first() is not None


async def _full_sync(store: Store, ident: ClusterIdentity, host_id: str, address: str,
                     data: Path) -> int:
    from platd import certs
    from platd.cluster.transport import HttpPeerTransport

    url = address.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    transport = HttpPeerTransport(host_id, ident.key, timeout=JOIN_TIMEOUT,
                                  ssl_context=certs.client_context(data))
    pulled = 0
    try:
        marks = await transport.high_water(url)
        for origin in sorted(marks):
            while True:
                since = store.high_water().get(origin, 0)
                rows = await transport.rows(url, origin, since, 1000)
                if not rows:
                    break
                store.apply_remote(rows, {origin: int(rows[-1]["row"]["hlc"])})
                pulled += len(rows)
    finally:
        await transport.close()
    return pulled
