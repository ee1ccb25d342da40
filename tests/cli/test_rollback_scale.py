"""``plat scale`` and ``plat rollback`` (with its retry of a failed release), as people use them,
against a real daemon (fake runtime): receipts, what status and events show after, refusals.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from cli_support import MANIFEST, assert_error, satisfy_gate

from tui.cli.context import ERR, OUT
from tui.cli.runner import run
from tui.cli.settings import FixedSettings
from tui.cli.transcript import TranscriptCtx


def _wait_for_scale(cli: Any, target: str, count: int, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        s = json.loads(cli("status", "--json", "--target", target).out)
        web = s["workloads"][0]
        if web["desired"] == web["current"] == count and len(web["instances"]) == count:
            return dict(s)
        assert time.monotonic() < deadline, f"web never reached {count}: {web}"
        time.sleep(0.2)


def test_scale_prints_a_receipt_and_status_follows(cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    r = cli("scale", "web", "--count", "3", "--target", target)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"Scale of web in {target} accepted (release v1)",
        "  count   2 -> 3",
        "  cpu     0.25 -> 0.25",
        "  memory  64M -> 64M",
        "What happens:",
        "  1 new instance of web starts; it serves once healthy",
        "Next:",
        f"  plat status --target {target}",
        f"  plat events --target {target}",
    ]
    _wait_for_scale(cli, target, 3)
    r = cli("status", "--target", target)
    assert re.search(r"^web\s+3/3\s+3\s+3\s", r.out, re.MULTILINE), r.out
    events = cli("events", "--target", target).out
    assert "admin scaled web" in events


def test_scale_reset_hands_the_workload_back_to_the_manifest(cli: Any, platd: Any,
                                                             target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    assert cli("scale", "web", "--count", "1", "--target", target).code == 0
    # The same manifest again: --force, or plat says nothing changed and makes no release.
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach", "--force")
    assert "web keeps count 1 set by `plat scale`, not the manifest's 2 (follow the manifest " \
        "again: plat scale web --reset)" in r.out

    # Refusals change nothing.
    assert_error(cli("scale", "web", "--reset", "--count", "3", "--target", target), 2,
                 "takes no --count")
    r = cli("scale", "web", "--reset", "--target", target)
    assert r.code == 0, r.err
    assert r.out.splitlines()[:2] == [
        f"Reset to plat.toml of web in {target} accepted (release v2)", "  count   1 -> 2"]
    _wait_for_scale(cli, target, 2)
    assert "admin reset the scale of web to plat.toml: 1 × (0.25 cpu, 64M) -> 2 × (0.25 cpu, " \
        "64M)" in cli("events", "--target", target).out
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach", "--force")
    assert r.out.startswith("Release v3 ")
    assert "plat scale" not in r.out, "the manifest's count holds again"
    assert_error(cli("scale", "web", "--reset", "--target", target), 2,
                 "already follows plat.toml")


def test_scale_min_max_is_refused_explaining_the_fixed_count(cli: Any, platd: Any,
                                                              target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    hints = assert_error(cli("scale", "web", "--min", "1", "--max", "3", "--target", target), 2,
                         "fixed number of instances")
    assert any("--count" in h for h in hints)
    assert json.loads(cli("status", "--json", "--target", target).out)[
        "workloads"][0]["desired"] == 2


def test_scale_refuses_a_cpu_share_docker_would_read_as_unlimited(cli: Any, platd: Any,
                                                                  target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    for cpu in ("1e-10", "0.001", "64.5"):
        assert_error(cli("scale", "web", "--cpu", cpu, "--target", target), 2,
                     "is out of range: use from 0.01 to 64 cores", "--cpu X")
    web = json.loads(cli("status", "--json", "--target", target).out)["workloads"][0]
    assert web["cpu"] == 0.25, "a refused scale changes nothing"
    assert cli("scale", "web", "--cpu", "0.01", "--target", target).code == 0


def test_rollback_returns_to_v1_without_rebuilding(cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    r = cli("deploy", "-f", str(MANIFEST), "--target", target, "--image",
            "127.0.0.1:5000/hello:v2")
    assert r.code == 0, r.err
    assert "Changes from v1:" in r.out
    assert "  ~ workload web: image" in r.out
    v1, v2 = reversed(json.loads(cli("releases", "--json", "--target", target).out)["releases"])
    assert v1["images"] != v2["images"]

    r = cli("rollback", "--target", target)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == (f"Release v1 ({v1['id']}) is the target of a rollback for {target}")
    assert lines[1] == ("  chosen: v1 is the most recent release before the current one that "
                        "converged healthy")
    assert lines[-1] == "release v1 converged: every instance is running and healthy"

    s = json.loads(cli("status", "--json", "--target", target).out)
    assert s["release"]["id"] == v1["id"]
    assert s["release"]["images"] == v1["images"]
    assert {i["release"] for i in s["workloads"][0]["instances"]} == {"v1"}
    after = json.loads(cli("releases", "--json", "--target", target).out)["releases"]
    assert [x["version"] for x in after] == ["v2", "v1"]  # nothing new was created
    assert "rollback ok" in re.sub(r"\s+", " ", cli("events", "--target", target).out)

    # What each release changed stays readable after the rollback: the audit trail.
    described = cli("describe", "release", "v2", "--target", target).out.splitlines()
    at = described.index("  changes from v1:") + 1
    assert described[at:at + 2] == ["    ~ workload web: image", "  recent events:"]
    assert "  changes (first release):" in cli("describe", "release", "v1", "--target",
                                               target).out.splitlines()
    # A deploy on top of the rollback changed what was current then: v1, not v2.
    assert cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach", "--image",
               "127.0.0.1:5000/hello:v2").code == 0
    v3 = json.loads(cli("describe", "release", "v3", "--json", "--target", target).out)
    assert v3["changes"] == {"from": {"id": v1["id"], "seq": 1},
                             "lines": ["~ workload web: image"]}


def test_rollback_to_an_explicit_release(cli: Any, platd: Any, target: str) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach").code == 0
    assert cli("deploy", "-f", str(MANIFEST), "--target", target, "--detach", "--image",
               "127.0.0.1:5000/hello:v2").code == 0
    r = cli("rollback", "v1", "--target", target, "--detach")
    assert r.code == 0, r.err
    assert "is the target of a rollback" in r.out
    assert "chosen:" not in r.out
    assert cli("wait", "--target", target).code == 0


def test_rollback_without_an_earlier_healthy_release_is_refused(cli: Any, platd: Any,
                                                                 target: str) -> None:
    satisfy_gate(platd, target)
    assert_error(cli("rollback", "--target", target), 5, "no release to roll back from")
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    hints = assert_error(cli("rollback", "--target", target), 4, "ever converged healthy")
    assert any("plat rollback RELEASE" in h for h in hints)
    assert_error(cli("rollback", "v1", "--target", target), 5, "already the current release")
    releases = json.loads(cli("releases", "--json", "--target", target).out)["releases"]
    assert [(x["version"], x["current"]) for x in releases] == [("v1", True)]


def test_a_failed_release_is_retried_as_it_is_once_the_cause_is_fixed(
        cli: Any, platd: Any, target: str, tmp_path: Path) -> None:
    satisfy_gate(platd, target)
    # 16G per instance on the fake runtime's 8G host: the rollout fails at scheduling.
    big = tmp_path / "big.toml"
    big.write_text(MANIFEST.read_text().replace('memory = "64M"', 'memory = "16G"'))
    r = cli("deploy", "-f", str(big), "--target", target)
    assert r.code == 8, r.out + r.err
    assert f"  plat rollback v1 --target {target}   # retry it as it is" in r.err
    assert cli("scale", "web", "--memory", "64M", "--target", target).code == 0
    assert json.loads(cli("status", "--json", "--target", target).out)[
        "release"]["status"] == "failed", "a scale alone does not retry a failed release"

    r = cli("rollback", "v1", "--target", target)
    assert r.code == 0, r.out + r.err
    assert r.out.splitlines()[0].endswith(f"is retried for {target}")
    assert r.out.splitlines()[-1] == "release v1 converged: every instance is running and healthy"
    releases = json.loads(cli("releases", "--json", "--target", target).out)["releases"]
    assert [(x["version"], x["status"]) for x in releases] == [("v1", "converged")]
    assert "admin retried release v1" in cli("events", "--target", target).out
    # A release that did not fail is not "retried": it is already current.
    assert_error(cli("rollback", "v1", "--target", target), 5, "already the current release")


class Person(TranscriptCtx):
    """The runner's transcript Ctx with a person at it who answers every question ``answer``."""

    def __init__(self, platd: Any, target: str, answer: str) -> None:
        super().__init__(FixedSettings(platd.url, platd.token, target))
        self.answer = answer
        self.asked: list[str] = []

    @property
    def interactive(self) -> bool:
        return True

    def ask(self, prompt: str) -> str | None:
        self.asked.append(prompt)
        return self.answer


def test_rolling_back_to_a_release_that_failed_warns_and_asks(
        cli: Any, platd: Any, target: str, tmp_path: Path) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    big = tmp_path / "big.toml"
    big.write_text(MANIFEST.read_text().replace('memory = "64M"', 'memory = "16G"'))
    assert cli("deploy", "-f", str(big), "--target", target).code == 8
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0

    # No person to ask (a script): refused, nothing changes.
    hints = assert_error(cli("rollback", "v2", "--detach", "--target", target), 5,
                         "v2 failed the last time it rolled out (at step schedule, scheduling)")
    assert f"in a script: plat rollback v2 --yes --target {target}" in hints
    current = [x["version"] for x in json.loads(
        cli("releases", "--json", "--target", target).out)["releases"] if x["current"]]
    assert current == ["v3"]

    # A person who says no: not rolled back, told how to do it anyway.
    no = Person(platd, target, "n")
    assert run(["rollback", "v2", "--detach"], no) == 2
    assert no.asked == ["Roll back to v2 anyway? [y/N] "]
    assert "warning: v2 failed the last time it rolled out" in no.text(ERR)
    assert "not rolled back" in no.text(ERR)

    # A person who says yes, and --yes in a script: rolled back, the receipt keeps the warning.
    yes = Person(platd, target, "y")
    assert run(["rollback", "v2", "--detach"], yes) == 0, yes.text(ERR)
    assert "warning: v2 failed the last time it rolled out" in yes.text(OUT)
    assert cli("rollback", "v1", "--detach", "--target", target).code == 0
    r = cli("rollback", "v2", "--yes", "--detach", "--target", target)
    assert r.code == 0, r.err


def test_scale_placement_is_a_receipt_line_and_bad_labels_change_nothing(
    cli: Any, platd: Any, target: str
) -> None:
    satisfy_gate(platd, target)
    assert cli("deploy", "-f", str(MANIFEST), "--target", target).code == 0
    assert_error(cli("scale", "web", "--label", "disk", "--target", target), 2,
                 "--label 'disk' is not NAME=VALUE")
    assert_error(cli("scale", "web", "--label", "d=" + "x" * 65, "--target", target), 2,
                 "labels must be NAME=VALUE pairs of up to 64 characters")
    events = cli("events", "--target", target).out
    assert "placement" not in events  # refused: nothing recorded
    r = cli("scale", "web", "--region", "eu-west", "--label", "disk=ssd", "--target", target)
    assert r.code == 0, r.err
    assert "  placement  region eu-west, disk=ssd (where each instance runs: plat status)" \
        in r.out.splitlines()
    assert "placement region eu-west, disk=ssd" in cli("events", "--target", target).out
    r = cli("scale", "web", "--placement-reset", "--target", target)
    assert "  placement  as in plat.toml (where each instance runs: plat status)" \
        in r.out.splitlines()
