"""When a host tries the peers gossip calls failed (``platd.cluster.reach``, pure logic).

What a healed partition relies on: a fresh failure is tried every second, so the heal is found
within about a second; a try in flight is never doubled; a peer that reached us is tried at once
(but two hosts do not keep nudging each other); a peer gone for long costs little; and a peer no
longer failed (alive again, or left) is not tried at all.
"""

from __future__ import annotations

from platd.cluster.reach import ProbeSchedule


def test_a_fresh_failure_is_tried_at_once_then_every_second() -> None:
    s = ProbeSchedule()
    s.update({"b": "https://b", "c": "https://c"}, now=0.0)
    assert s.due(0.0) == [("b", "https://b"), ("c", "https://c")]
    s.done("b", 1.0, reached=False, started=0.0)  # the connect timed out after 1 s
    s.done("c", 0.2, reached=False, started=0.0)  # refused at once
    assert s.due(1.0) == [("b", "https://b"), ("c", "https://c")]
    s.done("b", 1.5, reached=False, started=1.0)
    s.done("c", 1.5, reached=False, started=1.0)
    assert s.due(1.9) == []
    assert [name for name, _ in s.due(2.0)] == ["b", "c"]


def test_a_try_in_flight_is_not_started_again() -> None:
    s = ProbeSchedule()
    s.update({"b": "https://b"}, now=0.0)
    assert s.due(0.0) == [("b", "https://b")]
    # Hanging for a long time: never a second try beside it.
    assert s.due(5.0) == []
    assert s.due(30.0) == []
    s.done("b", 31.0, reached=False, started=0.0)
    assert s.due(31.0) == [("b", "https://b")]


def test_a_peer_that_answered_but_is_still_failed_is_tried_every_two_seconds() -> None:
    s = ProbeSchedule()
    s.update({"b": "https://b"}, now=0.0)
    s.due(0.0)
    s.done("b", 0.3, reached=True, started=0.0)
    assert s.due(1.5) == []
    assert s.due(2.0) == [("b", "https://b")]


def test_a_peer_asking_us_is_tried_at_once_but_not_ping_ponged() -> None:
    s = ProbeSchedule()
    s.update({"b": "https://b"}, now=0.0)
    s.due(0.0)
    s.done("b", 1.0, reached=False, started=0.0)
    s.due(1.0)
    assert not s.asked_by("b", 1.2)  # being tried: that try will do
    s.done("b", 2.0, reached=False, started=1.0)
    # It reached us before its next try is due: now.
    assert s.asked_by("b", 2.5)
    assert s.due(2.5) == [("b", "https://b")]
    s.done("b", 2.7, reached=True, started=2.5)
    # Our pull asks it for its marks, which makes it pull from us, which asks us: no new try
    # from that, only the regular one.
    assert not s.asked_by("b", 2.8)
    assert s.due(2.8) == []
    assert s.asked_by("b", 4.8)
    # A host gossip does not call failed (alive, left, or unknown) is nobody to nudge.
    assert not s.asked_by("z", 5.0)


def test_a_peer_failed_for_long_is_tried_rarely() -> None:
    s = ProbeSchedule()
    assert (s.every(0), s.every(299), s.every(300), s.every(3599), s.every(3600)) == \
        (1.0, 1.0, 10.0, 10.0, 60.0)
    s.update({"b": "https://b"}, now=0.0)
    s.update({"b": "https://b"}, now=400.0)  # still failed: its failure is as old as before
    s.due(400.0)
    s.done("b", 401.0, reached=False, started=400.0)
    assert s.due(405.0) == []
    assert s.due(410.0) == [("b", "https://b")]
    s.done("b", 411.0, reached=False, started=410.0)
    s.update({"b": "https://b"}, now=4000.0)
    assert s.due(4000.0) == [("b", "https://b")]
    s.done("b", 4001.0, reached=False, started=4000.0)
    assert s.due(4050.0) == []
    assert s.due(4060.0) == [("b", "https://b")]


def test_a_peer_no_longer_failed_is_dropped_and_a_new_failure_starts_fresh() -> None:
    s = ProbeSchedule()
    s.update({"b": "https://b"}, now=0.0)
    s.update({"b": "https://b"}, now=1000.0)
    s.update({}, now=1001.0)  # alive again, or it left: never tried
    assert s.due(1001.0) == []
    assert s.failed() == {}
    s.done("b", 1002.0, reached=True, started=1000.0)  # a try that was in flight: ignored
    s.update({"b": "https://b2"}, now=2000.0)  # failed again: fresh, and its new address
    assert s.due(2000.0) == [("b", "https://b2")]
    s.done("b", 2001.0, reached=False, started=2000.0)
    assert s.due(2001.0) == [("b", "https://b2")]
