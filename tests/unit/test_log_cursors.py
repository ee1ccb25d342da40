"""The cluster follow cursor of ``plat logs -f``: round trip, and refusals of what is not one."""

from __future__ import annotations

import pytest

from platd.spec import log_cursors
from platd.spec.errors import InvalidInput
from platd.spec.log_cursors import HostCursor
from tui.render.logs import follow_host_changes


def test_round_trip_keeps_every_host_its_cursor_and_whether_it_was_lost() -> None:
    cursors = {"h-a": HostCursor(41), "h-b": HostCursor(7, True), "h-c": HostCursor(None, True),
               "h-d": HostCursor(None)}
    text = log_cursors.render(cursors)
    assert text == "h-a:41,h-b:7:u,h-c:-:u,h-d:-"
    assert log_cursors.parse(text) == cursors
    assert log_cursors.parse("") == {}


@pytest.mark.parametrize("text", [
    "nope", "h:", "h:1:x", "h:-1", "h:99999999999999999999", "h:9223372036854775808",
    "a b:1", ",".join(f"h{i}:1" for i in range(300)), "h:1," * 5000,
])
def test_what_is_not_a_cursor_is_refused_with_what_to_do(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        log_cursors.parse(text)
    assert e.value.hint


def test_a_lost_host_is_said_once_and_its_return_once() -> None:
    down: set[str] = set()
    lost = {"unreachable": [{"host": "h2", "error": "host h2 is not alive"}]}
    assert follow_host_changes(lost, down) == [
        "host h2 cannot be reached (host h2 is not alive): following the other hosts; its "
        "lines follow from where they stopped once it is back"]
    assert follow_host_changes(lost, down) == []
    assert follow_host_changes({"unreachable": []}, down) == [
        "host h2 is back: its lines follow from where they stopped"]
    assert down == set()


def test_the_tui_follows_with_the_cluster_cursor_when_there_is_one() -> None:
    from tui.widgets.logs_panel import _logs_view

    lost = [{"host": "h2", "error": "host h2 is not alive"}]
    page = _logs_view({"lines": [], "cursor": 9, "cursors": "a:9,b:3:u", "unreachable": lost})
    assert (page.cursor, page.unreachable) == ("a:9,b:3:u", lost)
    assert _logs_view({"lines": [], "cursor": 9}).cursor == 9  # one host: its own cursor
