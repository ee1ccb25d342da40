"""Words that must be true (issue 20): event messages of several lines stay under their event,
a scale receipt says what will happen, describe release names bundles and hosts."""

from __future__ import annotations

from typing import Any

from tui.render.describe import describe_lines
from tui.render.events import event_line
from tui.render.receipts import scale_receipt

TARGET = "acme/shop/hello/prod"
FAILED = {"at": 1_795_000_000.0, "step": "health", "outcome": "failed", "workload": "web",
          "instance_id": "a5adcznsq8", "category": "crashed",
          "message": "web exited with code 1\nlast log lines:\n  boom\n  bye"}
NEXT = {"at": 1_795_000_001.0, "step": "rollout", "outcome": "failed", "message": "gave up"}


def test_a_message_of_several_lines_is_indented_under_its_event() -> None:
    first, *rest = event_line(FAILED).split("\n")
    assert first.endswith("web exited with code 1 [crashed]")
    assert rest == ["    last log lines:", "      boom", "      bye"]


def test_describe_indents_every_line_of_an_event_under_recent_events() -> None:
    d = {"kind": "instance", "target": TARGET, "id": "a5adcznsq8", "workload": "web",
         "release": "v1", "host": "0192-host-uuid-0000000000ab", "host_name": "edge-1",
         "state": "exited", "health": "unhealthy", "restarts": 3, "exit_code": 1, "ports": {},
         "events": [FAILED, NEXT]}
    lines = "\n".join(describe_lines(d)).split("\n")
    assert lines[1] == "  workload web, release v1, host edge-1 (0000000000ab)"
    start = lines.index("  recent events:")
    events = lines[start + 1:]
    assert events[0].startswith("    20")
    assert events[0].endswith("web exited with code 1 [crashed]")
    assert events[1:4] == ["        last log lines:", "          boom", "          bye"]
    assert events[4].startswith("    20")
    assert events[4].endswith("gave up")


def _scale(old: int, new: int, replaces: bool = False) -> dict[str, Any]:
    def view(n: int) -> dict[str, Any]:
        return {"count": n, "cpu": 0.25, "memory": "64M"}

    return {"action": "scale", "target": TARGET, "workload": "web", "release": "v1",
            "old": view(old), "new": view(new), "reset": False, "replaces_instances": replaces,
            "stop_first": None, "follow_ups": []}


def _happens(r: dict[str, Any]) -> list[str]:
    lines = scale_receipt(r)
    return lines[lines.index("What happens:") + 1: lines.index("Next:")]


def test_the_scale_receipt_says_what_will_happen() -> None:
    assert _happens(_scale(2, 3)) == ["  1 new instance of web starts; it serves once healthy"]
    assert _happens(_scale(1, 3)) == ["  2 new instances of web start; they serve once healthy"]
    assert _happens(_scale(3, 1)) == ["  2 instances of web stop; 1 keeps serving"]
    assert _happens(_scale(2, 0)) == [
        "  every instance of web stops: web serves nothing until it is scaled up again"]
    assert _happens(_scale(2, 2)) == ["  nothing changes: web already runs 2 × 0.25 cpu, 64M"]
    assert _happens(_scale(2, 2, replaces=True)) == [
        "  cpu or memory changed: 2 running instance(s) are replaced one for one, each new one "
        "healthy before its old one stops"]


def test_describe_release_names_bundles_with_versions_and_hosts_by_name() -> None:
    d = {"kind": "release", "target": TARGET, "version": "v2", "id": "r-2", "status": "converged",
         "current": True, "created_at": 1_795_000_000.0, "created_by": "admin", "source": "x",
         "config_version": 3, "secret_versions": {"db": "0192-uuid"},
         "secrets": [{"name": "db", "version": 3}, {"name": "stripe", "version": 1}],
         "hosts": ["edge-1", "edge-2"], "images": {}, "manifest": {"workloads": {}},
         "events": []}
    lines = describe_lines(d)
    assert "  secrets     db v3, stripe v1" in lines
    assert "  hosts       edge-1, edge-2" in lines
    assert not any("0192-uuid" in line for line in lines)
