"""``plat exec`` into an instance on another host: this host relays the session there.

The user's host checked the token and the role and found the instance; it opens a websocket to
the owning host's peer route (``/v1/peer/exec``, signed with the cluster key like every peer
request), sends the start message pinned to that instance, and then moves frames both ways
unchanged: the exec framing (docs/exec.md) is the same on both hops, so TTY, resize, signals,
end of input and the exit code behave as on one host. The banner is the owning host's, so it
names that host. If the owning host cannot be reached the user is told which host and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlencode

from platd.cluster import peer_auth
from platd.spec.errors import Conflict
from platd.store.models import Host

CONNECT_TIMEOUT = 10.0


async def relay(socket: Any, bridge: Any, cluster: Any, where: Any, start: dict[str, Any],
                user: str) -> None:
    import aiohttp
    import yarl

    with cluster.store.read() as session:
        host = session.get(Host, where.host_id)
    name = host.name if host is not None else where.host_id[-12:]
    if host is None or not host.api:
        await bridge.fail(Conflict(f"instance {where.instance_id} runs on host {name}, whose "
                                   "address this host does not know",
                                   hint="see the hosts with: plat hosts"))
        return
    target = "/v1/peer/exec?" + urlencode({"target": where.target, "user": user})
    headers = {"Authorization": peer_auth.sign(cluster.identity.key, cluster.host_id, "GET",
                                               target)}
    url = host.api.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                    sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            ws = await http.ws_connect(yarl.URL(url + target, encoded=True), headers=headers,
                                       timeout=aiohttp.ClientWSTimeout(ws_close=CONNECT_TIMEOUT),
                                       max_msg_size=0,
                                       ssl=getattr(cluster, 'ssl_context', None) or True)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            await bridge.fail(Conflict(
                f"instance {where.instance_id} runs on host {name}, which cannot be reached "
                f"now ({e or type(e).__name__})",
                hint="see the hosts with: plat hosts; exec into an instance on a live host"))
            return
        async with ws:
            await ws.send_str(json.dumps({**start, "instance": where.instance_id,
                                          "workload": None}))
            down = asyncio.create_task(_down(ws, socket), name="exec-relay-down")
            up = asyncio.create_task(_up(ws, socket), name="exec-relay-up")
            try:
                await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (down, up):
                    task.cancel()
                await asyncio.gather(down, up, return_exceptions=True)
    with contextlib.suppress(Exception):  # the client may be gone already
        await socket.close()


async def _down(ws: Any, socket: Any) -> None:
    """The owning host's frames to the user, until it closes."""
    import aiohttp

    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT:
            await socket.send_text(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await socket.send_bytes(message.data)
        else:
            return


async def _up(ws: Any, socket: Any) -> None:
    """The user's frames (stdin, resize, signals, eof) to the owning host."""
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            await ws.send_bytes(message["bytes"])
        elif message.get("text") is not None:
            await ws.send_str(message["text"])
