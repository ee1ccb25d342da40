"""The follow helper (``tui/follow.py``) every front end follows streams with: same cursor
after a lost connection, a bound on how long it tries, and a cancel that stops it at once.

Pure logic, so a fake clock: each pause of the follow moves it forward instead of sleeping.
The real thing (a CLI follow across a platd restart) is in test_follow_reconnect.py, the TUI
panels in tests/tui_app.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from platd.spec.errors import DaemonUnreachable, NotFound, PlatError
from tui.follow import BACKOFF_MAX, Cancelled, Reconnect, follow


class FakeTime:
    """A clock and a ``Cancel`` whose waits advance the clock (never cancelled)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout or 0.0)
        self.now += timeout or 0.0
        return False


def down(*_: Any) -> Any:
    raise DaemonUnreachable("cannot reach platd at http://127.0.0.1:1: Connection refused",
                            hint=["is the daemon running?"])


def test_gives_up_after_its_patience_with_the_hint_to_go_on() -> None:
    t = FakeTime()
    said: list[str] = []

    def give_up(e: PlatError, waited: float) -> PlatError:
        return DaemonUnreachable(f"{e.message}; gave up after {waited:g}s", hint=e.hint)

    ask = Reconnect(patience=20, cancel=t, clock=t.clock, give_up=give_up,
                    on_lost=lambda e: said.append(f"lost: {e.message}"),
                    on_back=lambda: said.append("back"))
    with pytest.raises(DaemonUnreachable, match="gave up after 20s") as raised:
        ask(down)
    assert raised.value.hint == ["is the daemon running?"]
    assert said == ["lost: cannot reach platd at http://127.0.0.1:1: Connection refused"]
    assert t.pauses[:5] == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert max(t.pauses) == BACKOFF_MAX
    assert sum(t.pauses) == pytest.approx(20), "the last pause ends at the bound, not after it"


def test_a_connection_back_resumes_from_the_same_cursor_and_says_so() -> None:
    t = FakeTime()
    said: list[str] = []
    asked: list[int | None] = []
    pages = iter([{"rows": ["a"], "cursor": 1}, None, None, {"rows": ["b"], "cursor": 2},
                  {"rows": [], "cursor": 2}])

    def fetch(cursor: int | None) -> Any:
        asked.append(cursor)
        page = next(pages)
        if page is None:
            down()
        return page

    ask = Reconnect(patience=60, cancel=t, clock=t.clock,
                    on_lost=lambda e: said.append("lost"), on_back=lambda: said.append("back"))
    got = []
    for page in follow(fetch, None, ask):
        got += page["rows"]
        if len(asked) == 5:
            break
    assert got == ["a", "b"]
    assert asked == [None, 1, 1, 1, 2], "every retry asks from the same cursor"
    assert said == ["lost", "back"]


def test_a_deadline_ends_the_retries_with_the_error_as_it_came() -> None:
    t = FakeTime()
    ask = Reconnect(patience=60, until=t.now + 1.0, cancel=t, clock=t.clock)
    with pytest.raises(DaemonUnreachable, match=r"Connection refused$"):
        ask(down)
    assert sum(t.pauses) == pytest.approx(1.0)


def test_only_the_errors_it_is_told_to_ride_out_are_retried() -> None:
    calls = []

    def refused() -> Any:
        calls.append(1)
        raise NotFound("no env 'nope'")

    with pytest.raises(NotFound):
        Reconnect(cancel=FakeTime())(refused)
    assert len(calls) == 1
    t = FakeTime()
    answers = iter([NotFound("no env 'nope'"), {"ok": True}])

    def later() -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert Reconnect(retry=(PlatError,), cancel=t, clock=t.clock)(later) == {"ok": True}


def test_cancel_stops_a_follow_waiting_to_reconnect_at_once() -> None:
    cancel = threading.Event()
    ask = Reconnect(patience=None, cancel=cancel)  # no bound: only the cancel ends it
    result: list[BaseException] = []

    def follower() -> None:
        try:
            for _ in follow(down, 0, ask):
                pass
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=follower)
    thread.start()
    time.sleep(0.5)  # it is pausing between tries now
    assert thread.is_alive()
    started = time.monotonic()
    cancel.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert len(result) == 1
    assert isinstance(result[0], Cancelled)


def test_an_error_after_a_cancel_is_the_cancel_not_a_lost_connection() -> None:
    cancel = threading.Event()
    said: list[str] = []

    def aborted() -> Any:
        cancel.set()  # the front end aborts the request in flight as it cancels
        down()

    with pytest.raises(Cancelled):
        Reconnect(cancel=cancel, on_lost=lambda e: said.append("lost"))(aborted)
    assert said == []
    with pytest.raises(Cancelled):
        Reconnect(cancel=cancel)(lambda: pytest.fail("called after the cancel"))
