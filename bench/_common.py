"""Shared pieces of the benchmark scripts: timing, tables, and a throwaway daemon.

Benchmarks print a table of medians and the ratio to a reference measured in the same run on the
same machine; they never assert on time. Every daemon they start listens on loopback only.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Daemon, free_port  # noqa: E402  (reused: one way to run a daemon)

__all__ = ["ROOT", "Daemon", "free_port", "median_of", "print_table", "time_command", "timed"]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def time_command(argv: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall time of ``runs`` executions (after one warm-up), each must exit 0."""
    env = env or dict(os.environ)
    subprocess.run(argv, env=env, capture_output=True, check=True)
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - start)
    return out


def print_table(
    title: str, rows: list[tuple[str, float, float | None, str]], unit: str = "ms"
) -> None:
    """Rows of (what, median, reference median or None, goal text)."""
    scale = 1000.0 if unit == "ms" else 1.0
    print(f"\n{title}")
    header = f"{'what':<46} {'median ' + unit:>12} {'ratio':>8}  goal"
    print(header)
    print("-" * len(header))
    for what, value, ref, goal in rows:
        ratio = f"{value / ref:.2f}x" if ref else "ref"
        print(f"{what:<46} {value * scale:>12.1f} {ratio:>8}  {goal}")
    sys.stdout.flush()
