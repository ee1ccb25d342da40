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
    from tui.render import log_line, unreachable_lines

    line = {"at": 0.0, "source": "app", "workload": "web", "instance": "i1",
            "severity": "info", "message": "hi", "host": "h2"}
    assert log_line(line).split()[2] == "h2:web/i1"
    assert unreachable_lines({"unreachable": [{"host": "h3", "error": "host h3 is not alive"}]}) \
        == ["host h3 could not be reached: its lines are missing here (host h3 is not alive)"]
