"""The RPC client stays in step with the agent's byte stream when replies come late or never.

A scripted agent on loopback (msgpack, as Serf writes it) plays the cases a real agent only
shows under load or at a crash: a reply that arrives after the caller gave up (its body must be
skipped, not taken for the next header), and a connection that drops with requests and a
stream in flight. The ordinary protocol is tested against real agents in test_serf_agents.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest

from platd.gossip.errors import ConnectionLost, RequestTimedOut
from platd.gossip.serf_rpc import SerfClient

MEMBER = {
    "Name": "host-0", "Addr": bytes([10, 0, 0, 1]), "Port": 7946, "Tags": {}, "Status": "alive"
}
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, msgpack.Unpacker], Awaitable[None]]


async def next_request(reader: asyncio.StreamReader, unpacker: msgpack.Unpacker) -> Any:
    while True:
        for obj in unpacker:
            return obj
        data = await reader.read(4096)
        if not data:
            raise ConnectionError("client went away")
        unpacker.feed(data)


def reply(writer: asyncio.StreamWriter, seq: int, body: Any = None, error: str = "") -> None:
    writer.write(msgpack.packb({"Seq": seq, "Error": error}))
    if body is not None:
        writer.write(msgpack.packb(body, use_bin_type=True))


async def with_agent(script: Script, test: Callable[[SerfClient], Awaitable[None]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        for _ in range(2):  # handshake, then stats (connect learns the node's name)
            header = await next_request(reader, unpacker)
            if header["Command"] == "handshake":
                await next_request(reader, unpacker)
                reply(writer, header["Seq"])
            else:
                reply(writer, header["Seq"], {"agent": {"name": "host-0"}})
        try:
            await script(reader, writer, unpacker)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = await SerfClient.connect(f"127.0.0.1:{port}", auth_key=None, timeout=0.3)
        try:
            assert client.name == "host-0"
            await test(client)
        finally:
            await client.close()
    finally:
        server.close()
        await server.wait_closed()


def test_a_late_reply_is_skipped_body_and_all(caplog: pytest.LogCaptureFixture) -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, unpacker: msgpack.Unpacker
    ) -> None:
        late = await next_request(reader, unpacker)  # members: answered after the timeout
        await asyncio.sleep(0.6)
        reply(writer, late["Seq"], {"Members": [MEMBER | {"Name": "stale"}]})
        prompt = await next_request(reader, unpacker)
        reply(writer, prompt["Seq"], {"Members": [MEMBER]})
        await writer.drain()
        await next_request(reader, unpacker)

    async def test(client: SerfClient) -> None:
        with pytest.raises(RequestTimedOut, match=r"did not answer 'members' within 0\.3s"):
            await client.members()
        await asyncio.sleep(0.5)  # the late reply has arrived and been skipped
        members = await client.members()
        assert [(m.name, m.addr, m.status) for m in members] == [("host-0", "10.0.0.1", "alive")]

    asyncio.run(with_agent(script, test))
    assert "unexpected" not in caplog.text  # the body was expected, not stumbled upon


def test_a_dropped_connection_fails_waiting_requests_and_streams() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, unpacker: msgpack.Unpacker
    ) -> None:
        stream = await next_request(reader, unpacker)
        await next_request(reader, unpacker)  # its body: the filter
        reply(writer, stream["Seq"])
        reply(writer, stream["Seq"], {"Event": "user", "LTime": 3, "Name": "hint",
                                      "Payload": b"p", "Coalesce": False})
        await writer.drain()
        await next_request(reader, unpacker)  # a members request, never answered
        # and the agent goes away

    async def test(client: SerfClient) -> None:
        events = await client.subscribe()
        with pytest.raises(ConnectionLost, match="closed the RPC connection"):
            await client.members()
        assert client.connected is False
        first = await anext(events)  # what arrived before the drop is still read
        assert first.payload == b"p"  # type: ignore[union-attr]
        with pytest.raises(ConnectionLost):
            await anext(events)
        with pytest.raises(ConnectionLost):
            await client.user_event("hint", b"")

    asyncio.run(with_agent(script, test))


def test_nothing_listening_is_a_clear_connection_lost() -> None:
    async def body() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        where = f"127.0.0.1:{port}"
        with pytest.raises(ConnectionLost, match=f"cannot reach the Serf agent's RPC at {where}"):
            await SerfClient.connect(f"127.0.0.1:{port}", auth_key="k" * 20)

    asyncio.run(body())
