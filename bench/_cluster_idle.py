"""Section 3 of bench/cluster.py: what a quiet host costs, CPU (from /proc/PID/stat over a
window) and RSS of its platd and of its Serf agent, the agent being the reference.

The /proc readings (``ticks``, ``processes``) also give section 1 its CPU per write.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from tests.cluster.platd_cluster import Host


def ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def processes(host: Host) -> dict[str, int]:
    out = {}
    for pid in host.node.pids():
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if any(a.endswith(b"serf") for a in argv[:1]):
                out["serf"] = pid
            elif any(a.endswith(b"platd") for a in argv[:2]):
                out["platd"] = pid
    return out


def idle_cost(hosts: list[Host], seconds: float) -> dict[str, tuple[list[float], list[int]]]:
    """Per program, each host's CPU share (of one core) and RSS over ``seconds`` of quiet."""
    procs = [processes(h) for h in hosts]
    hz = os.sysconf("SC_CLK_TCK")
    before = [{k: ticks(p) for k, p in ps.items()} for ps in procs]
    time.sleep(seconds)
    out: dict[str, tuple[list[float], list[int]]] = {"platd": ([], []), "serf": ([], [])}
    for ps, b in zip(procs, before, strict=True):
        for k, pid in ps.items():
            out[k][0].append((ticks(pid) - b[k]) / hz / seconds)
            out[k][1].append(rss(pid))
    return out
