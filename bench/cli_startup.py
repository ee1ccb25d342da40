"""How fast `plat` answers: --help and read commands against a live daemon, next to `docker ps`.

Goal (issue 22; issue 2 asked for 4x): read commands within 3x of `docker ps`, a Go client,
measured in the same run.

Wall time on a shared machine says as much about the other processes as about plat, so a second
table gives CPU time, which load disturbs far less: the command's own (user + system, from the
kernel's accounting of the finished child) and what platd spent on it (its process's CPU time
before and after, averaged over the runs: the kernel counts it in 10 ms ticks; the rows that
do not ask platd show what it spends meanwhile on its own work).
Run: .venv/bin/python bench/cli_startup.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, median_of, parse_args, print_grid, print_table, running_daemon

BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parse_args(parser, quick={"runs": 2})
    with running_daemon("fake") as (d, _):
        target = d.make_env("bench/shop/hello/prod")
        d.plat("config", "set", "GREETING=hi", "--target", target)
        d.plat("secrets", "create", "db", "--set", "K=v", "--target", target)
        r = d.plat("deploy", "-f", str(ROOT / "examples/hello/plat.toml"), "--target", target)
        if r.code != 0:
            raise SystemExit(f"deploy failed: {r.out}{r.err}")
        env = d.env(PLAT_TARGET=target)
        assert d.proc is not None
        platd = d.proc.pid
        plat = str(BIN / "plat")
        rows = []
        cpu_rows = []
        ref = None
        commands = [("python3 -c pass (interpreter floor)", [sys.executable, "-c", "pass"])]
        if shutil.which("docker"):
            commands.insert(0, ("docker ps (reference, Go client)", ["docker", "ps"]))
        commands += [
            ("plat --version", [plat, "--version"]),
            ("plat --help", [plat, "--help"]),
            ("plat envs list (live daemon)", [plat, "envs", "list", "bench/shop/hello"]),
            ("plat status (live daemon)", [plat, "status"]),
            ("plat releases (live daemon)", [plat, "releases"]),
        ]
        for label, argv in commands:
            runs = measure(argv, args.runs, env, platd)
            wall = median_of([r[0] for r in runs])
            if label.startswith("docker ps"):
                ref = wall
            goal = "<= 3x" if label.startswith("plat") else ""
            rows.append((label, wall, ref if wall is not ref else None, goal))
            cpu_rows.append([label, f"{median_of([r[1] for r in runs]) * 1000:.1f}",
                             f"{sum(r[2] for r in runs) / len(runs) * 1000:.1f}"])
        print_table(f"CLI start-up, {args.runs} runs each (median wall time)", rows)
        print_grid(f"CPU time, {args.runs} runs each; load average "
                   f"{os.getloadavg()[0]:.1f}",
                   ["what", "command cpu ms (median)", "platd cpu ms (mean)"], cpu_rows)


def measure(argv: list[str], runs: int, env: dict[str, str],
            daemon_pid: int) -> list[tuple[float, float, float]]:
    """(wall, the command's CPU time, platd's CPU time) of each of ``runs`` executions after
    one warm-up; each must exit 0."""
    subprocess.run(argv, env=env, capture_output=True, check=True)
    out = []
    for _ in range(runs):
        child, daemon = _children_cpu(), _process_cpu(daemon_pid)
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        wall = time.perf_counter() - start
        out.append((wall, _children_cpu() - child, _process_cpu(daemon_pid) - daemon))
    return out


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
