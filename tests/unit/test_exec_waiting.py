"""Sessions whose process started before a websocket attached (platd.api.exec_waiting): one
attach, by the opening token, in the env it was opened in, within the time; room bounded per
host and per token; the rest are hung up and recorded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from platd.api.exec_waiting import Waiting, WaitingSessions
from platd.auth.tokens import Principal
from platd.services import exec as exec_service
from platd.services.exec import ExecTarget
from platd.spec.errors import NotFound

TARGET = "acme/shop/app/prod"
WHERE = ExecTarget(TARGET, "env1", "inst1", "web", "rel1", "v1", "c" * 64, "h1")


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


def sessions_of(**kw: Any) -> WaitingSessions:
    return WaitingSessions(SimpleNamespace(), **kw)  # type: ignore[arg-type]


@pytest.fixture
def closes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = []

    def record_close(_svc: Any, who: Principal, _where: Any, _cmd: Any, **kw: Any) -> None:
        recorded.append({"who": who.token_id, **kw})

    monkeypatch.setattr(exec_service, "record_close", record_close)
    return recorded


def test_attached_once_by_the_opening_token_in_its_env_only() -> None:
    async def scenario() -> None:
        sessions = sessions_of(attach_within=5)
        assert sessions.reserve("t1")
        w = await waiting("t1")
        sid = sessions.add(w)
        with pytest.raises(NotFound):
            sessions.claim(sid, principal("t2"), TARGET)
        with pytest.raises(NotFound):
            sessions.claim(sid, principal("t1"), "acme/shop/app/staging")
        assert sessions.claim(sid, principal("t1"), TARGET) is w  # the wrong tries took nothing
        with pytest.raises(NotFound, match="attached once"):
            sessions.claim(sid, principal("t1"), TARGET)
        with pytest.raises(NotFound):
            sessions.claim("made-up", principal("t1"), TARGET)
        assert w.timer is not None
        assert w.timer.cancelled()

    asyncio.run(scenario())


def test_a_session_nobody_attaches_to_is_hung_up_and_recorded(closes: list[dict[str, Any]]) -> None:
    async def scenario() -> None:
        sessions = sessions_of(attach_within=0.05, limit=1)
        assert sessions.reserve("t1")
        w = await waiting()
        sid = sessions.add(w)
        await asyncio.sleep(0.3)
        assert w.process.closed  # type: ignore[attr-defined]
        assert len(sessions) == 0
        with pytest.raises(NotFound):
            sessions.claim(sid, w.principal, TARGET)
        assert sessions.reserve("t1")  # its room is free again

    asyncio.run(scenario())
    assert closes == [{"who": "t1", "started": 100.0, "exit_code": None,
                       "ended_by": "no client attached within 0.05s"}]


def test_room_is_taken_before_the_start_and_bounded_per_host_and_per_token() -> None:
    sessions = sessions_of(limit=3, per_token=2)
    # Taken at once, before any await of the start: concurrent requests cannot all pass.
    assert sessions.reserve("t1")
    assert sessions.reserve("t1")
    assert not sessions.reserve("t1"), "one token holds at most per_token"
    assert sessions.reserve("t2")
    assert not sessions.reserve("t3"), "the host holds at most limit"
    sessions.unreserve("t1")  # a start that failed gives its room back
    assert sessions.reserve("t3")


def test_a_claimed_session_hung_up_is_recorded(closes: list[dict[str, Any]]) -> None:
    async def scenario() -> None:
        sessions = sessions_of()
        assert sessions.reserve("t1")
        w = await waiting()
        sessions.hang_up(sessions.claim(sessions.add(w), w.principal, TARGET),
                         "the client gave up before attaching")
        await asyncio.sleep(0.05)
        assert w.process.closed  # type: ignore[attr-defined]
        assert sessions.reserve("t1")

    asyncio.run(scenario())
    assert [c["ended_by"] for c in closes] == ["the client gave up before attaching"]
