"""How one host reads another's rows: the peer API over HTTP, or an in-memory fake.

Two calls are all replication needs: a peer's high-water marks (per origin, the newest stamp it
holds) and a page of one origin's rows after a stamp. Each request is signed with the cluster
key (``peer_auth``); an https peer must show a certificate of the cluster CA. Failures come
back as ``PeerUnreachable`` whatever the cause (refused, timed out, a 5xx, a bad signature), so
the replicator has one thing to handle: try another peer, or the same one on the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from platd.cluster import peer_auth
from platd.spec.errors import PlatError
from platd.store.db import Store
from platd.store.replication import WireRow


class PeerUnreachable(PlatError):
    """A peer did not answer a replication request as it should have."""


class PeerTransport(Protocol):
    async def reachable(self, api: str, timeout: float) -> bool: ...

    async def high_water(self, api: str) -> dict[str, int]: ...

    async def rows(self, api: str, origin: str, since: int, limit: int) -> list[WireRow]: ...


class HttpPeerTransport:
    """Signed HTTP requests to ``/v1/peer/*`` of another host (``api`` is its base URL)."""

    def __init__(self, host_id: str, key: bytes, *, timeout: float = 5.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host_id = host_id
        # For https peers: the cluster CA (platd.certs.client_context), never system trust
        # alone; None only on a data dir made before platd had a CA.
        self.ssl_context = ssl_context
        self._key = key
        self.timeout = timeout
        self._session: Any = None

    async def _get(self, api: str, target: str, timeout: float | None = None) -> Any:
        import aiohttp
        import yarl

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(ssl=self.ssl_context or True),
            )
        headers = {"Authorization": peer_auth.sign(self._key, self.host_id, "GET", target)}
        try:
            # encoded=True: the URL goes out exactly as signed (yarl would otherwise requote
            # the query, e.g. %2F back to /, and the peer would see another target).
            url = yarl.URL(api.rstrip("/") + target, encoded=True)
            extra = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
            async with self._session.get(url, headers=headers, **extra) as r:
                body = await r.read()
                if r.status != 200:
                    raise PeerUnreachable(f"peer {api} answered {r.status} to {target}: "
                                          f"{body[:200].decode(errors='replace')}")
                return json.loads(body)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
            raise PeerUnreachable(f"peer {api} did not answer {target}: {e or type(e).__name__}") \
                from None

    async def get(self, api: str, target: str, timeout: float | None = None) -> Any:
        """Any signed peer GET (the relays of logs use it); ``PeerUnreachable`` on failure.
        ``timeout``: for this request, instead of the transport's (a long poll's is longer)."""
        return await self._get(api, target, timeout)

    async def reachable(self, api: str, timeout: float) -> bool:
        """Whether a TCP connection to ``api`` is made within ``timeout`` (then closed).

        The cheap question to ask a peer behind a cut, which drops the SYN: a short timeout
        costs little. Only the connection is timed, not TLS or an answer: the kernel accepts it
        however loaded the peer is (a 1 s bound on a TLS handshake and a signed request failed
        at a load of 25 on two cores)."""
        import yarl

        url = yarl.URL(api)
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(url.host, url.port)
        except (OSError, TimeoutError, ValueError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def high_water(self, api: str) -> dict[str, int]:
        answer = await self._get(api, "/v1/peer/high-water")
        return {str(k): int(v) for k, v in answer["marks"].items()}

    async def rows(self, api: str, origin: str, since: int, limit: int) -> list[WireRow]:
        query = urlencode({"origin": origin, "since": since, "limit": limit})
        answer = await self._get(api, f"/v1/peer/rows?{query}")
        rows: list[WireRow] = answer["rows"]
        return rows

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class InMemoryTransport:
    """Peers as stores in this process, by API address; ``down`` ones are unreachable."""

    def __init__(self, stores: Mapping[str, Store] | None = None) -> None:
        self.stores: dict[str, Store] = dict(stores or {})
        self.down: set[str] = set()
        self.requests = 0

    def _store(self, api: str) -> Store:
        self.requests += 1
        if api in self.down or api not in self.stores:
            raise PeerUnreachable(f"peer {api} is unreachable")
        return self.stores[api]

    async def reachable(self, api: str, timeout: float) -> bool:
        try:
            self._store(api)  # what a subclass cuts is cut here too
        except PeerUnreachable:
            return False
        return True

    async def high_water(self, api: str) -> dict[str, int]:
        return await asyncio.to_thread(self._store(api).high_water)

    async def rows(self, api: str, origin: str, since: int, limit: int) -> list[WireRow]:
        store = self._store(api)
        return await asyncio.to_thread(store.rows_since, origin, since, limit)

    async def close(self) -> None:
        return None
