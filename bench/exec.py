"""`plat exec` next to `docker exec`, measured in the same run on the same container.

1. Running `true`: the whole program, start-up to exit code, for `docker exec CID true` and for
   `plat exec box -- true` (which first lists the instances to pick the only one) and
   `plat exec box --instance ID -- true` (which does not). Runs alternate between the tools, in a
   shuffled order each round, so a machine that gets busier mid-run slows both alike.
2. Keystroke echo: in an interactive session with a TTY (`cat` on the remote side), the time
   from writing one key into the local terminal to seeing the remote TTY's echo of it, for
   `plat exec -t -i` and `docker exec -it`.

Goal (issue 22; issue 6 asked for 2x): `plat exec ... true` within 1.5x of `docker exec`. A
second table gives the fastest run of each, which a machine busy with other work disturbs least.

Each timed run starts after a pause of one CPU-quota period and a random part of another. The
manifest's cpu = 0.1 gives the container 10 ms of CPU per 100 ms period, and an exec of `true`
uses more (runc's init runs in the container's cgroup: about 14 ms here), so every exec waits
for a period boundary, and how long depends on where in the period it reaches the engine
(measured at load 7 straight at the engine: 100-190 ms by the delay after the previous exec; at
a random point, median 94 ms, 44-142). Run back to back, that point is set by the previous
exec, which ends just after a boundary, and by how long each client takes from there to the
engine (docker's CLI about 40 ms, plat about twice that): the order of the runs and each
client's start-up modulo 100 ms, not the exec itself. With the pause every exec finds a full
quota at a random point of its period, whichever client sends it.
Run: .venv/bin/python bench/exec.py [--runs N] [--keys N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import select
import subprocess
import sys
import time
from pathlib import Path

from _common import median_of, parse_args, print_table, running_daemon
from ptyprocess import PtyProcess

PLAT = str(Path(sys.executable).parent / "plat")
TARGET = "bench/shop/tools/prod"
MANIFEST = """app = "tools"
[workloads.box]
image = "127.0.0.1:5000/busybox:latest"
command = ["sleep", "1000000"]
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"  # not a readiness test: the 10 s default would only slow it
"""


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


QUOTA_PERIOD = 0.1  # seconds: the kernel's default CFS period, which docker's --cpus uses


def alternate(
    commands: dict[str, list[str]], env: dict[str, str], runs: int,
) -> dict[str, list[float]]:
    for argv in commands.values():  # warm-up: page cache, image layers, the daemon's pools
        run_once(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    rng = random.Random(7)
    for _ in range(runs):
        # A fresh order each round: whichever runs right after `docker exec` shares the CPU with
        # the engine still tearing that exec down, and that should not always be the same one.
        rng.shuffle(order)
        for name in order:
            # A full quota, at a random point of its period (the module's docstring says why).
            time.sleep(QUOTA_PERIOD * (1 + rng.random()))
            samples[name].append(run_once(commands[name], env))
    return samples


def echo_round_trips(argv: list[str], env: dict[str, str], keys: int) -> list[float]:
    """Seconds from writing a key into the terminal to reading its echo, ``keys`` times.

    The remote side prints a marker and then runs ``cat``: the marker on the local terminal
    means the session is up and the local terminal is raw (no local echo), so every echo
    counted comes from the remote TTY. Keys are digits, which the marker does not contain.
    """
    term = PtyProcess.spawn([*argv, "sh", "-c", "echo session-up; exec cat"],
                            env={**env, "TERM": "xterm"}, dimensions=(24, 80))
    seen = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([term.fd], [], [], left)[0]:
                raise SystemExit(f"{argv[0]}: no {marker!r} within {timeout}s; got {seen[-200:]!r}")
            seen += term.read(65536)

    try:
        read_until(b"session-up\r\n")
        samples = []
        for n in range(keys):
            key = str(n % 10).encode()
            seen = b""
            start = time.perf_counter()
            term.write(key)
            read_until(key)
            samples.append(time.perf_counter() - start)
        term.write(b"\r\x04")
        term.wait()
        return samples
    finally:
        if term.isalive():
            term.terminate(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keys", type=int, default=100)
    args = parse_args(parser, quick={"runs": 2, "keys": 5})
    with running_daemon("docker") as (d, tmp):
        d.make_env(TARGET)
        (tmp / "plat.toml").write_text(MANIFEST)
        r = d.plat("deploy", "-f", str(tmp / "plat.toml"), "--target", TARGET)
        if r.code != 0:
            raise SystemExit(f"deploy failed: {r.err}")
        (box,) = d.plat("instances", "--json", "--target", TARGET).json()["instances"]
        cid, iid = box["container_id"], box["id"]
        env = d.env(PLAT_TARGET=TARGET)
        # As on an installed plat, modules run from cached bytecode (the warm-up writes it).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        times = alternate({
            "docker": ["docker", "exec", cid, "true"],
            "plat": [PLAT, "exec", "box", "--", "true"],
            "plat --instance": [PLAT, "exec", "box", "--instance", iid, "--", "true"],
            "plat --version": [PLAT, "--version"],
        }, env, args.runs)
        docker = median_of(times["docker"])
        docker_echo = echo_round_trips(["docker", "exec", "-it", cid], env, args.keys)
        plat_echo = echo_round_trips([PLAT, "exec", "box", "-t", "-i", "--"], env, args.keys)
        docker_keys, plat_keys = median_of(docker_echo), median_of(plat_echo)
        print_table(f"plat exec vs docker exec, {args.runs} runs each, alternating; "
                    f"{args.keys} keystrokes; {os.cpu_count()} cpus", [
            ("docker exec CID true (reference)", docker, None, ""),
            ("plat exec box -- true", median_of(times["plat"]), docker, "<= 1.5x"),
            ("plat exec box --instance ID -- true", median_of(times["plat --instance"]),
             docker, "<= 1.5x"),
            ("plat --version (start-up alone)", median_of(times["plat --version"]), docker, ""),
            ("docker exec -it: keystroke echo (reference)", docker_keys, None, ""),
            ("plat exec -t: keystroke echo", plat_keys, docker_keys, "compare"),
        ])
        # On a machine shared with other work the medians wander; the fastest run of each
        # is the cost of the thing itself, with the least waiting for a CPU.
        fastest = {name: min(samples) for name, samples in times.items()}
        print_table("The same, fastest run of each (less sensitive to a busy machine)", [
            ("docker exec CID true (reference)", fastest["docker"], None, ""),
            ("plat exec box -- true", fastest["plat"], fastest["docker"], "<= 1.5x"),
            ("plat exec box --instance ID -- true", fastest["plat --instance"],
             fastest["docker"], "<= 1.5x"),
            ("plat --version (start-up alone)", fastest["plat --version"], fastest["docker"],
             ""),
            ("docker exec -it: keystroke echo (reference)", min(docker_echo), None, ""),
            ("plat exec -t: keystroke echo", min(plat_echo), min(docker_echo), "compare"),
        ])


if __name__ == "__main__":
    main()
