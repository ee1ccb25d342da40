"""An asyncio client for the RPC protocol of HashiCorp Serf's agent; the real ``Gossip``.

Serf's agent speaks msgpack over one TCP connection (``cmd/serf/command/agent/ipc.go``): each
request is a header ``{Command, Seq}`` optionally followed by a body; each response is a header
``{Seq, Error}`` followed by a body only for commands that return one (and never when the error
is "Authentication required"). A stream subscription is acknowledged once and then delivers
``{Seq, Error}`` + record pairs under the subscription's Seq until stopped. The PyPI
``serfclient`` blocks and is unmaintained, so this is a small one of our own: one reader task
routes every reply to the request (a future per Seq) or the stream it belongs to, so requests
run concurrently on one connection.

Errors are translated here into ``platd.gossip.errors``. Reconnecting is the caller's job: when
the connection drops, every waiting request and every stream raises ``ConnectionLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgpack

from platd.gossip.address import parse_address
from platd.gossip.errors import (
    AuthFailed,
    ConnectionLost,
    GossipError,
    PayloadTooLarge,
    RequestFailed,
    RequestTimedOut,
)
from platd.gossip.stream import DEFAULT_BUFFER, EventStream
from platd.gossip.types import (
    MEMBER_EVENT_KINDS,
    GossipEvent,
    Member,
    MemberEvent,
    MemberStatus,
    UserEvent,
)

if TYPE_CHECKING:
    from platd.gossip.protocol import Gossip

__all__ = ["ALL_EVENTS", "SerfClient", "SocketOpener"]

log = logging.getLogger(__name__)

IPC_VERSION = 1
DEFAULT_TIMEOUT = 10.0  # Serf's own client uses the same IO timeout
# The stream filter ``subscribe`` uses: everything replication cares about, no queries.
ALL_EVENTS = ",".join(("user", *MEMBER_EVENT_KINDS))

# Commands whose successful (or failed, for join and the key commands) reply carries a body.
_WITH_BODY = frozenset(
    {"join", "members", "members-filtered", "stats", "get-coordinate",
     "install-key", "use-key", "remove-key", "list-keys"}
)
# Errors the agent sends before it has read the request: never followed by a body.
_AUTH_REQUIRED = "Authentication required"
_NO_BODY_ERRORS = frozenset({_AUTH_REQUIRED, "Handshake required", "Unsupported command"})
_AUTH_ERRORS = frozenset({_AUTH_REQUIRED, "Invalid authentication token"})
_STATUSES: frozenset[str] = frozenset({"alive", "leaving", "left", "failed", "none"})

# A blocking ``(host, port, timeout) -> connected socket``, run in a worker thread: lets a caller
# open the connection somewhere else (the cluster tests open it inside a network namespace).
SocketOpener = Callable[[str, int, float], socket.socket]


@dataclass
class _Pending:
    command: str
    has_body: bool
    future: asyncio.Future[tuple[str, Any]]


class SerfClient:
    """One authenticated RPC connection to a Serf agent. Make it with ``await connect(...)``.

    ``members``, ``user_event``, ``subscribe``, ``join``, ``update_tags``, ``leave`` and
    ``close`` make it a ``Gossip``; ``members_filtered``, ``force_leave``, ``stream`` and
    ``stats`` are there for operators' tools and tests.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        address: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._address = address
        self._timeout = timeout
        self._seq = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._streams: dict[int, EventStream] = {}
        # Seqs whose replies may still come though nobody waits: stopped streams (records
        # already queued by the agent) and abandoned requests (True: a body will follow).
        self._stopped_streams: set[int] = set()
        self._abandoned: dict[int, bool] = {}
        self._write_lock = asyncio.Lock()
        self._lost: ConnectionLost | None = None
        self._name = ""
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read_loop(), name=f"serf-rpc-reader {address}"
        )

    @classmethod
    async def connect(
        cls,
        address: str,
        *,
        auth_key: str | None,
        timeout: float = DEFAULT_TIMEOUT,
        opener: SocketOpener | None = None,
    ) -> SerfClient:
        """Connect to the agent's RPC address, handshake, authenticate and learn the node's
        name. Raises ``ConnectionLost`` when nothing answers, ``AuthFailed`` on a wrong key."""
        try:
            host, port = parse_address(address)
        except ValueError as exc:
            raise GossipError(f"bad Serf RPC address: {exc}") from None
        try:
            if opener is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), timeout
                )
            else:
                sock = await asyncio.to_thread(opener, host, port, timeout)
                reader, writer = await asyncio.open_connection(sock=sock)
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(
                f"cannot reach the Serf agent's RPC at {address}: {exc.strerror or exc}",
                hint="check that the agent runs (platd starts it) and listens there",
            ) from exc
        client = cls(reader, writer, address=address, timeout=timeout)
        try:
            await client._call("handshake", {"Version": IPC_VERSION})
            if auth_key:
                await client._call("auth", {"AuthKey": auth_key})
            stats = await client.stats()
            client._name = str(stats.get("agent", {}).get("name", ""))
        except BaseException:
            await client.close()
            raise
        return client

    # -- Gossip

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> str:
        return self._address

    @property
    def connected(self) -> bool:
        return self._lost is None

    async def members(self) -> list[Member]:
        body = await self._call("members")
        return [_member(m) for m in _get(body, "Members")]

    async def members_filtered(
        self, *, tags: Mapping[str, str] | None = None, status: str = "", name: str = ""
    ) -> list[Member]:
        """Members whose tags/status/name match these anchored Go regular expressions.

        Serf drops the whole connection on a regex it cannot compile, so pass literal text
        through ``re.escape``-like quoting yourself; a bad pattern raises ConnectionLost.
        """
        body = await self._call(
            "members-filtered", {"Tags": dict(tags or {}), "Status": status, "Name": name}
        )
        return [_member(m) for m in _get(body, "Members")]

    async def user_event(self, name: str, payload: bytes = b"", *, coalesce: bool = False) -> None:
        await self._call("event", {"Name": name, "Payload": bytes(payload), "Coalesce": coalesce})

    async def subscribe(self) -> EventStream:
        return await self.stream(ALL_EVENTS)

    async def stream(self, filter: str, *, maxsize: int = DEFAULT_BUFFER) -> EventStream:
        """Subscribe to events matching Serf's filter syntax ("user", "user:NAME",
        "member-join,member-failed", "*"); query events are not decoded and are skipped."""
        seq = next(self._seq)
        stream = EventStream(maxsize=maxsize, on_close=lambda: self._stop_stream(seq))
        # Registered before the request: records follow the ack at once, in the same read.
        self._streams[seq] = stream
        try:
            await self._call("stream", {"Type": filter}, seq=seq)
        except BaseException:
            self._streams.pop(seq, None)
            raise
        return stream

    async def join(
        self, addresses: Sequence[str], *, replay: bool = False, timeout: float | None = None
    ) -> int:
        # Serf tries each address in turn, each with its own TCP timeout: allow for that.
        body = await self._call(
            "join",
            {"Existing": list(addresses), "Replay": replay},
            timeout=timeout or 3 * self._timeout,
        )
        return int(_get(body, "Num", 0))

    async def update_tags(self, tags: Mapping[str, str], delete: Sequence[str] = ()) -> None:
        await self._call("tags", {"Tags": dict(tags), "DeleteTags": list(delete)})

    async def leave(self) -> None:
        await self._call("leave")

    async def force_leave(self, node: str, *, prune: bool = False) -> None:
        """Mark a failed node as left (``prune``: forget it at once) on every member."""
        await self._call("force-leave", {"Node": node, "Prune": prune})

    async def stats(self) -> dict[str, dict[str, str]]:
        body = await self._call("stats")
        return cast(dict[str, dict[str, str]], body if isinstance(body, dict) else {})

    async def close(self) -> None:
        self._shutdown(ConnectionLost(f"the RPC connection to {self._address} was closed"))
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader_task
        self._writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> SerfClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests

    async def _call(
        self, command: str, body: Any = None, *, seq: int | None = None,
        timeout: float | None = None,
    ) -> Any:
        if self._lost is not None:
            raise self._lost
        seq = next(self._seq) if seq is None else seq
        future: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        pending = _Pending(command, command in _WITH_BODY, future)
        self._pending[seq] = pending
        try:
            frame = _pack({"Command": command, "Seq": seq})
            if body is not None:
                frame += _pack(body)
            async with self._write_lock:
                try:
                    self._writer.write(frame)
                    await self._writer.drain()
                except (OSError, ConnectionError) as exc:
                    self._shutdown(self._connection_lost(exc))
            limit = timeout or self._timeout
            try:
                error, reply = await asyncio.wait_for(future, limit)
            except TimeoutError:
                raise RequestTimedOut(
                    f"the Serf agent at {self._address} did not answer {command!r} "
                    f"within {limit:g}s",
                    hint="the agent may be overloaded or hung; platd restarts it if it exits",
                ) from None
        finally:
            if self._pending.pop(seq, None) is not None:
                self._abandoned[seq] = pending.has_body
        if error:
            raise _translate(command, error)
        return reply

    async def _stop_stream(self, seq: int) -> None:
        if self._streams.pop(seq, None) is None:
            return
        self._stopped_streams.add(seq)
        if self._lost is None:
            with contextlib.suppress(ConnectionLost):
                await self._call("stop", {"Stop": seq})

    # -- the reader

    async def _read_loop(self) -> None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, unicode_errors="replace")
        body_handler: Callable[[Any], None] | None = None
        lost: ConnectionLost
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    lost = ConnectionLost(
                        f"the Serf agent at {self._address} closed the RPC connection",
                        hint="the agent stopped or restarted; reconnect and resubscribe",
                    )
                    break
                unpacker.feed(chunk)
                for obj in unpacker:
                    if body_handler is not None:
                        handler, body_handler = body_handler, None
                        handler(obj)
                    else:
                        body_handler = self._on_header(obj)
        except (OSError, ConnectionError) as exc:
            lost = self._connection_lost(exc)
        except (ValueError, msgpack.UnpackException) as exc:
            lost = ConnectionLost(f"the Serf agent at {self._address} sent garbage: {exc}")
        self._shutdown(lost)
        self._writer.close()

    def _on_header(self, header: Any) -> Callable[[Any], None] | None:
        """Route one reply header; returns who takes the body that follows, if one does."""
        if not isinstance(header, dict) or "Seq" not in header:
            log.warning("serf rpc: skipped an unexpected %s from the agent", type(header).__name__)
            return None
        seq, error = header["Seq"], str(header.get("Error") or "")
        pending = self._pending.pop(seq, None)
        if pending is not None:
            future = pending.future
            if pending.has_body and error not in _NO_BODY_ERRORS:
                return lambda body: _resolve(future, error, body)
            _resolve(future, error, None)
            return None
        stream = self._streams.get(seq)
        if stream is not None:
            return lambda record: _deliver(stream, record)
        if seq in self._stopped_streams:
            return _ignore
        if self._abandoned.pop(seq, False) and error not in _NO_BODY_ERRORS:
            return _ignore
        return None

    def _connection_lost(self, exc: BaseException) -> ConnectionLost:
        return ConnectionLost(
            f"the RPC connection to the Serf agent at {self._address} broke: {exc}",
            hint="the agent stopped or restarted; reconnect and resubscribe",
        )

    def _shutdown(self, lost: ConnectionLost) -> None:
        if self._lost is not None:
            return
        self._lost = lost
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(lost)
                pending.future.exception()  # retrieved here: a caller may have given up
        self._pending.clear()
        for stream in self._streams.values():
            stream.fail(lost)
        self._streams.clear()


def _pack(obj: Any) -> bytes:
    return cast(bytes, msgpack.packb(obj, use_bin_type=True))


def _ignore(_: Any) -> None:
    return None


def _resolve(future: asyncio.Future[tuple[str, Any]], error: str, body: Any) -> None:
    if not future.done():
        future.set_result((error, body))


def _deliver(stream: EventStream, record: Any) -> None:
    event = _event(record)
    if event is not None:
        stream.push(event)


def _translate(command: str, error: str) -> GossipError:
    if error in _AUTH_ERRORS:
        return AuthFailed(
            "the Serf agent refused the RPC auth key",
            hint="use the rpc auth key from this host's gossip config (DATA/gossip/serf.json)",
        )
    if command == "event" and "exceeds" in error and "limit" in error:
        return PayloadTooLarge(
            f"the user event is too large for the Serf agent: {error}",
            hint="send a small hint and let peers pull the data over HTTP",
        )
    return RequestFailed(f"the Serf agent refused {command!r}: {error}")


def _get(body: Any, key: str, default: Any = ()) -> Any:
    return (body.get(key) or default) if isinstance(body, dict) else default


def _addr(raw: Any) -> str:
    if isinstance(raw, bytes) and len(raw) in (4, 16):
        ip = ipaddress.ip_address(raw)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip)
    return raw if isinstance(raw, str) else ""


def _member(raw: Mapping[str, Any]) -> Member:
    status = str(raw.get("Status") or "none")
    return Member(
        name=str(raw.get("Name", "")),
        addr=_addr(raw.get("Addr")),
        port=int(raw.get("Port") or 0),
        tags={str(k): str(v) for k, v in (raw.get("Tags") or {}).items()},
        status=cast(MemberStatus, status if status in _STATUSES else "none"),
    )


def _event(record: Any) -> GossipEvent | None:
    if not isinstance(record, dict):
        return None
    kind = record.get("Event")
    if kind == "user":
        payload = record.get("Payload") or b""
        return UserEvent(
            name=str(record.get("Name", "")),
            payload=payload if isinstance(payload, bytes) else str(payload).encode(),
            ltime=int(record.get("LTime") or 0),
            coalesce=bool(record.get("Coalesce")),
        )
    if kind in MEMBER_EVENT_KINDS:
        return MemberEvent(kind, tuple(_member(m) for m in record.get("Members") or ()))
    return None  # queries: plat does not use them


if TYPE_CHECKING:

    def _conforms(client: SerfClient) -> Gossip:
        return client
