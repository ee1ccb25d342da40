"""The words of ``plat status`` (and the TUI's Status tab) for states a person must not misread."""

from __future__ import annotations

from typing import Any

from tui.render import status_lines

TARGET = "acme/shop/hello/prod"


def status(release_status: str, current: int, desired: int = 1) -> dict[str, Any]:
    return {
        "target": TARGET,
        "release": {"version": "v2", "status": release_status},
        "workloads": [{"name": "web", "current": current, "desired": desired,
                       "running": current, "healthy": current, "cpu": 0.25, "memory": "64M",
                       "pending": [], "instances": []}],
    }


def test_a_converged_release_that_lost_instances_says_degraded() -> None:
    lines = status_lines(status("converged", 0))
    assert lines[0] == f"{TARGET}  release v2 (converged)"
    assert lines[1] == ("  degraded since the rollout: web 0/1 running and healthy; "
                        f"why: plat events --target {TARGET}")


def test_healthy_or_still_rolling_says_nothing_more() -> None:
    assert "degraded" not in "\n".join(status_lines(status("converged", 1)))
    assert "degraded" not in "\n".join(status_lines(status("converged", 3, desired=2)))
    assert "degraded" not in "\n".join(status_lines(status("rolling", 0)))


def _disk(full: bool) -> dict[str, Any]:
    return {"host": "edge-7", "path": "/var/lib/platd", "free_bytes": 12 * 1024 * 1024,
            "total_bytes": 64 * 1024 * 1024, "full": full, "min_free_bytes": 20 * 1024 * 1024}


def test_a_full_data_disk_is_said_under_the_release_and_in_the_tui_summary() -> None:
    from tui.widgets.status_panel import status_view

    s = status("converged", 1) | {"disk": _disk(True)}
    lines = status_lines(s)
    assert lines[1] == "  host edge-7: data disk FULL: 12M free of 64M at /var/lib/platd"
    assert "refused until space is freed" in lines[2]
    assert "data disk FULL" in status_view(s).summary
    nothing = {"target": TARGET, "release": None, "workloads": [], "disk": _disk(True)}
    assert "data disk FULL" in "\n".join(status_lines(nothing))


def test_a_disk_with_room_is_not_mentioned() -> None:
    from tui.widgets.status_panel import status_view

    s = status("converged", 1) | {"disk": _disk(False)}
    assert "disk" not in "\n".join(status_lines(s))
    assert "disk" not in status_view(s).summary
def test_an_unreachable_engine_is_said_first_in_the_cli_and_the_tui() -> None:
    from tui.widgets.status_panel import status_view

    s = status("converged", 0) | {"engine_unreachable": [{
        "host": "0193c1d2-aaaa-7bbb-8ccc-0f3c9a1b2d4e", "since": 1.0,
        "reason": "engine unreachable since 2026-12-02 06:31:07 UTC: listing plat containers: "
                  "Cannot connect [unix:///var/run/docker.sock]"}]}
    lines = status_lines(s)
    assert lines[1] == ("  host 0f3c9a1b2d4e: engine unreachable since 2026-12-02 06:31:07 UTC: "
                        "listing plat containers: Cannot connect [unix:///var/run/docker.sock]")
    assert lines[2] == "    its instances are shown as unknown until the engine answers again"
    summary = status_view(s).summary.splitlines()
    assert summary[1].startswith("[red]host 0f3c9a1b2d4e: engine unreachable since 2026-12-02")
    assert "\\[unix:///var/run/docker.sock]" in summary[1]  # the engine's words are not markup
    assert "engine unreachable" not in "\n".join(status_lines(status("converged", 1)))
