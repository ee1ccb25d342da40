"""The device flow's rules (RFC 8628) as pure state, and the CLI's poll loop against them.

What a user relies on: codes that are easy to type and hard to guess, one token per approval,
a denial or an expiry that ends the login with words saying so, and a client told to slow down
that really polls more slowly.
"""

from __future__ import annotations

from typing import Any

import pytest

from platd.auth.device import ALPHABET, DeviceFlow, normalize_user_code
from platd.auth.ratelimit import FailureLimiter
from platd.spec.errors import TimedOut, Unauthenticated
from tui import device_login


def test_user_codes_are_eight_consonants_shown_in_two_groups() -> None:
    flow = DeviceFlow()
    codes = {flow.start("plat", "127.0.0.1", 0.0)[1].display_code for _ in range(200)}
    assert len(codes) == 200
    assert len(ALPHABET) == 20
    assert not set(ALPHABET) & set("AEIOUY")
    for code in codes:
        first, dash, second = code.partition("-")
        assert dash == "-"
        assert len(first) == len(second) == 4
        assert set(first + second) <= set(ALPHABET)


def test_typing_is_forgiving_but_not_loose() -> None:
    assert normalize_user_code("bcdf-ghjk") == "BCDFGHJK"
    assert normalize_user_code(" BCDF GHJK ") == "BCDFGHJK"
    assert normalize_user_code("BCDFGHJ") is None
    assert normalize_user_code("BCDF-GHJA") is None  # a vowel is never in a code


def test_approval_gives_one_token_and_then_the_code_is_gone() -> None:
    flow = DeviceFlow(ttl=600, interval=5)
    device_code, grant = flow.start("plat on laptop", "10.0.0.9", 100.0)
    assert flow.poll(device_code, 105.0).outcome == "authorization_pending"
    found = flow.pending(grant.display_code.lower(), 110.0)
    assert found is grant
    assert flow.decide(grant, "user-alice", True, 111.0)
    result = flow.poll(device_code, 115.0)
    assert result.outcome == "approved"
    assert result.grant is not None
    assert result.grant.user_id == "user-alice"
    assert flow.poll(device_code, 125.0).outcome == "invalid_grant"
    assert flow.pending(grant.display_code, 126.0) is None
    assert not flow.decide(grant, "user-mallory", True, 127.0)


def test_denial_is_access_denied() -> None:
    flow = DeviceFlow()
    device_code, grant = flow.start("plat", "127.0.0.1", 0.0)
    flow.decide(grant, "user-alice", False, 1.0)
    assert flow.poll(device_code, 10.0).outcome == "access_denied"


def test_an_old_code_cannot_be_approved_and_polls_expired() -> None:
    flow = DeviceFlow(ttl=60, interval=5)
    device_code, grant = flow.start("plat", "127.0.0.1", 0.0)
    assert flow.pending(grant.display_code, 60.0) is None
    assert not flow.decide(grant, "user-alice", True, 61.0)
    assert flow.poll(device_code, 65.0).outcome == "expired_token"


def test_polling_faster_than_the_interval_is_slow_down_and_raises_it() -> None:
    flow = DeviceFlow(interval=5)
    device_code, grant = flow.start("plat", "127.0.0.1", 0.0)
    assert flow.poll(device_code, 5.0).outcome == "authorization_pending"
    assert flow.poll(device_code, 6.0).outcome == "slow_down"
    assert grant.interval == 10
    assert flow.poll(device_code, 12.0).outcome == "slow_down"  # 6 s < the new 10 s
    assert flow.poll(device_code, 27.0).outcome == "authorization_pending"


def test_failures_past_the_limit_block_that_address_only_for_the_window() -> None:
    limiter = FailureLimiter(limit=3, window=60)
    for t in (0.0, 1.0, 2.0):
        assert limiter.blocked("code:10.0.0.9", t) == 0
        limiter.fail("code:10.0.0.9", t)
    assert limiter.blocked("code:10.0.0.9", 3.0) == pytest.approx(57.0)
    assert limiter.blocked("code:10.0.0.10", 3.0) == 0
    assert limiter.blocked("code:10.0.0.9", 60.5) == 0


class Daemonish:
    """The token endpoint's answers in order, and when each poll came."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.polled_at: list[float] = []
        self.now = 0.0

    def exchange(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        assert (method, path) == ("POST", "/v1/device/token")
        assert body["grant_type"] == device_login.GRANT_TYPE
        self.polled_at.append(self.now)
        return self.answers.pop(0)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CODE = device_login.Code("dc", "BCDF-GHJK", "http://h/device", "http://h/device?user_code=x",
                         expires_in=600, interval=5)


def _error(code: str) -> tuple[int, Any]:
    return 400, {"error": code, "error_description": "..."}


def test_cli_waits_while_pending_and_slows_down_when_told() -> None:
    d = Daemonish([_error("authorization_pending"), _error("slow_down"),
                   _error("authorization_pending"), (200, {"access_token": "plat_x"})])
    slowed: list[float] = []
    body = device_login.poll(d.exchange, CODE, sleep=d.sleep, clock=lambda: d.now,
                             on_slow_down=slowed.append)
    assert body["access_token"] == "plat_x"
    gaps = [b - a for a, b in zip(d.polled_at, d.polled_at[1:], strict=False)]
    assert gaps == [5, 10, 10]  # after slow_down, every later poll waits 5 s more
    assert slowed == [10]


def test_cli_ends_on_denial_and_on_expiry_with_what_to_do() -> None:
    d = Daemonish([_error("access_denied")])
    with pytest.raises(Unauthenticated, match="denied"):
        device_login.poll(d.exchange, CODE, sleep=d.sleep, clock=lambda: d.now)
    d = Daemonish([_error("authorization_pending"), _error("expired_token")])
    with pytest.raises(TimedOut, match="expired") as e:
        device_login.poll(d.exchange, CODE, sleep=d.sleep, clock=lambda: d.now)
    assert any("plat login" in h for h in e.value.hint)
