"""plat volumes create/list/describe/resize/delete and plat volumes snapshot ... ."""

from __future__ import annotations

import argparse

from tui.cli.confirm import add_yes, confirm_by_name
from tui.cli.context import Ctx

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    vol = sub.add_parser("volumes", help="sized persistent volumes, mounted by path from "
                         "[[volumes]] in plat.toml")
    vsub = vol.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = vsub.add_parser("create", parents=[common], help="create a volume of a fixed size",
                        description="Allocates SIZE on a host's disk, formats it and mounts it. "
                        "Instances that mount the volume run on that host.")
    p.add_argument("name")
    p.add_argument("--size", required=True, help="e.g. 1G or 500M (at least 300M)")
    p.add_argument("--region", help="place it on a host with the label region=R")
    p.add_argument("--host", help="place it on this host (name or id)")
    p.set_defaults(handler=create)
    p = vsub.add_parser("list", parents=[common], help="the env's volumes, sizes and usage")
    p.set_defaults(handler=list_)
    p = vsub.add_parser("describe", parents=[common], help="size, usage, host, attachment, "
                        "snapshots and the commands that operate on a volume")
    p.add_argument("name")
    p.set_defaults(handler=describe)
    p = vsub.add_parser("resize", parents=[common], help="grow a volume, online (never shrinks)")
    p.add_argument("name")
    p.add_argument("--size", required=True, help="the new, larger size, e.g. 2G")
    p.set_defaults(handler=resize)
    p = vsub.add_parser("delete", parents=[common], help="delete a volume and its snapshots "
                        "(refused while a release mounts it; asks to type its name)")
    p.add_argument("name")
    add_yes(p, "volume")
    p.set_defaults(handler=delete)

    snap = vsub.add_parser("snapshot", help="point-in-time copies of a volume")
    ssub = snap.add_subparsers(dest="snapshot_action", required=True, metavar="ACTION")
    p = ssub.add_parser("create", parents=[common], help="take a consistent snapshot now "
                        "(writes wait while it is copied)")
    p.add_argument("name", help="the volume")
    p.set_defaults(handler=snapshot_create)
    p = ssub.add_parser("list", parents=[common], help="a volume's snapshots")
    p.add_argument("name", help="the volume")
    p.set_defaults(handler=snapshot_list)
    p = ssub.add_parser("restore", parents=[common], help="roll a volume back to a snapshot "
                        "(nothing may be attached), or --as NEW to make a new volume from it")
    p.add_argument("name", help="the volume")
    p.add_argument("snapshot", help="snap-N, N, or a snapshot id")
    p.add_argument("--as", dest="as_name", metavar="NEW_NAME",
                   help="create a new volume from the snapshot instead of rolling back")
    p.set_defaults(handler=snapshot_restore)
    p = ssub.add_parser("delete", parents=[common], help="delete a snapshot")
    p.add_argument("name", help="the volume")
    p.add_argument("snapshot", help="snap-N, N, or a snapshot id")
    p.set_defaults(handler=snapshot_delete)


def _path(ctx: Ctx, target: str, rest: str = "") -> str:
    return str(ctx.client.env_path(target, "/volumes" + rest))


def create(ctx: Ctx) -> int:
    from tui.render.volumes import volume_lines

    target = ctx.target()
    a = ctx.args
    v = ctx.client.request("POST", _path(ctx, target), {
        "name": a.name, "size": a.size, "region": a.region, "host": a.host}, timeout=600)
    lines = [f"Volume {v['name']} created in {target}: {v['size_label']} on host "
             f"{v['host']['name']} (took {v['seconds']:.2f}s)"]
    lines += volume_lines(v)[1:]
    ctx.out(v, lines)
    return 0


def list_(ctx: Ctx) -> int:
    from tui.render.text import table
    from tui.render.volumes import VOLUME_HEADERS, volume_row

    target = ctx.target()
    r = ctx.client.get(_path(ctx, target))
    rows = [volume_row(v) for v in r["volumes"]]
    lines = (table(rows, VOLUME_HEADERS) if rows
             else [f"no volumes in {target}",
                   f"  create one: plat volumes create NAME --size 1G --target {target}"])
    if r.get("unavailable"):
        lines.append(f"note: sized volumes are unavailable on this host: {r['unavailable']}")
    ctx.out(r, lines)
    return 0


def describe(ctx: Ctx) -> int:
    from tui.render.volumes import volume_lines

    target = ctx.target()
    v = ctx.client.get(_path(ctx, target, f"/{ctx.args.name}"))
    ctx.out(v, volume_lines(v))
    return 0


def resize(ctx: Ctx) -> int:
    target = ctx.target()
    v = ctx.client.request("PATCH", _path(ctx, target, f"/{ctx.args.name}"),
                           {"size": ctx.args.size}, timeout=600)
    u = v["usage"]
    ctx.out(v, [f"Volume {v['name']} grew from {v['old_size_label']} to {v['size_label']}, "
                "online (mounted instances keep running)",
                f"  filesystem now holds {u['capacity_label']}, {u['available_label']} free"
                if u else "  (not mounted on this host)"])
    return 0


def delete(ctx: Ctx) -> int:
    from tui.render.confirm import DELETE_CONSEQUENCES

    target = ctx.target()
    name = ctx.args.name
    confirm_by_name(ctx, "volume", name, DELETE_CONSEQUENCES["volume"],
                    f"plat volumes delete {name} --target {target} --yes")
    r = ctx.client.request("DELETE", _path(ctx, target, f"/{ctx.args.name}"), timeout=600)
    ctx.out(r, [f"Deleted volume {r['name']} from {target} and its "
                f"{r['snapshots_deleted']} snapshot(s)"])
    return 0


def snapshot_create(ctx: Ctx) -> int:
    target = ctx.target()
    s = ctx.client.request("POST", _path(ctx, target, f"/{ctx.args.name}/snapshots"), {},
                           timeout=3600)
    lines = [f"Snapshot {s['name']} of volume {s['volume']} taken in {s['seconds']:.2f}s "
             f"({s['size_label']} volume; writes waited while it was copied)", "Restore with:"]
    lines += [f"  {cmd}" for cmd in s["follow_ups"]]
    ctx.out(s, lines)
    return 0


def snapshot_list(ctx: Ctx) -> int:
    from platd.spec.sizes import format_size
    from platd.spec.timeparse import format_utc
    from tui.render.text import table

    target = ctx.target()
    r = ctx.client.get(_path(ctx, target, f"/{ctx.args.name}/snapshots"))
    rows = [[s["name"], format_utc(s["created_at"], millis=False), s["created_by"],
             s["size_label"], format_size(s["used"]), f"{s['seconds']:.2f}s", s["id"]]
            for s in r["snapshots"]]
    ctx.out(r, table(rows, ["SNAPSHOT", "TAKEN", "BY", "SIZE", "USED", "TOOK", "ID"]) if rows
            else [f"volume {r['volume']} has no snapshots",
                  f"  take one: plat volumes snapshot create {r['volume']} --target {target}"])
    return 0


def snapshot_restore(ctx: Ctx) -> int:
    target = ctx.target()
    a = ctx.args
    v = ctx.client.request("POST", _path(ctx, target, f"/{a.name}/snapshots/{a.snapshot}/restore"),
                           {"as_name": a.as_name}, timeout=3600)
    if v["action"] == "restore_as":
        line = (f"Volume {v['name']} created from snapshot {v['snapshot']} of {v['source']} "
                f"({v['size_label']}); attach it with a [[volumes]] entry in plat.toml")
    else:
        line = f"Volume {v['name']} rolled back to snapshot {v['snapshot']}"
    ctx.out(v, [line])
    return 0


def snapshot_delete(ctx: Ctx) -> int:
    target = ctx.target()
    a = ctx.args
    r = ctx.client.request("DELETE", _path(ctx, target, f"/{a.name}/snapshots/{a.snapshot}"))
    ctx.out(r, [f"Deleted snapshot {r['snapshot']} of volume {r['volume']}"])
    return 0
