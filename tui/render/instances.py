"""Instances and ``plat exec``: the ``plat instances`` table, the numbered pick list and its
prompts, and the banner that says where a command runs.

The pick list is the instances table with numbers, so both live here and cannot drift apart.
"""

from __future__ import annotations

from platd.spec.timeparse import format_age
from tui.render.text import table

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def instance_lines(instances: list[dict[str, Any]], now: float | None = None) -> list[str]:
    """`plat instances`: one row per instance, as `plat exec --instance` takes them."""
    rows = [[i["id"], i["workload"], i["release"], i["state"], i["health"],
             format_age(i["age_seconds"]) if i.get("age_seconds") is not None else "-",
             i["host"][-12:]]
            for i in instances]
    return table(rows, ["INSTANCE", "WORKLOAD", "RELEASE", "STATE", "HEALTH", "AGE", "HOST"])


def exec_pick_title(workload: str | None, target: str, count: int) -> str:
    """The question `plat exec` asks when several instances are running."""
    what = f"workload {workload}" if workload else f"env {target}"
    return f"{what} has {count} running instances; pick one (--instance ID skips this):"


def exec_banner(started: dict[str, Any]) -> str:
    """The line `plat exec` prints on stderr before anything else: where the command runs."""
    i = started["instance"]
    return (f"plat: exec in instance {i['id']} (workload {i['workload']}, release {i['release']}, "
            f"host {i['host_name']} {i['host'][-12:]})")


EXEC_WITHOUT_TTY = "plat: stdin is not a terminal, so the command runs without a TTY"


def exec_pick_list(running: list[dict[str, Any]], workload: str | None,
                   target: str) -> list[str]:
    """The numbered list ``plat exec`` shows before asking which instance."""
    header, *rows = instance_lines(running)
    return [exec_pick_title(workload, target, len(running)), f"     {header}",
            *(f"  {n:>2} {row}" for n, row in enumerate(rows, start=1))]


def exec_pick_prompt(count: int) -> str:
    return f"instance [1-{count}]: "


def exec_pick_again(count: int) -> str:
    return f"  type a number from 1 to {count}, or an instance id"
