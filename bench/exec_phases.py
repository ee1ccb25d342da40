"""Where `plat exec box -- true` spends its time, phase by phase, beside `docker exec` split the
same way at the engine, all in one run.

bench/exec.py says how long; this says where. platd and plat run through bench/_trace.py, which
wraps a few of their functions to write wall-clock marks to one file (plat's imports, the POST
that starts the process on plat's thread beside the websockets import, the instance lookup,
docker's exec create and attach, the websocket's TCP connection and handshake, the token check,
the started message, the end of the output, the exec inspect for the exit code, the audit
events, the exit message, the process exit). Each phase is the time between
two marks; the rows not indented follow one another and add up to the whole command. The floor
is the same exec made straight at the engine (aiodocker, as platd does): create, start/attach,
the output's end, inspect; and `docker exec` whole, for its CLI's share.

CPU: plat's own CPU time per run (its process, from the kernel's accounting of children) beside
docker's CLI's. On a machine shared with other work the wall times stretch with the load; the
CPU times do not. Throttled: how long the container's CPU quota (the manifest's cpu = 0.1) held
the exec's processes back, read from its cgroup; most of "the engine runs it", for either client.

Tracing adds a few milliseconds (a file append per mark); compare phases, and take the totals
from bench/exec.py. A phase whose marks are missing (a wrapped function was renamed) shows "-".
Nothing here asserts.
Run: .venv/bin/python bench/exec_phases.py [--runs 15] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _common import parse_args, print_grid, running_daemon
from exec import MANIFEST, QUOTA_PERIOD, TARGET
from rollout_phases import Marks, Timeline, TracedDaemon, _span, traced_plat

# The rows not indented follow one another and add up to the total; indented rows are parts of
# the row above, or run beside it (the POST, on plat's thread, runs beside the websockets import).
PHASES = [
    "plat: interpreter start",
    "plat: imports, arguments, settings",
    "plat: HTTP client import, POST sent",
    "plat: websockets import",
    "  POST sent -> answered (plat's thread, beside the import)",
    "    platd: instance lookup (DB)",
    "    platd: docker exec create",
    "    platd: docker exec start/attach",
    "plat: waiting for the POST's answer after the import",
    "TCP connect and websocket handshake",
    "  platd: token check",
    "handshake -> started received",
    "started -> output ends (read from the engine)",
    "output end -> exit code (exec inspect)",
    "exit code -> audit event written",
    "audit written -> exit message sent",
    "exit message sent -> plat has it",
    "plat: exit code -> process exit",
    "total",
]


def phases(marks: Marks) -> dict[str, float | None]:
    tl = Timeline(marks)
    spawn = tl.first("spawn", 0.0)
    started = next((float(m["at"]) for m in marks if m["n"] == "started" and m["p"] == "plat"),
                   None)
    opening = tl.first("open>", started)
    posted, answered = tl.first("post>", opening), tl.first("post<", opening)
    importing = tl.first("ws_import>", opening)
    imported = tl.first("ws_import<", importing)
    joined = tl.first("joined<", imported)
    handshake = tl.first("connect<", joined)
    attached = tl.first("attach<", handshake)
    read_end = tl.last("exec_read<", tl.first("exec_wait>", attached))
    code = tl.first("exec_wait<", read_end)
    audited = tl.first("audit_close<", code)
    exit_sent = tl.first("ws_send>", audited, type="websocket.send")
    received = tl.first("message>", exit_sent)
    exited = tl.first("done", received)
    return dict(zip(PHASES, [
        _span(spawn, started),
        _span(started, opening),
        _span(opening, importing),
        _span(importing, imported),
        _span(posted, answered),
        _span(tl.first("resolve>", posted), tl.first("resolve<", posted)),
        _span(tl.first("docker_exec_create>", posted), tl.first("docker_exec_create<", posted)),
        _span(tl.first("docker_exec_attach>", posted), tl.first("docker_exec_attach<", posted)),
        _span(imported, joined),
        _span(joined, handshake),
        _span(tl.first("auth>", joined), tl.first("auth<", joined)),
        _span(handshake, attached),
        _span(attached, read_end),
        _span(read_end, code),
        _span(code, audited),
        _span(audited, exit_sent),
        _span(exit_sent, received),
        _span(received, exited),
        _span(spawn, exited),
    ], strict=True))


async def engine_split(container_id: str, runs: int) -> list[dict[str, float]]:
    """The exec made straight at the engine, as platd makes it: create, attach, output, inspect."""
    import aiodocker

    docker = aiodocker.Docker()
    out = []
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            execution = await docker.containers.container(container_id).exec(
                ["true"], stdin=False, tty=False, environment={})
            t1 = time.perf_counter()
            stream = execution.start(detach=False)
            await stream.__aenter__()
            t2 = time.perf_counter()
            while await stream.read_out() is not None:
                pass
            t3 = time.perf_counter()
            await execution.inspect()
            t4 = time.perf_counter()
            await stream.close()
            out.append({"engine: exec create": t1 - t0, "engine: exec start/attach": t2 - t1,
                        "engine: attach -> output ends": t3 - t2,
                        "engine: exec inspect": t4 - t3})
    finally:
        await docker.close()
    return out


def throttled(container_id: str) -> float | None:
    """Seconds the container's CPU quota has held its processes back so far (cgroup v1 or v2),
    None where it cannot be read. An exec's processes (runc's init, then the command) run in
    the container's cgroup: with the manifest's cpu = 0.1 (10 ms per 100 ms period) an exec
    uses up the period's quota and waits for the next one, whichever client asked for it."""
    for path, scale in ((f"/sys/fs/cgroup/cpu/docker/{container_id}/cpu.stat", 1e-9),
                        (f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
                         1e-6)):
        try:
            fields = dict(line.split() for line in Path(path).read_text().splitlines())
        except OSError:
            continue
        value = fields.get("throttled_time", fields.get("throttled_usec"))
        return int(value) * scale if value is not None else None
    return None


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ms(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if len(known) < len(values) or not known:
        return "-"
    return f"{statistics.median(known) * 1000:.1f}"


def _spread(values: Sequence[float | None]) -> str:
    known = sorted(v * 1000 for v in values if v is not None)
    return f"{known[0]:.0f}-{known[-1]:.0f}" if len(known) > 1 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parse_args(parser, quick={"runs": 1})
    traced: list[dict[str, float | None]] = []
    plat_cpu: list[float] = []
    docker_wall: list[float] = []
    docker_cpu: list[float] = []
    plat_throttled: list[float | None] = []
    docker_throttled: list[float | None] = []
    with running_daemon("docker", kind=TracedDaemon) as (d, tmp):
        assert isinstance(d, TracedDaemon)
        d.make_env(TARGET)
        (tmp / "plat.toml").write_text(MANIFEST)
        r = d.plat("deploy", "-f", str(tmp / "plat.toml"), "--target", TARGET)
        if r.code != 0:
            raise SystemExit(f"deploy failed: {r.err}")
        (box,) = d.plat("instances", "--json", "--target", TARGET).json()["instances"]
        cid = box["container_id"]
        rng = random.Random(7)
        for n in range(args.runs + 1):  # the first is a warm-up
            # As bench/exec.py: each exec finds a full CPU quota at a random point of its period.
            time.sleep(QUOTA_PERIOD * (1 + rng.random()))
            before, held = children_cpu(), throttled(cid)
            marks = traced_plat(d, "exec", "box", "--target", TARGET, "--", "true")
            cpu, plat_held = children_cpu() - before, _delta(held, throttled(cid))
            time.sleep(QUOTA_PERIOD * (1 + rng.random()))
            before, held = children_cpu(), throttled(cid)
            start = time.perf_counter()
            subprocess.run(["docker", "exec", cid, "true"], capture_output=True, check=True)
            wall = time.perf_counter() - start
            if n:
                traced.append(phases(marks))
                plat_cpu.append(cpu)
                docker_wall.append(wall)
                docker_cpu.append(children_cpu() - before)
                plat_throttled.append(plat_held)
                docker_throttled.append(_delta(held, throttled(cid)))
        floors = asyncio.run(engine_split(cid, max(args.runs, 1)))
    print(f"host: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    print_grid(f"Phases of plat exec box -- true (traced); median ms of {args.runs} run(s) "
               "(range); indented rows are not added to the total",
               ("phase", "median", "range"),
               [(name, _ms([t[name] for t in traced]), _spread([t[name] for t in traced]))
                for name in PHASES])
    print_grid(f"The floor: the same exec straight at the engine, and docker exec; median ms "
               f"of {args.runs}", ("phase", "median", "range"),
               [(name, _ms([f[name] for f in floors]), _spread([f[name] for f in floors]))
                for name in floors[0]]
               + [("docker exec CID true (whole, untraced)", _ms(docker_wall),
                   _spread(docker_wall))])
    print_grid("CPU time of the client process, and the container held back by its CPU quota "
               "during the exec (\"-\": not readable here); median ms",
               ("client", "median", "range"),
               [("plat exec box -- true (traced): client CPU", _ms(plat_cpu), _spread(plat_cpu)),
                ("docker exec CID true: client CPU", _ms(docker_cpu), _spread(docker_cpu)),
                ("plat exec: container throttled", _ms(plat_throttled),
                 _spread(plat_throttled)),
                ("docker exec: container throttled", _ms(docker_throttled),
                 _spread(docker_throttled))])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
