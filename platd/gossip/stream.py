"""One subscriber's stream of gossip events: a bounded buffer that never blocks its producer.

The Serf client's reader task and the fake network both push into it. A producer must never
wait for a slow consumer (the Serf connection carries every reply, so one stalled subscriber
would stall them all), so a full buffer drops the event and the consumer is told how many it
missed with one ``EventsLost`` before the next event.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

from platd.gossip.errors import GossipError
from platd.gossip.types import EventsLost, GossipEvent

__all__ = ["DEFAULT_BUFFER", "EventStream"]

# Serf's agent buffers 512 events per stream; this side holds twice that.
DEFAULT_BUFFER = 1024


class EventStream:
    """``async with gossip.events() as events: async for event in events: ...``

    Iteration ends after ``close()`` (the subscription is cancelled) and raises the producer's
    error (``ConnectionLost``) once the events received before it have been read.
    """

    def __init__(
        self,
        *,
        maxsize: int = DEFAULT_BUFFER,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._maxsize = maxsize
        self._on_close = on_close
        self._buffer: deque[GossipEvent] = deque()
        self._lost = 0
        self._error: GossipError | None = None
        self._ended = False
        self._wakeup = asyncio.Event()

    # -- producer side

    def push(self, event: GossipEvent) -> None:
        if self._ended or self._error is not None:
            return
        if len(self._buffer) >= self._maxsize:
            self._lost += 1
        else:
            self._buffer.append(event)
        self._wakeup.set()

    def fail(self, error: GossipError) -> None:
        if self._error is None and not self._ended:
            self._error = error
            self._wakeup.set()

    # -- consumer side

    @property
    def closed(self) -> bool:
        return self._ended

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> GossipEvent:
        while True:
            if self._ended:
                raise StopAsyncIteration
            if self._lost:
                lost, self._lost = self._lost, 0
                return EventsLost(lost)
            if self._buffer:
                return self._buffer.popleft()
            if self._error is not None:
                raise self._error
            self._wakeup.clear()
            await self._wakeup.wait()

    async def close(self) -> None:
        """Stop the subscription; safe to call twice and after the connection is gone."""
        if self._ended:
            return
        self._ended = True
        self._buffer.clear()
        self._wakeup.set()
        if self._on_close is not None and self._error is None:
            await self._on_close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
