"""Ingress data planes on loopback: direct vs HAProxy (TCP mode) vs the built-in driver.

    .venv/bin/python bench/ingress.py [--seconds 5] [--runs 3] [--connections 50] [--quick]

Three measures, each straight to the backend ("direct", the ceiling), through HAProxy as platd
configures it (``HaproxyDriver``, the same generated haproxy.cfg), and through the built-in
driver (``BuiltinDriver``, run in a process of its own like in platd):

- bulk throughput: ``iperf3`` (one TCP stream, client -> server) to an ``iperf3 -s`` backend;
- new connections per second: ``wrk`` with ``Connection: close``, so every request is a new
  TCP connection through the proxy;
- keep-alive requests per second: ``wrk`` on persistent connections.

The HTTP backend is HAProxy in HTTP mode answering ``http-request return status 200`` (no file,
no app), so the backend is not what is measured. Backends are host processes on 127.0.0.1, not
containers: the point is the data plane, and a container's bridge hop would be the same in all
three columns. Clients reach the proxies on ``::1`` (IPv6, the endpoint default). Each cell is
the median of ``--runs`` runs; runs of the three columns are interleaved so drift on a shared
machine hits them alike. The goal (docs/endpoints.md): built-in >= 80% of HAProxy on all three.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, parse_args, print_grid

from platd.ingress.haproxy import HaproxyDriver
from platd.ingress.model import Backend, IngressConfig, Listener

BUILTIN_RUNNER = """
import asyncio, json, sys
from platd.ingress.builtin_driver import BuiltinDriver
from platd.ingress.model import Backend, IngressConfig, Listener

async def main():
    spec = json.loads(sys.argv[1])
    d = BuiltinDriver(workers=spec["workers"])
    await d.start()
    config = IngressConfig(tuple(
        Listener("ipv6", "::1", port, f"bench{port}", "bench", False,
                 (Backend("127.0.0.1", backend, "b"),))
        for port, backend in spec["routes"]))
    result = await d.apply(config)
    print(json.dumps({"failed": [list(k) for k in result.failed]}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await d.close()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET6) as s6:
        s6.bind(("::1", 0))
        return int(s6.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not answer")


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        sys.exit(f"bench/ingress.py needs {binary} (scripts/setup installs it)")
    return path


def wrk(url: str, seconds: int, connections: int, close: bool) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if close:
        args[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(args, capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk said:\n{out}")
    errors = re.search(r"Socket errors: (.*)", out)
    if errors and "connect 0, read 0, write 0, timeout 0" not in errors.group(1) and not close:
        print(f"  note: wrk socket errors on {url}: {errors.group(1)}", file=sys.stderr)
    return float(m.group(1))


def iperf(host: str, port: int, seconds: int) -> float:
    for _ in range(10):
        out = subprocess.run(["iperf3", "-c", host, "-p", str(port), "-t", str(seconds), "-J"],
                             capture_output=True, text=True, check=False,
                             timeout=seconds + 30).stdout
        data = json.loads(out)
        # iperf3 -s serves one test at a time and may still be closing the previous one (or
        # the wait_port probe): it then says "busy" or drops the control connection.
        if "error" not in data:
            break
        time.sleep(1)
    if "error" in data:
        raise RuntimeError(f"iperf3: {data['error']}")
    return float(data["end"]["sum_received"]["bits_per_second"]) / 1e9


async def measure_all(args: argparse.Namespace, tmp: Path, procs: list[subprocess.Popen[bytes]],
                      hap: HaproxyDriver) -> dict[str, dict[str, list[float]]]:
    """Start the backends and both data planes, then measure every column; the caller stops
    what was started (``procs``, ``hap``) whatever happens."""
    http_be, iperf_be = free_port(), free_port()
    (tmp / "backend.cfg").write_text(f"""
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend answer
    bind 127.0.0.1:{http_be}
    http-request return status 200 content-type text/plain string ok
""")
    procs.append(subprocess.Popen(["haproxy", "-db", "-f", str(tmp / "backend.cfg")]))
    procs.append(subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_be)],
                                  stdout=subprocess.DEVNULL))
    wait_port("127.0.0.1", http_be)
    wait_port("127.0.0.1", iperf_be)

    hap_http, hap_iperf = free_port(), free_port()
    await hap.start()
    await hap.apply(IngressConfig(tuple(
        Listener("ipv6", "::1", port, f"bench{port}", "bench", False,
                 (Backend("127.0.0.1", backend, "b"),))
        for port, backend in ((hap_http, http_be), (hap_iperf, iperf_be)))))

    bi_http, bi_iperf = free_port(), free_port()
    spec = {"routes": [[bi_http, http_be], [bi_iperf, iperf_be]], "workers": args.workers}
    builtin = subprocess.Popen([sys.executable, "-c", BUILTIN_RUNNER, json.dumps(spec)],
                               cwd=ROOT, stdout=subprocess.PIPE)
    procs.append(builtin)
    assert builtin.stdout is not None
    started = json.loads(builtin.stdout.readline())
    if started["failed"]:
        sys.exit(f"built-in driver could not listen: {started}")
    for port in (hap_http, hap_iperf, bi_http, bi_iperf):
        wait_port("::1", port)

    columns = {
        "direct": ("127.0.0.1", http_be, iperf_be),
        "haproxy": ("::1", hap_http, hap_iperf),
        "builtin": ("::1", bi_http, bi_iperf),
    }
    sec, conns = args.seconds, args.connections
    measures = {
        "bulk throughput (iperf3, Gbit/s)":
            lambda h, hp, ip: iperf(h, ip, sec),
        "new connections/s (wrk, Connection: close)":
            lambda h, hp, ip: wrk(f"http://{_host(h)}:{hp}/", sec, conns, True),
        "keep-alive requests/s (wrk)":
            lambda h, hp, ip: wrk(f"http://{_host(h)}:{hp}/", sec, conns, False),
    }
    results: dict[str, dict[str, list[float]]] = {m: {c: [] for c in columns} for m in measures}
    for name, measure in measures.items():
        for run in range(args.runs):
            for col, (host, http_port, iperf_port) in columns.items():
                value = measure(host, http_port, iperf_port)
                results[name][col].append(value)
                print(f"  {name} run {run + 1} {col}: {value:,.2f}", file=sys.stderr,
                      flush=True)
    return results


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Whole seconds: iperf3 takes -t 0.5 as 0, which means "run until interrupted".
    ap.add_argument("--seconds", type=int, default=5, help="per measurement, at least 1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--workers", type=int, default=0,
                    help="built-in driver worker processes (0: its default)")
    args = parse_args(ap, quick={"seconds": 1, "runs": 1, "connections": 4})
    if args.seconds < 1:
        ap.error("--seconds must be at least 1")
    for tool in ("haproxy", "wrk", "iperf3"):
        need(tool)

    tmp = Path(tempfile.mkdtemp(prefix="plat-bench-ingress-"))
    procs: list[subprocess.Popen[bytes]] = []
    hap = HaproxyDriver(tmp / "haproxy")
    try:
        results = await measure_all(args, tmp, procs, hap)
    finally:
        await hap.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for name, cols in results.items():
        med = {c: statistics.median(v) for c, v in cols.items()}
        ratio = med["builtin"] / med["haproxy"] if med["haproxy"] else 0.0
        verdict = "ok" if ratio >= 0.8 else "below"
        rows.append((name, f"{med['direct']:,.1f}", f"{med['haproxy']:,.1f}",
                     f"{med['builtin']:,.1f}", f"{ratio:.0%}", f">= 80% ({verdict})"))
    print_grid(f"ingress on loopback: median of {args.runs} runs of {args.seconds}s, "
               f"wrk -t1 -c{args.connections}, iperf3 one stream",
               ("measure", "direct", "haproxy", "builtin", "builtin/haproxy", "goal"), rows)


def _host(h: str) -> str:
    return f"[{h}]" if ":" in h else h


if __name__ == "__main__":
    asyncio.run(main())
