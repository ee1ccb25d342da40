"""Shared pieces of the benchmark scripts: arguments with a quick mode, timing, tables, and a
throwaway daemon.

Benchmarks print a table of medians and the ratio to a reference measured in the same run on the
same machine; they never assert on time. Every daemon they start listens on loopback only.

Every benchmark has ``--quick``: tiny sizes and one or two runs, so that it finishes in seconds.
Its figures mean nothing; it exists so that CI (tests/bench) runs every benchmark on every change
and a benchmark that a change broke fails there instead of on the day someone needs it.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402  (reused: one way to run a daemon)
    Daemon,
    _remove_env_networks,
    free_port,
)

__all__ = [
    "ROOT",
    "Daemon",
    "free_port",
    "median_of",
    "parse_args",
    "print_grid",
    "print_table",
    "remove_containers",
    "running_daemon",
    "time_command",
    "timed",
    "wait_no_containers",
]


# --- arguments ----------------------------------------------------------------------------------


def parse_args(parser: argparse.ArgumentParser, quick: Mapping[str, Any]) -> argparse.Namespace:
    """Parse the command line, with ``--quick`` setting the defaults in ``quick``.

    Options given explicitly still win, so ``--quick --runs 3`` runs three times.
    """
    settings = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in quick.items()
                        if not isinstance(v, bool))
    flags = " ".join(f"--{k.replace('_', '-')}" for k, v in quick.items() if v is True)
    parser.add_argument(
        "--quick", action="store_true",
        help=f"seconds, tiny sizes, one or two runs ({' '.join(filter(None, (settings, flags)))}"
             "): checks that the benchmark still runs; its figures mean nothing")
    # SIGTERM (a test's timeout, a CI job cancelled) becomes SystemExit, so that the finally
    # blocks still stop the daemons and proxies and remove the containers a benchmark started.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    compile_project()
    first, _ = parser.parse_known_args()
    if first.quick:
        parser.set_defaults(**quick)
    args = parser.parse_args()
    if args.quick:
        print("quick mode: tiny sizes and few runs, the figures below are not measurements",
              flush=True)
    return args


def compile_project() -> None:
    """Compile plat's own modules to bytecode, as an install (and scripts/setup) does.

    The project is installed editable, so uv does not compile it, and with
    PYTHONDONTWRITEBYTECODE=1 (set on the development machines) no run writes the cache
    either: every `plat` start would then compile what it imports (measured: `plat status`
    imports in 63 ms instead of 36 ms), a cost no installed plat pays. Cheap when nothing
    changed.
    """
    for package in ("platd", "tui"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


# --- timing -------------------------------------------------------------------------------------


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


# --- tables -------------------------------------------------------------------------------------


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


def print_grid(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of already formatted cells: the first column left-aligned, the others right."""
    print(f"\n{title}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip())
    sys.stdout.flush()


# --- a daemon and its containers ----------------------------------------------------------------


@contextmanager
def running_daemon(runtime: str, *, platd_toml: str | None = None, volumes: bool = False,
                   parent: str | None = None,
                   kind: type[Daemon] = Daemon) -> Iterator[tuple[Daemon, Path]]:
    """A started platd in a scratch directory, and that directory for the benchmark's files.

    Afterwards: the daemon is stopped, the containers it started are removed, with ``volumes``
    the volumes it left mounted are unmounted and their loop devices detached (as the volume
    tests do), and the directory is deleted. ``kind``: a Daemon subclass that starts platd
    differently (bench/rollout_phases.py starts it traced).
    """
    tmp = Path(tempfile.mkdtemp(prefix="plat-bench-", dir=parent))
    d = kind(data=tmp / "data", config_dir=tmp / "config", runtime=runtime)
    try:
        d.init()
        if platd_toml is not None:
            (d.data / "platd.toml").write_text(platd_toml)
        d.start()
        yield d, tmp
    except BaseException:
        # The directory (and the daemon's log in it) goes below: a benchmark that failed on an
        # answer from platd ("the daemon's log has the details") shows that log's end first.
        _print_log_tail(d)
        raise
    finally:
        d.stop()
        if runtime == "docker" and d.host_id:
            remove_containers(f"dev.plat.host={d.host_id}")
            _remove_env_networks(d.data)
        if volumes:
            sys.path.insert(0, str(ROOT / "tests" / "volumes"))
            from volume_support import cleanup_volumes

            cleanup_volumes(d.data)
        shutil.rmtree(tmp, ignore_errors=True)


def _print_log_tail(d: Daemon, lines: int = 80) -> None:
    log = d.log_path
    if log is None or not Path(log).exists():
        return
    tail = Path(log).read_text(errors="replace").splitlines()[-lines:]
    print(f"--- the last {len(tail)} lines of {log}:", *tail, "---", sep="\n", file=sys.stderr,
          flush=True)


def _containers(label: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"],
                          capture_output=True, text=True).stdout.split()


def remove_containers(label: str) -> None:
    """Remove every container carrying ``label`` (``key=value``), running or not."""
    ids = _containers(label)
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def wait_no_containers(d: Daemon, timeout: float = 60) -> None:
    """Wait until the daemon has removed all its containers (after a delete or a scale to 0)."""
    wait_containers(d, 0, timeout)


def wait_containers(d: Daemon, count: int, timeout: float = 60) -> None:
    """Wait until the daemon has ``count`` containers left: the ones a rollout replaced are
    stopped and removed (`plat deploy` returns before that, while they still stop)."""
    deadline = time.monotonic() + timeout
    while (len(_containers(f"dev.plat.host={d.host_id}")) != count
           and time.monotonic() < deadline):
        time.sleep(0.02 if count else 0.1)
