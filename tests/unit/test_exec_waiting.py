"""Sessions whose process started before a websocket attached (platd.api.exec_waiting): one
attach, by the opening token, within the time; the rest are hung up and recorded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from platd.api import exec_waiting
from platd.api.exec_waiting import Waiting, WaitingSessions
from platd.auth.tokens import Principal
from platd.services.exec import ExecTarget
from platd.spec.errors import NotFound, StoreBusy

WHERE = ExecTarget("acme/shop/app/prod", "env1", "inst1", "web", "rel1", "v1", "c" * 64, "h1")


def principal(token_id: str) -> Principal:
    return Principal(token_id=token_id, name=f"token {token_id}", org_id=None, org_name=None,
                     role="owner")


class Process:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def waiting(token_id: str = "t1") -> Waiting:
    async def opened() -> float:
        return 100.0

    return Waiting(principal(token_id), WHERE, ["true"], False, False, Process(),  # type: ignore[arg-type]
                   asyncio.create_task(opened()))


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = []

    def record_close(_svc: Any, who: Principal, _where: Any, _cmd: Any, **kw: Any) -> None:
        recorded.append({"who": who.token_id, **kw})

    monkeypatch.setattr(exec_waiting.exec_service, "record_close", record_close)
    return recorded


def test_attached_once_by_the_opening_token_only() -> None:
    async def scenario() -> None:
        sessions = WaitingSessions(SimpleNamespace(), attach_within=5)  # type: ignore[arg-type]
        w = await waiting("t1")
        sid = sessions.add(w)
        with pytest.raises(NotFound):
            sessions.claim(sid, principal("t2"))
        assert sessions.claim(sid, principal("t1")) is w  # the other token's try took nothing
        with pytest.raises(NotFound, match="attached once"):
            sessions.claim(sid, principal("t1"))
        with pytest.raises(NotFound):
            sessions.claim("made-up", principal("t1"))
        assert w.timer is not None
        assert w.timer.cancelled()

    asyncio.run(scenario())


def test_a_session_nobody_attaches_to_is_hung_up_and_recorded(closes: list[dict[str, Any]]) -> None:
    async def scenario() -> None:
        sessions = WaitingSessions(SimpleNamespace(), attach_within=0.05)  # type: ignore[arg-type]
        w = await waiting()
        sid = sessions.add(w)
        await asyncio.sleep(0.3)
        assert w.process.closed  # type: ignore[attr-defined]
        assert len(sessions) == 0
        with pytest.raises(NotFound):
            sessions.claim(sid, w.principal)

    asyncio.run(scenario())
    assert closes == [{"who": "t1", "started": 100.0, "exit_code": None,
                       "ended_by": "no client attached within 0.05s"}]


def test_at_most_the_limit_wait_at_once() -> None:
    async def scenario() -> None:
        sessions = WaitingSessions(SimpleNamespace(), limit=2)  # type: ignore[arg-type]
        first = sessions.add(await waiting())
        sessions.add(await waiting())
        with pytest.raises(StoreBusy, match="2 exec sessions are waiting"):
            sessions.check_room()
        sessions.claim(first, principal("t1"))
        sessions.check_room()  # room again once one is attached

    asyncio.run(scenario())
