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
