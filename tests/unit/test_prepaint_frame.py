"""When bare ``plat`` must not paint its first frame before Textual: whatever Textual would lay
out otherwise (clipped, scrolled sideways, characters of unknown width) is left to Textual, and
a bad ``PLAT_TUI_ANSWER_WAIT`` is said and ignored. (That a painted frame equals Textual's is
tests/tui_app/test_prepaint.py, in a real terminal.)"""

from __future__ import annotations

import os
import shutil

import pytest

from tui.prepaint import ANSWER_WAIT, answer_wait, frame, textual_size
from tui.render.status import status_rows

TARGET = "acme/shop/hello/prod"
API = "http://127.0.0.1:7400"


def status(ports: dict[str, int] | None = None, instances: int = 1) -> dict[str, object]:
    return {"target": TARGET, "release": {"version": "v2", "status": "converged"},
            "workloads": [{"name": "web", "desired": instances, "current": instances,
                           "running": instances, "healthy": instances, "cpu": 0.25,
                           "memory": "64M", "pending": [],
                           "instances": [{"id": f"id{n:08d}", "release": "v2",
                                          "state": "running", "health": "healthy",
                                          "restarts": 0, "age_seconds": 30,
                                          "ports": ports or {}} for n in range(instances)]}]}


def test_a_frame_that_fits_is_drawn_whole() -> None:
    rows = frame(120, 40, TARGET, API, status_rows(status()))
    assert rows is not None
    assert len(rows) == 40
    assert all(sum(len(text) for text, _ in row) == 120 for row in rows)


@pytest.mark.parametrize(("width", "height", "body"), [
    (120, 40, status_rows(status())._replace(
        instances=[("x" * 130, "web", "v2", "running", "healthy", "0", "1m", "-")])),
    (80, 40, status_rows(status({"8080": 48080, "8443": 48443}))),  # a table scrolled sideways
    (120, 12, status_rows(status(instances=6))),  # taller than the table's half of the tab
    (30, 40, None),  # the tab bar would be clipped
], ids=["wide-cell", "narrow", "short", "tiny"])
def test_what_textual_would_clip_or_scroll_is_not_drawn(width: int, height: int,
                                                        body: object) -> None:
    assert frame(width, height, TARGET, API, body) is None  # type: ignore[arg-type]


def test_text_of_unknown_width_is_not_drawn() -> None:
    wide = status_rows(status())._replace(summary=[("デプロイ中", False)])
    assert frame(120, 40, TARGET, API, wide) is None


def test_a_bad_answer_wait_is_said_and_the_default_used(capsys: pytest.CaptureFixture[str]) \
        -> None:
    assert answer_wait({"PLAT_TUI_ANSWER_WAIT": "2.5"}) == 2.5
    for bad in ("soon", "-1", "nan", "1e9"):
        assert answer_wait({"PLAT_TUI_ANSWER_WAIT": bad}) == ANSWER_WAIT
        assert f"ignoring PLAT_TUI_ANSWER_WAIT='{bad}'" in capsys.readouterr().err


@pytest.mark.parametrize("env", [
    {}, {"COLUMNS": "80", "LINES": "24"}, {"LINES": "30"}, {"COLUMNS": "0"}, {"LINES": "-3"},
    {"COLUMNS": "wide", "LINES": ""},
])
def test_the_size_is_the_one_textual_asks_shutil_for(env: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's driver sizes its screen with ``shutil.get_terminal_size()``; the pre-paint
    must come to the same size, or its frame is redrawn at another."""
    for name in ("COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=1: os.terminal_size((120, 40)))
    assert textual_size(dict(os.environ), 120, 40) == tuple(shutil.get_terminal_size())
