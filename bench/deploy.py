"""Deploy-to-healthy through plat vs the `docker run` floor; and an idle reconcile pass.

1. The floor: `docker run -d` of the sample image (1 or 10 at once) with the manifest's cpu and
   memory limits, plus polling its health endpoint until every container answers 200 — what
   any tool must at least spend to run that container. The limits matter: a 0.1-cpu quota
   slows the engine's start and the app's own start-up (measured here: +120 ms for x1), so a
   floor without them compares plat with a different container. The x1 floor without limits is
   shown too, for comparison with tables measured before (2026-12).
   The same on a user-defined bridge network is the floor the goal is measured against: plat
   runs each env's instances on the env's own bridge (isolation between envs and orgs,
   runtime/docker_networks.py), and Docker 20.10 spends more on starting a container there
   than on its default bridge (the embedded DNS server is set up in the container's network
   namespace; measured: +90 ms). The network exists already, as an env's does by the time it
   is deployed to.
2. plat: `plat deploy` of the same image and count into a fresh env, until plat reports the
   rollout converged (its own health checks passed). Each round runs every floor once and plat
   once, so load that changes during the run weighs on both sides of each ratio.
3. An idle pass of the reconciler over 1,000 workloads with the fake runtime.

Goals (issue 3): plat within 1.3x of the floor; the idle pass in milliseconds.
Run: .venv/bin/python bench/deploy.py [--runs N] [--counts 1,10] [--workloads 1000]
         [--skip-docker] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import (
    Daemon,
    median_of,
    parse_args,
    print_table,
    remove_containers,
    running_daemon,
    timed,
    wait_no_containers,
)

IMAGE = "127.0.0.1:5000/hello:v1"
CPU, MEMORY = 0.1, "32M"  # per instance, in the manifest and in the floor alike
LIMITS = ["--cpus", str(CPU), "--memory", MEMORY, "--memory-swap", MEMORY]


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def bridge_network() -> Iterator[str]:
    """A user-defined bridge network for the floor (plat's instances run on one per env)."""
    name = f"plat-bench-floor-{time.time_ns()}"
    subprocess.run(["docker", "network", "create", "--label", "plat-bench=1", name],
                   capture_output=True, check=True)
    try:
        yield name
    finally:
        subprocess.run(["docker", "network", "rm", name], capture_output=True)


def floor_once(count: int, limits: bool = True, network: str | None = None) -> float:
    """`docker run -d` x count and health polls; on ``network`` (a user-defined bridge, with
    the workload's name as an alias there, as plat does) or on the default bridge."""
    on_network = ["--network", network, "--network-alias", "web"] if network else []
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "docker",
                "run",
                "-d",
                "--label",
                "plat-bench=1",
                "-e",
                "GREETING=x",
                "-p",
                "127.0.0.1::8080",
                *(LIMITS if limits else []),
                *on_network,
                IMAGE,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    ids = [p.communicate()[0].strip() for p in procs]
    ports = []
    for cid in ids:
        out = subprocess.run(
            ["docker", "port", cid, "8080/tcp"], capture_output=True, text=True, check=True
        ).stdout
        ports.append(int(out.split(":")[-1]))
    while not all(healthy(p) for p in ports):
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=True)
    return elapsed


def manifest(path: Path, count: int) -> Path:
    path.write_text(f"""app = "hello"
[workloads.web]
image = "{IMAGE}"
count = {count}
cpu = {CPU}
memory = "{MEMORY}"
[workloads.web.health]
http = {{ port = 8080, path = "/healthz" }}
""")
    return path


def plat_once(d: Daemon, n: int, count: int, tmp: Path) -> float:
    target = d.make_env(f"bench/shop/hello/run{count}x{n}")
    file = manifest(tmp / f"plat-{count}.toml", count)
    elapsed = timed(lambda: _deploy(d, file, target))
    d.plat("envs", "delete", target, "--yes")  # the reconciler stops its instances
    return elapsed


def _deploy(d: Daemon, file: Path, target: str) -> None:
    r = d.plat("deploy", "-f", str(file), "--target", target, timeout=300)
    if r.code != 0:
        raise SystemExit(f"deploy failed: {r.err}")


def idle_pass(workloads: int = 1000, runs: int = 20) -> tuple[float, float]:
    """Median seconds of an idle reconcile pass, and of loading desired state alone."""
    from _fixture import converged_reconciler

    async def go(tmp: Path) -> tuple[float, float]:
        reconciler, _fake = await converged_reconciler(tmp, workloads)
        passes = []
        for _ in range(runs):
            start = time.perf_counter()
            await reconciler.pass_once()
            passes.append(time.perf_counter() - start)
        from platd.reconcile.desired import load_desired

        loads = [timed(lambda: load_desired(reconciler.store)) for _ in range(runs)]
        return median_of(passes), median_of(loads)

    with tempfile.TemporaryDirectory(prefix="plat-bench-idle-") as tmp:
        return asyncio.run(go(Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--counts", default="1,10", help="instances per deploy, comma-separated")
    parser.add_argument("--workloads", type=int, default=1000, help="for the idle pass")
    parser.add_argument("--idle-runs", type=int, default=20)
    parser.add_argument("--skip-docker", action="store_true")
    args = parse_args(parser, quick={"runs": 1, "counts": "1,2", "workloads": 40,
                                     "idle_runs": 2})
    rows = []
    if not args.skip_docker:
        with running_daemon("docker") as (d, tmp), bridge_network() as network:
            try:
                subprocess.run(["docker", "pull", "-q", IMAGE], capture_output=True)
                for count in (int(c) for c in args.counts.split(",")):
                    # One run of each per round, so a machine that gets busier (or quieter)
                    # mid-run moves the floors and plat alike and the ratios stay fair.
                    floors: list[float] = []
                    defaults: list[float] = []
                    bares: list[float] = []
                    samples: list[float] = []
                    for n in range(args.runs):
                        floors.append(floor_once(count, network=network))
                        defaults.append(floor_once(count))
                        if count == 1:
                            bares.append(floor_once(1, False))
                        samples.append(plat_once(d, n, count, tmp))
                        wait_no_containers(d)
                    floor, default = median_of(floors), median_of(defaults)
                    rows.append((f"docker run x{count} + health, user-defined bridge (floor)",
                                 floor, None, ""))
                    rows.append((f"  docker run x{count} + health, default bridge", default,
                                 floor, ""))
                    if bares:
                        rows.append(("  the same without cpu/memory limits", median_of(bares),
                                     floor, ""))
                    rows.append(
                        (f"plat deploy x{count} to healthy", median_of(samples), floor, "<= 1.3x")
                    )
                    rows.append(("  the same against the default-bridge floor",
                                 median_of(samples), default, ""))
            finally:
                remove_containers("plat-bench=1")
        print_table(f"Deploy to healthy, {args.runs} runs each", rows)
    pass_s, load_s = idle_pass(args.workloads, args.idle_runs)
    print_table(
        f"Idle reconcile pass, {args.workloads:,} workloads, fake runtime ({args.idle_runs} runs)",
        [
            ("load desired state from SQLite", load_s, None, ""),
            ("whole idle pass (observe, plan, write)", pass_s, None, "milliseconds"),
        ],
    )
    print(json.dumps({"idle_pass_ms": round(pass_s * 1000, 1)}))


if __name__ == "__main__":
    main()
