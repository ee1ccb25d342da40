"""Rollback-to-healthy and scale-up through plat, next to the `docker run` floor of the same run.

- floor x1 / x10: `docker run -d` of the sample image plus polling health until 200 (as in
  bench/deploy.py).
- rollback: from v2 back to v1 (image already on the host), until plat reports it converged.
- fresh deploy: a new release of the same image into a fresh env, for comparison.
- scale 1 -> 10: `plat scale web --count 10` until status shows 10 current healthy instances.

Goals (issue 4): rollback <= floor x1 + 20%; scale-up compared with floor x10.
Run: .venv/bin/python bench/rollback.py [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from _common import Daemon, median_of, print_table, timed
from deploy import floor_once, manifest, wait_empty

IMAGE_V2 = "127.0.0.1:5000/hello:v2"


def wait_current(d: Daemon, target: str, count: int) -> None:
    while True:
        s = d.plat("status", "--json", "--target", target).json()
        web = s["workloads"][0] if s["workloads"] else None
        if web and web["current"] == count and web["running"] == count:
            return
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        d = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
        d.init()
        d.start()
        try:
            floor1 = median_of([floor_once(1) for _ in range(args.runs)])
            floor10 = median_of([floor_once(10) for _ in range(args.runs)])
            rollbacks, fresh, scales = [], [], []
            one = manifest(tmp / "one.toml", 1)
            for n in range(args.runs):
                target = d.make_env(f"bench/shop/hello/rb{n}")
                assert d.plat("deploy", "-f", str(one), "--target", target).code == 0
                r = d.plat("deploy", "-f", str(one), "--image", IMAGE_V2, "--target", target)
                assert r.code == 0, r.err
                rollbacks.append(
                    timed(lambda t=target: _ok(d.plat("rollback", "v1", "--target", t)))
                )
                fresh_target = d.make_env(f"bench/shop/hello/fresh{n}")
                fresh.append(
                    timed(
                        lambda t=fresh_target: _ok(d.plat("deploy", "-f", str(one), "--target", t))
                    )
                )
                scales.append(
                    timed(
                        lambda t=target: (
                            _ok(d.plat("scale", "web", "--count", "10", "--target", t)),
                            wait_current(d, t, 10),
                        )
                    )
                )
                d.plat("envs", "delete", target)
                d.plat("envs", "delete", fresh_target)
                wait_empty(d)
            print_table(
                f"Rollback and scale, {args.runs} runs each",
                [
                    ("docker run x1 + health (floor)", floor1, None, ""),
                    ("plat rollback v2 -> v1 to healthy", median_of(rollbacks), floor1, "<= 1.2x"),
                    ("plat deploy of the same release, fresh env", median_of(fresh), floor1, ""),
                    ("docker run x10 + health (floor)", floor10, None, ""),
                    ("plat scale 1 -> 10 to healthy", median_of(scales), floor10, "compare"),
                ],
            )
        finally:
            d.stop()
            subprocess.run(
                [
                    "sh",
                    "-c",
                    "docker rm -f $(docker ps -aq --filter label=plat-bench=1) >/dev/null 2>&1",
                ],
                check=False,
            )


def _ok(r: object) -> None:
    if getattr(r, "code", 1) != 0:
        raise SystemExit(f"command failed: {getattr(r, 'err', r)}")


if __name__ == "__main__":
    main()
