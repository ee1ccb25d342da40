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
Run: .venv/bin/python bench/volumes.py [--mib 512] [--runs 5] [--snapshot-gib 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Daemon, median_of

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "volumes"))
from volume_support import cleanup_volumes

from tests.conftest import _remove_containers

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
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="plat-bench-volumes-", dir="/var/tmp"))
    d = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    ref_dir = tmp / "host-disk"
    ref_dir.mkdir()
    ref_cid = ""
    try:
        d.init()
        d.start()
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

        overhead = median_of([timed_exec(c, "true") for c in (cid, ref_cid) for _ in range(5)])
        n = a.mib
        write = f"dd if=/dev/zero of={{d}}/f bs=1M count={n} conv=fsync 2>/dev/null"
        direct = f"dd if=/dev/zero of={{d}}/g bs=1M count={n} oflag=direct conv=fsync 2>/dev/null"
        read = "dd if={d}/f of=/dev/null bs=1M iflag=direct 2>/dev/null"
        samples: dict[str, list[float]] = {k: [] for k in ("vw", "hw", "vd", "hd", "vr", "hr")}
        for _ in range(a.runs):
            samples["vw"].append(timed_exec(cid, write.format(d="/data")) - overhead)
            samples["hw"].append(timed_exec(ref_cid, write.format(d="/ref")) - overhead)
            samples["vd"].append(timed_exec(cid, direct.format(d="/data")) - overhead)
            samples["hd"].append(timed_exec(ref_cid, direct.format(d="/ref")) - overhead)
            samples["vr"].append(timed_exec(cid, read.format(d="/data")) - overhead)
            samples["hr"].append(timed_exec(ref_cid, read.format(d="/ref")) - overhead)
            for c, p in ((cid, "/data"), (ref_cid, "/ref")):
                timed_exec(c, f"rm -f {p}/f {p}/g; sync")

        def mibs(key: str) -> float:
            return n / median_of(samples[key])

        print(f"\nsequential throughput, {n} MiB per run, median of {a.runs} runs "
              f"(docker exec overhead {overhead * 1000:.0f} ms subtracted)")
        header = f"{'what':<38} {'plat volume':>12} {'host disk':>10} {'ratio':>7}  goal"
        print(header)
        print("-" * len(header))
        for label, v, h in (("write (dd conv=fsync), MiB/s", "vw", "hw"),
                            ("write (dd oflag=direct), MiB/s", "vd", "hd"),
                            ("read (dd iflag=direct), MiB/s", "vr", "hr")):
            print(f"{label:<38} {mibs(v):>12.0f} {mibs(h):>10.0f} {mibs(v) / mibs(h):>6.0%}  "
                  ">= 90%")

        # Snapshot: fill part of a volume of --snapshot-gib GiB, then time the snapshot.
        gib = a.snapshot_gib
        if gib * 1024 > size_mib:
            plat(d, "volumes", "resize", "data", "--size", f"{gib}G")
        timed_exec(cid, f"dd if=/dev/urandom of=/data/keep bs=1M count={min(n, 256)} "
                   "conv=fsync 2>/dev/null")
        times = []
        for _ in range(3):
            out = json.loads(plat(d, "volumes", "snapshot", "create", "data", "--json"))
            times.append(out["seconds"])
            plat(d, "volumes", "snapshot", "delete", "data", out["name"])
        size_gib = max(gib, size_mib / 1024)
        print(f"\nsnapshot of a {size_gib:g} GiB volume with {min(n, 256)} MiB of data, "
              "median of 3 (writes frozen meanwhile)")
        print(f"{'seconds per snapshot':<38} {median_of(times):>12.2f}")
        print(f"{'seconds per GiB of volume size':<38} {median_of(times) / size_gib:>12.2f}")
        print(f"{'seconds per GiB of data in it':<38} "
              f"{median_of(times) / (min(n, 256) / 1024):>12.2f}")
        return 0
    finally:
        if ref_cid:
            subprocess.run(["docker", "rm", "-f", ref_cid], capture_output=True)
        d.stop()
        _remove_containers(d.host_id)
        cleanup_volumes(d.data)
        subprocess.run(["rm", "-rf", str(tmp)], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
