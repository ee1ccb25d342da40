"""The boundary between platd and whatever carries endpoint traffic.

``apply`` is given the complete desired configuration and returns once new connections follow
it: a listener that is gone accepts nothing more, and a backend that is gone gets no new
connection. Established connections are never cut by ``apply``; they finish on their own.
"""

from __future__ import annotations

from typing import Protocol

from platd.ingress.model import ApplyResult, IngressConfig


class IngressDriver(Protocol):
    name: str

    async def start(self) -> None: ...

    async def apply(self, config: IngressConfig) -> ApplyResult: ...

    async def close(self) -> None:
        """Stop listening and cut every connection (platd is shutting down)."""
        ...


class FakeDriver:
    """Records what it was told; for controller tests."""

    name = "fake"

    def __init__(self) -> None:
        self.applied: list[IngressConfig] = []
        self.fail: dict[tuple[str, str, int], str] = {}
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def apply(self, config: IngressConfig) -> ApplyResult:
        self.applied.append(config)
        return ApplyResult({k: v for k, v in self.fail.items() if k in config.by_key()})

    async def close(self) -> None:
        self.started = False
