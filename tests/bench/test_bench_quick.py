"""Every benchmark still runs: each ``bench/*.py --quick`` exits 0 and prints its tables.

A benchmark is only run by hand, on the day someone needs its figures; one that a change broke
(an API answer of a new shape, a renamed option, a helper that moved) used to be found then.
Here CI runs each one's quick mode (tiny sizes, one or two runs) as the real program, with the
project's interpreter, against the real services it measures. Only "it ran and printed its
tables" is checked: the figures of a quick run mean nothing, and timing never belongs in a test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.volumes.volume_support import needs_loop

BENCH = ROOT / "bench"
TIMEOUT = 180  # seconds; a quick run takes 3-20 s here, this only stops a hung one
# cluster.py --quick starts 3-host clusters four times over (replication, heal, placement,
# cross-host endpoints): 2-3 minutes on a busy 2-core machine
TIMEOUTS = {"cluster.py": 420}
DASHES = re.compile(r"^-+(\s+-+)*$")


def tables(out: str) -> list[tuple[str, list[str]]]:
    """(header, data rows) of each table printed: a header line, a line of dashes under it, and
    the non-blank lines that follow."""
    lines = out.splitlines()
    found = []
    for i, line in enumerate(lines):
        if i and DASHES.match(line.strip()) and lines[i - 1].strip():
            rows = []
            for row in lines[i + 1:]:
                if not row.strip() or DASHES.match(row.strip()):
                    break
                rows.append(row)
            found.append((lines[i - 1], rows))
    return found


def need(*tools: str) -> None:
    """Like the suite's service fixtures: a missing tool skips here and fails in CI."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (scripts/setup installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def run_quick(script: str) -> subprocess.CompletedProcess[str]:
    # sys.executable is the project's venv python (the suite runs as .venv/bin/python -m pytest);
    # the benchmarks find `plat` and `platd` beside it.
    proc = subprocess.Popen([sys.executable, str(BENCH / script), "--quick"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit = TIMEOUTS.get(script, TIMEOUT)
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the benchmark's finally blocks stop its daemons and containers.
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"{script} --quick still ran after {limit} s\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# (script, tables it prints, what their headers start with)
QUICK = [
    pytest.param("cli_startup.py", ["what", "what"], id="cli_startup"),
    pytest.param("config_storage.py", ["what", "what"], id="config_storage"),
    pytest.param("deploy.py", ["what", "what"], id="deploy",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("rollback.py", ["what"], id="rollback",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("rollout_phases.py", ["phase", "phase"], id="rollout_phases",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("exec.py", ["what", "what"], id="exec",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("exec_phases.py", ["phase", "phase", "client"], id="exec_phases",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("console.py", ["what"], id="console",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("logs.py", ["what", "what", "what"], id="logs",
                 marks=[pytest.mark.docker, pytest.mark.slow]),
    pytest.param("volumes.py", ["what", "what"], id="volumes",
                 marks=[pytest.mark.docker, pytest.mark.slow, needs_loop]),
    pytest.param("tui.py", ["what", "offered lines/s"], id="tui", marks=pytest.mark.slow),
    pytest.param("ingress.py", ["measure"], id="ingress", marks=pytest.mark.slow),
    pytest.param("cluster.py", ["what"] * 6, id="cluster",
                 marks=pytest.mark.slow),
    pytest.param("status_cluster.py", ["what"], id="status_cluster", marks=pytest.mark.slow),
    pytest.param("revocation.py", ["what"], id="revocation", marks=pytest.mark.slow),
]
NEEDS_DOCKER = {"deploy.py", "rollback.py", "rollout_phases.py", "exec.py", "exec_phases.py",
                "logs.py", "volumes.py", "console.py"}
NEEDS_TOOLS = {"tui.py": ("tmux",), "ingress.py": ("haproxy", "wrk", "iperf3"),
               "cluster.py": ("serf", "ip", "iptables"), "console.py": ("chromium",)}


@pytest.mark.parametrize(("script", "headers"), QUICK)
def test_quick_mode_runs_and_prints_its_tables(
    script: str, headers: list[str], request: pytest.FixtureRequest
) -> None:
    if script in NEEDS_DOCKER:
        request.getfixturevalue("docker_services")
    need(*NEEDS_TOOLS.get(script, ()))

    r = run_quick(script)

    tail = f"\n--- stdout ---\n{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-3000:]}"
    assert r.returncode == 0, f"{script} --quick exited {r.returncode}{tail}"
    printed = tables(r.stdout)
    assert len(printed) == len(headers), f"tables printed: {printed}{tail}"
    for (header, _), start in zip(printed, headers, strict=True):
        assert header.startswith(start), f"tables printed: {printed}{tail}"
    for header, rows in printed:
        assert rows, f"table under {header!r} has no rows{tail}"


def test_every_benchmark_has_a_quick_run_here() -> None:
    """A new bench/*.py joins CI by being listed above."""
    scripts = {p.name for p in Path(BENCH).glob("*.py") if not p.name.startswith("_")}
    assert scripts == {p.values[0] for p in QUICK}


def test_table_reader_needs_a_header_dashes_and_a_row() -> None:
    out = "title\nwhat   median\n-----  ------\nplat   12.0\n\nnot a table\n"
    assert tables(out) == [("what   median", ["plat   12.0"])]
    assert tables("title\nwhat\n----\n") == [("what", [])]
