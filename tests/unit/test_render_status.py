"""The words of ``plat status`` (and the TUI's Status tab) for states a person must not misread."""

from __future__ import annotations

from typing import Any

from tui.render.status import status_lines, status_summary
from tui.widgets.status_panel import status_view

TARGET = "acme/shop/hello/prod"


def status(release_status: str, current: int, desired: int = 1, *, serving: int | None = None,
           by: dict[str, int] | None = None, starting: int = 0, crashing: int = 0,
           error: str | None = None) -> dict[str, Any]:
    serving = current if serving is None else serving
    release: dict[str, Any] = {"version": "v2", "status": release_status}
    if error:
        release.update(error=error, failed_step="start", category="runtime")
    return {
        "target": TARGET,
        "release": release,
        "workloads": [{"name": "web", "current": current, "desired": desired,
                       "running": serving, "healthy": serving, "serving": serving,
                       "serving_releases": by if by is not None else {"v2": serving},
                       "starting": starting, "crashing": crashing,
                       "cpu": 0.25, "memory": "64M", "pending": [], "instances": []}],
    }


def test_a_converged_release_that_lost_instances_says_degraded() -> None:
    lines = status_lines(status("converged", 0, crashing=1))
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


def test_right_after_a_scale_up_it_says_scaling_not_degraded() -> None:
    lines = status_lines(status("converged", 1, desired=3, starting=2))
    assert lines[1] == "  scaling: web 1/3"
    assert "degraded" not in "\n".join(lines)


def test_a_failing_rollout_counts_the_previous_release_that_serves() -> None:
    s = status("failed", 0, desired=2, serving=2, by={"v1": 2},
               error="instance x of web exited with code 1, 3 times in a row")
    lines = status_lines(s)
    assert lines[1] == ("  failed at start (runtime): instance x of web exited with code 1, "
                        "3 times in a row")
    assert lines[2] == "  still serving: web 2/2 (v1: 2)"
    header = lines.index(next(x for x in lines if x.startswith("WORKLOAD")))
    assert lines[header].split() == ["WORKLOAD", "SERVING/DESIRED", "UPDATED", "RUNNING", "CPU",
                                     "MEMORY"]
    assert lines[header + 1].split() == ["web", "2/2", "0", "2", "0.25", "64M"]
    rolling = status_lines(status("rolling", 1, desired=2, serving=3, by={"v1": 2, "v2": 1}))
    assert rolling[1] == "  rolling out v2: web 1/2 updated, serving 3/2 (v1: 2, v2: 1)"


def test_a_degraded_release_says_why() -> None:
    lines = status_lines(status("degraded", 0, crashing=1, error="release v2 is degraded: x"))
    assert lines[0] == f"{TARGET}  release v2 (degraded)"
    assert lines[1] == "  release v2 is degraded: x"


def test_healthy_says_nothing_more() -> None:
    assert len(status_summary(status("converged", 1))) == 1
    assert len(status_summary(status("converged", 3, desired=2))) == 1


def test_the_tui_says_the_same_words() -> None:
    for s in (status("converged", 1, desired=3, starting=2),
              status("failed", 0, desired=2, serving=2, by={"v1": 2}, error="boom")):
        view = status_view(s)
        for line in status_summary(s):
            assert line.strip() in view.summary
        assert [list(row) for row in view.workloads] == [
            ["web", f"{s['workloads'][0]['serving']}/{s['workloads'][0]['desired']}",
             str(s["workloads"][0]["current"]), str(s["workloads"][0]["running"]), "0.25",
             "64M"]]


def test_on_a_cluster_status_says_where_each_instance_runs_and_why_not() -> None:
    s = status("converged", 1, desired=2)
    web = s["workloads"][0]
    web["placed"] = [
        {"slot": 0, "host_id": "id-h1", "host": "h1", "why": "placed on h1: it has room"},
        {"slot": 1, "host_id": None, "host": None, "why": "pending: h1: no capacity",
         "why_not": {"h1": "no capacity: needs 2G memory, 512M free",
                     "h2": "region eu-west required, host is in us-east"}},
    ]
    web["instances"] = [{"id": "i1", "release": "v2", "state": "running", "health": "healthy",
                         "restarts": 0, "age_seconds": 5, "ports": {}, "host": "id-h1",
                         "host_name": "h1"}]
    lines = status_lines(s)
    assert "  web#0 on h1: placed on h1: it has room" in lines
    at = lines.index("  web#1 pending: h1: no capacity")
    assert lines[at + 1:at + 3] == ["    h1: no capacity: needs 2G memory, 512M free",
                                    "    h2: region eu-west required, host is in us-east"]
    header = next(line for line in lines if line.startswith("INSTANCE"))
    assert header.split()[-1] == "HOST"
    assert lines[-1].split()[-1] == "h1"


def test_a_host_of_its_own_shows_no_placement_or_host_column() -> None:
    s = status("converged", 1)
    s["workloads"][0]["instances"] = [
        {"id": "i1", "release": "v2", "state": "running", "health": "healthy", "restarts": 0,
         "age_seconds": 5, "ports": {}, "host": "id-h1"}]
    lines = status_lines(s)
    assert not any("HOST" in line or "#0" in line for line in lines)


def test_log_lines_name_their_host_and_unreachable_hosts_are_said() -> None:
    from tui.render.logs import log_line, unreachable_lines

    line = {"at": 0.0, "source": "app", "workload": "web", "instance": "i1",
            "severity": "info", "message": "hi", "host": "h2"}
    assert log_line(line).split()[2] == "h2:web/i1"
    assert unreachable_lines({"unreachable": [{"host": "h3", "error": "host h3 is not alive"}]}) \
        == ["host h3 could not be reached: its lines are missing here (host h3 is not alive)"]
