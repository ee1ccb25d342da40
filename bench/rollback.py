"""Rollback-to-healthy and scale-up through plat, next to the `docker run` floor of the same run.

- floor x1 / xN: `docker run -d` of the sample image with the manifest's cpu and memory limits
  on a user-defined bridge network plus polling health until 200 (as in bench/deploy.py, which
  says why the limits and the network); x1 on the default bridge is shown too.
- rollback: from v2 back to v1 (image already on the host), until plat reports it converged,
  once v2's deploy has settled (the v1 instance it replaced is stopped and removed), as the
  floor's `docker run` starts on an engine that is not stopping a container. Also shown: the
  same rollback right after `plat deploy` of v2 returned, while the engine still stops the
  instance that deploy replaced (a stop beside a `docker run` costs it 100-200 ms of engine
  and CPU time here, measured with the docker CLI alone; bench/rollout_phases.py shows it).
- fresh deploy: a new release of the same image into a fresh env, for comparison.
- scale 1 -> N (10): `plat scale web --count N` until status shows N current healthy instances.

Goals (issue 4): rollback <= floor x1 + 20%; scale-up compared with floor x10.
Run: .venv/bin/python bench/rollback.py [--runs N] [--scale-to N] [--quick]
"""

from __future__ import annotations

import argparse
import time

from _common import (
    Daemon,
    median_of,
    parse_args,
    print_table,
    remove_containers,
    running_daemon,
    timed,
    wait_containers,
    wait_no_containers,
)
from deploy import bridge_network, floor_once, manifest

IMAGE_V2 = "127.0.0.1:5000/hello:v2"


def wait_current(d: Daemon, target: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = d.plat("status", "--json", "--target", target).json()
        web = s["workloads"][0] if s["workloads"] else None
        if web and web["current"] == count and web["running"] == count:
            return
        time.sleep(0.05)
    raise SystemExit(f"{target}: {count} current running instances not seen in {timeout:g}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale-to", type=int, default=10)
    args = parse_args(parser, quick={"runs": 1, "scale_to": 2})
    with running_daemon("docker") as (d, tmp), bridge_network() as network:
        try:
            floors1: list[float] = []
            defaults1: list[float] = []
            bares1: list[float] = []
            floors_n: list[float] = []
            rollbacks, right_after, fresh, scales = [], [], [], []
            one = manifest(tmp / "one.toml", 1)
            for n in range(args.runs):
                # The floors of each round beside plat's runs: load that changes during the
                # run weighs on both sides of each ratio.
                floors1.append(floor_once(1, network=network))
                defaults1.append(floor_once(1))
                bares1.append(floor_once(1, limits=False))
                floors_n.append(floor_once(args.scale_to, network=network))
                target = d.make_env(f"bench/shop/hello/rb{n}")
                _ok(d.plat("deploy", "-f", str(one), "--target", target))
                _ok(d.plat("deploy", "-f", str(one), "--image", IMAGE_V2, "--target", target))
                wait_containers(d, 1)
                rollbacks.append(
                    timed(lambda t=target: _ok(d.plat("rollback", "v1", "--target", t)))
                )
                wait_containers(d, 1)
                _ok(d.plat("deploy", "-f", str(one), "--image", IMAGE_V2, "--target", target))
                right_after.append(
                    timed(lambda t=target: _ok(d.plat("rollback", "v1", "--target", t)))
                )
                wait_containers(d, 1)
                fresh_target = d.make_env(f"bench/shop/hello/fresh{n}")
                fresh.append(
                    timed(
                        lambda t=fresh_target: _ok(d.plat("deploy", "-f", str(one), "--target", t))
                    )
                )
                scales.append(
                    timed(
                        lambda t=target: (
                            _ok(d.plat("scale", "web", "--count", str(args.scale_to),
                                       "--target", t)),
                            wait_current(d, t, args.scale_to),
                        )
                    )
                )
                d.plat("envs", "delete", target, "--yes")
                d.plat("envs", "delete", fresh_target, "--yes")
                wait_no_containers(d)
        finally:
            remove_containers("plat-bench=1")
        n = args.scale_to
        floor1, default1 = median_of(floors1), median_of(defaults1)
        bare1, floor_n = median_of(bares1), median_of(floors_n)
        print_table(
            f"Rollback and scale, {args.runs} runs each",
            [
                ("docker run x1 + health, user-defined bridge (floor)", floor1, None, ""),
                ("  docker run x1 + health, default bridge", default1, floor1, ""),
                ("  the same without cpu/memory limits", bare1, floor1, ""),
                ("plat rollback v2 -> v1 to healthy", median_of(rollbacks), floor1, "<= 1.2x"),
                ("  the same against the default-bridge floor", median_of(rollbacks), default1,
                 ""),
                ("  the same right after the deploy of v2 returned", median_of(right_after),
                 floor1, ""),
                ("plat deploy of the same release, fresh env", median_of(fresh), floor1, ""),
                (f"docker run x{n} + health, user-defined bridge (floor)", floor_n, None, ""),
                (f"plat scale 1 -> {n} to healthy", median_of(scales), floor_n, "compare"),
            ],
        )


def _ok(r: object) -> None:
    if getattr(r, "code", 1) != 0:
        raise SystemExit(f"command failed: {getattr(r, 'err', r)}")


if __name__ == "__main__":
    main()
