"""plat scale: a workload's count, cpu, memory or placement in one env, over plat.toml's.

It changes the env without a new release, later deploys and rollbacks keep it (until
``--reset``), and it prints a receipt without following the change: unlike deploy and
rollback, it needs none of the follow.
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import finite_float

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("scale", parents=[common], help="change a workload's count, cpu or memory")
    p.add_argument("workload")
    p.add_argument("--count", type=int)
    p.add_argument("--min", type=int, help="v1 runs a fixed count: --min must equal --max")
    p.add_argument("--max", type=int)
    p.add_argument("--cpu", type=finite_float, help="cores per instance, e.g. 0.5")
    p.add_argument("--memory", help="memory per instance, e.g. 256M or 1G")
    p.add_argument("--reset", action="store_true",
                   help="drop this env's scale of the workload: follow plat.toml again")
    p.add_argument("--region", help="run its instances only on hosts of this region")
    p.add_argument("--label", action="append", default=[], metavar="NAME=VALUE",
                   help="run its instances only on hosts with this label (repeat for more)")
    p.add_argument("--placement-reset", action="store_true",
                   help="drop --region/--label given before: follow plat.toml's placement")
    p.set_defaults(handler=scale)


def _placement_rule(region: str | None, labels: list[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"region": region} if region else {}
    pairs = {}
    for text in labels:
        name, sep, value = text.partition("=")
        if not sep or not name or not value:
            raise InvalidInput(f"--label {text!r} is not NAME=VALUE",
                               hint="e.g. --label disk=ssd (see the hosts' labels: plat hosts)")
        pairs[name] = value
    if pairs:
        rule["labels"] = pairs
    return rule


def scale(ctx: Ctx) -> int:
    from tui.render.receipts import scale_receipt

    target = ctx.target()
    a = ctx.args
    body: dict[str, Any] = {
        "workload": a.workload,
        "count": a.count,
        "min": a.min,
        "max": a.max,
        "cpu": a.cpu,
        "memory": a.memory,
        "reset": a.reset,
    }
    if a.region is not None or a.label or a.placement_reset:
        body["placement"] = {} if a.placement_reset else _placement_rule(a.region, a.label)
    r = ctx.client.post(ctx.client.env_path(target, "/scale"), body)
    ctx.out(r, scale_receipt(r))
    return 0
