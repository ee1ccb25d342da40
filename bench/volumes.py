"""Throughput on a plat volume next to the host's own disk, and snapshot time per GiB.

One platd on the real Docker engine runs a busybox instance that mounts a plat volume at /data
(an allocated image on a loop device, XFS). The reference is a second busybox container, with
the same cpu and memory limits, that bind-mounts a plain directory of the same host disk (the
directory holding the daemon's data) at /ref. Both run the same commands, alternating, so a
machine that gets busier mid-run slows both alike:

- sequential write: ``dd if=/dev/zero of=FILE bs=1M count=N conv=fsync`` (the data is on disk
  when dd exits, not in the page cache), and the same with ``oflag=direct`` (no page cache);
- sequential read: ``dd if=FILE of=/dev/null bs=1M iflag=direct`` (O_DIRECT: from the disk, not
  from the cache).

Each is timed around ``docker exec`` (the same on both sides); the median of ``docker exec CID
true`` is subtracted. Then the volume is grown to hold the data and snapshotted with
``plat volumes snapshot create``: the time per GiB of volume size is reported.

Goal (issue 8): volume throughput at least 90% of the host disk's.
Run: .venv/bin/python bench/volumes.py [--mib 512] [--runs 5] [--snapshot-gib 2] [--snapshots 3]
         [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import Daemon, median_of, parse_args, print_grid, running_daemon

BUSYBOX = "127.0.0.1:5000/busybox:latest"
TARGET = "bench/shop/store/prod"
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def manifest(memory: str) -> str:
    return f"""app = "store"
[workloads.db]
image = "{BUSYBOX}"
command = {json.dumps(COMMAND)}
count = 1
cpu = 1.0
memory = "{memory}"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
[[volumes]]
name = "data"
workload = "db"
mount = "/data"
"""


def plat(d: Daemon, *args: str) -> str:
    r = d.plat(*args, timeout=3600)
    if r.code != 0:
        raise SystemExit(f"plat {' '.join(args)} failed ({r.code}): {r.out}{r.err}")
    return r.out


def timed_exec(cid: str, script: str) -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "exec", cid, "sh", "-c", script], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=512, help="MiB written and read per run")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--snapshot-gib", type=int, default=2, help="volume size for the snapshot")
    ap.add_argument("--snapshots", type=int, default=3, help="snapshots taken (median)")
    a = parse_args(ap, quick={"mib": 8, "runs": 1, "snapshot_gib": 0, "snapshots": 1})

    # /var/tmp: the reference is the host's disk, and /tmp may be a tmpfs.
    with running_daemon("docker", volumes=True, parent="/var/tmp") as (d, tmp):
        ref_dir = tmp / "host-disk"
        ref_dir.mkdir()
        ref_cid = ""
        try:
            d.make_env(TARGET)
            plat(d, "use", TARGET)
            size_mib = max(a.mib * 3 + 300, 512)
            plat(d, "volumes", "create", "data", "--size", f"{size_mib}M")
            (tmp / "plat.toml").write_text(manifest("1G"))
            plat(d, "deploy", "-f", str(tmp / "plat.toml"))
            cid = subprocess.run(
                ["docker", "ps", "-q", "--filter", f"label=dev.plat.host={d.host_id}"],
                capture_output=True, text=True, check=True).stdout.split()[0]
            ref_cid = subprocess.run(
                ["docker", "run", "-d", "--cpus", "1", "--memory", "1g", "--memory-swap", "1g",
                 "-v", f"{ref_dir}:/ref", BUSYBOX, *COMMAND],
                capture_output=True, text=True, check=True).stdout.strip()
            throughput(cid, ref_cid, a.mib, a.runs)
            snapshot(d, cid, a.mib, size_mib, a.snapshot_gib, a.snapshots)
        finally:
            if ref_cid:
                subprocess.run(["docker", "rm", "-f", ref_cid], capture_output=True)
    return 0


def throughput(cid: str, ref_cid: str, n: int, runs: int) -> None:
    overhead = median_of([timed_exec(c, "true") for c in (cid, ref_cid) for _ in range(5)])
    write = f"dd if=/dev/zero of={{d}}/f bs=1M count={n} conv=fsync 2>/dev/null"
    direct = f"dd if=/dev/zero of={{d}}/g bs=1M count={n} oflag=direct conv=fsync 2>/dev/null"
    read = "dd if={d}/f of=/dev/null bs=1M iflag=direct 2>/dev/null"
    samples: dict[str, list[float]] = {k: [] for k in ("vw", "hw", "vd", "hd", "vr", "hr")}
    for _ in range(runs):
        samples["vw"].append(timed_exec(cid, write.format(d="/data")) - overhead)
        samples["hw"].append(timed_exec(ref_cid, write.format(d="/ref")) - overhead)
        samples["vd"].append(timed_exec(cid, direct.format(d="/data")) - overhead)
        samples["hd"].append(timed_exec(ref_cid, direct.format(d="/ref")) - overhead)
        samples["vr"].append(timed_exec(cid, read.format(d="/data")) - overhead)
        samples["hr"].append(timed_exec(ref_cid, read.format(d="/ref")) - overhead)
        for c, p in ((cid, "/data"), (ref_cid, "/ref")):
            timed_exec(c, f"rm -f {p}/f {p}/g; sync")

    def mibs(key: str) -> float:
        # A tiny run can take less than the exec overhead subtracted from it.
        return n / max(median_of(samples[key]), 1e-6)

    print_grid(f"sequential throughput, {n} MiB per run, median of {runs} runs "
               f"(docker exec overhead {overhead * 1000:.0f} ms subtracted)",
               ("what", "plat volume", "host disk", "ratio", "goal"),
               [(label, f"{mibs(v):.0f}", f"{mibs(h):.0f}", f"{mibs(v) / mibs(h):.0%}", ">= 90%")
                for label, v, h in (("write (dd conv=fsync), MiB/s", "vw", "hw"),
                                    ("write (dd oflag=direct), MiB/s", "vd", "hd"),
                                    ("read (dd iflag=direct), MiB/s", "vr", "hr"))])


def snapshot(d: Daemon, cid: str, n: int, size_mib: int, gib: int, count: int) -> None:
    """Fill part of a volume of ``gib`` GiB (at least its current size), time its snapshots."""
    if gib * 1024 > size_mib:
        plat(d, "volumes", "resize", "data", "--size", f"{gib}G")
    data_mib = min(n, 256)
    timed_exec(cid, f"dd if=/dev/urandom of=/data/keep bs=1M count={data_mib} "
               "conv=fsync 2>/dev/null")
    times = []
    for _ in range(count):
        out = json.loads(plat(d, "volumes", "snapshot", "create", "data", "--json"))
        times.append(out["seconds"])
        plat(d, "volumes", "snapshot", "delete", "data", out["name"])
    size_gib = max(gib, size_mib / 1024)
    seconds = median_of(times)
    print_grid(f"snapshot of a {size_gib:g} GiB volume with {data_mib} MiB of data, "
               f"median of {count} (writes frozen meanwhile)", ("what", "seconds"),
               [("per snapshot", f"{seconds:.2f}"),
                ("per GiB of volume size", f"{seconds / size_gib:.2f}"),
                ("per GiB of data in it", f"{seconds / (data_mib / 1024):.2f}")])


if __name__ == "__main__":
    sys.exit(main())
