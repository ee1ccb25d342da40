"""How fast `plat` answers: --help and read commands against a live daemon, next to `docker ps`.

Goal (issue 22; issue 2 asked for 4x): read commands within 3x of `docker ps`, a Go client,
measured in the same run.
Run: .venv/bin/python bench/cli_startup.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from _common import ROOT, median_of, parse_args, print_table, running_daemon, time_command

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
        plat = str(BIN / "plat")
        rows = []
        ref = None
        if shutil.which("docker"):
            ref = median_of(time_command(["docker", "ps"], args.runs))
            rows.append(("docker ps (reference, Go client)", ref, None, ""))
        floor = median_of(time_command([sys.executable, "-c", "pass"], args.runs))
        rows.append(("python3 -c pass (interpreter floor)", floor, ref, ""))
        for label, argv in (
            ("plat --version", [plat, "--version"]),
            ("plat --help", [plat, "--help"]),
            ("plat envs list (live daemon)", [plat, "envs", "list", "bench/shop/hello"]),
            ("plat status (live daemon)", [plat, "status"]),
            ("plat releases (live daemon)", [plat, "releases"]),
        ):
            rows.append((label, median_of(time_command(argv, args.runs, env)), ref, "<= 3x"))
        print_table(f"CLI start-up, {args.runs} runs each (median wall time)", rows)


if __name__ == "__main__":
    main()
