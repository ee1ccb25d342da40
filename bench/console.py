"""The web console next to the CLI, measured in the same run, on real Docker and Chromium.

1. Page open to a usable prompt: a signed-in browser loads `/console` (the page, ghostty-web
   and its WebAssembly, the ticket, the websocket, the transcript's replay) until the prompt
   takes keys.
2. Keystroke echo in an exec session with a TTY (`cat` on the remote side): in the console,
   from the page sending a key on its websocket to the remote TTY's echo coming back to the
   page; beside it `plat exec -t -i` in a terminal (bench/exec.py's measure), the two in
   turns (five rounds) so that both see the same load. Goal: <= 2x.
   Beside them, a bare ping/pong on the page's websocket: Chromium's own round trip, the floor
   of any echo in the page.
3. Output throughput: `exec box -- seq 1 N` (output into the transcript), from Enter to the
   block's end in the page, in lines per second, and how responsive the page stayed meanwhile
   (its longest stall: how late a 10 ms timer ran); beside it the same command with
   `plat exec` in a terminal.

Run: .venv/bin/python bench/console.py [--runs N] [--keys N] [--lines N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _common import ROOT, median_of, parse_args, print_table, running_daemon

sys.path[:0] = [str(ROOT / "tests" / "people"), str(ROOT / "tests" / "console")]

from console_support import chromium, make_user, sign_in, wait_ready  # noqa: E402
from exec import MANIFEST, PLAT, TARGET, echo_round_trips  # noqa: E402

ROUNDS = 5
ECHO_JS = """async ([keys, ping]) => {
  // A key as the page sends it (binary, its UTF-8 bytes) until its echo (binary) is back;
  // with ping, a JSON ping until platd's pong: the page's websocket round trip and nothing else.
  const ws = window.platConsole.state.ws;
  const utf8 = new TextEncoder(), text = new TextDecoder();
  const out = [];
  for (let n = 0; n < keys; n++) {
    const key = String(n % 10);
    const t0 = performance.now();
    await new Promise((resolve) => {
      const seen = (e) => {
        const done = ping ? (typeof e.data === 'string' && JSON.parse(e.data).type === 'pong')
          : (typeof e.data !== 'string' && text.decode(e.data).includes(key));
        if (done) { ws.removeEventListener('message', seen); resolve(); }
      };
      ws.addEventListener('message', seen);
      ws.send(ping ? JSON.stringify({ type: 'ping' }) : utf8.encode(key));
    });
    out.push(performance.now() - t0);
  }
  return out;
}"""


def page_open(page: object, url: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs + 1):  # the first is a warm-up
        start = time.perf_counter()
        page.goto(f"{url}/console")  # type: ignore[attr-defined]
        wait_ready(page)
        samples.append(time.perf_counter() - start)
    return samples[1:]


def console_echo(page: object, keys: int) -> tuple[list[float], list[float]]:
    """Keystroke echoes in a console exec session, and as many bare pings beside them."""
    page.keyboard.type("exec box -it -- sh -c 'echo session-up; exec cat'")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => window.platConsole.state.tty !== null", timeout=60_000)
    time.sleep(0.5)
    samples = [s / 1000 for s in page.evaluate(ECHO_JS, [keys, False])]  # type: ignore[attr-defined]
    pings = [s / 1000 for s in page.evaluate(ECHO_JS, [keys, True])]  # type: ignore[attr-defined]
    page.keyboard.press("Control+BracketRight")  # type: ignore[attr-defined]
    wait_ready(page)
    return samples, pings


def socket_echo(page: object, url: str, keys: int) -> list[float]:
    """The console's echo without a browser: a Python client on the page's websocket (a
    ticket the page asked for, its Origin), so what platd itself adds is seen apart from
    Chromium's own hops and drawing."""
    import json

    from websockets.sync.client import connect
    from websockets.typing import Origin

    ticket = page.evaluate(  # type: ignore[attr-defined]
        """async () => {
      const csrf = document.querySelector('meta[name=csrf]').content;
      const r = await fetch('/console/ticket', { method: 'POST',
        headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' });
      return (await r.json()).ticket; }""")
    page.goto("about:blank")  # type: ignore[attr-defined]
    ws_url = url.replace("http://", "ws://") + f"/console/ws?ticket={ticket}"
    with connect(ws_url, origin=Origin(url), compression=None, legacy=False) as ws:
        ws.send(json.dumps({"type": "run", "rows": 24, "cols": 80,
                            "line": "exec box -it -- sh -c 'echo session-up; exec cat'"}))
        while not (isinstance(m := ws.recv(), bytes) and b"session-up" in m):
            pass
        samples = []
        for n in range(keys):
            key = str(n % 10)
            start = time.perf_counter()
            ws.send(key.encode())  # keys are binary messages, as the page sends them
            while True:
                m = ws.recv()
                if isinstance(m, bytes) and key.encode() in m:
                    break
            samples.append(time.perf_counter() - start)
        ws.send(b"\r\x04")  # cat ends: the block too
        while not (isinstance(m := ws.recv(), str) and json.loads(m).get("type") == "end"):
            pass
    page.goto(f"{url}/console")  # type: ignore[attr-defined]
    wait_ready(page)
    return samples


STALLS = """() => {  // the page's longest wait for a 10 ms timer: how responsive it stayed
  const s = window.platStalls = { last: performance.now(), worst: 0 };
  s.timer = setInterval(() => {
    const now = performance.now();
    s.worst = Math.max(s.worst, now - s.last - 10);
    s.last = now;
  }, 10);
}"""


def console_seq(page: object, lines: int) -> tuple[float, float]:
    """Seconds from Enter to the block's end; the page's longest stall meanwhile (seconds)."""
    wait_ready(page)
    page.keyboard.type(f"exec box -- seq 1 {lines}")  # type: ignore[attr-defined]
    page.evaluate(STALLS)  # type: ignore[attr-defined]
    start = time.perf_counter()
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_function("() => !window.platConsole.state.ready")  # type: ignore[attr-defined]
    wait_ready(page, timeout=300)
    took = time.perf_counter() - start
    worst = page.evaluate(  # type: ignore[attr-defined]
        "() => { clearInterval(window.platStalls.timer); return window.platStalls.worst; }")
    return took, float(worst) / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--lines", type=int, default=20000)
    args = parse_args(parser, quick={"runs": 2, "keys": 10, "lines": 2000})
    with running_daemon("docker") as (d, tmp):
        d.make_env(TARGET)
        (tmp / "plat.toml").write_text(MANIFEST)
        r = d.plat("deploy", "-f", str(tmp / "plat.toml"), "--target", TARGET)
        if r.code != 0:
            raise SystemExit(f"deploy failed: {r.err}")
        make_user(d, TARGET.split("/")[0], "bench", "deployer")
        env = d.env(PLAT_TARGET=TARGET)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with chromium() as browser:
            page = browser.new_context(viewport={"width": 1000, "height": 600}).new_page()
            sign_in(page, d.url, "bench")
            opens = page_open(page, d.url, args.runs)
            page.keyboard.type(f"use {TARGET}")
            page.keyboard.press("Enter")
            wait_ready(page)
            # Console and plat in turns, so that both see the same load of a shared machine.
            web_echo: list[float] = []
            cli_echo: list[float] = []
            pings: list[float] = []
            rounds = max(1, min(ROUNDS, args.keys // 10))
            for _ in range(rounds):
                web, ping = console_echo(page, args.keys // rounds)
                web_echo, pings = web_echo + web, pings + ping
                cli_echo += echo_round_trips([PLAT, "exec", "box", "-t", "-i", "--"], env,
                                             args.keys // rounds)
            bare_echo = socket_echo(page, d.url, args.keys)
            seqs = [console_seq(page, args.lines) for _ in range(max(1, args.runs // 3))]
            web_seq, stalls = [t for t, _ in seqs], [w for _, w in seqs]
        cli_seq = []
        for _ in range(max(1, args.runs // 3)):
            start = time.perf_counter()
            d.plat("exec", "box", "--", "seq", "1", str(args.lines), PLAT_TARGET=TARGET)
            cli_seq.append(time.perf_counter() - start)
        cli_keys, web_keys = median_of(cli_echo), median_of(web_echo)
        print_table(f"the web console vs plat in a terminal; {args.runs} page opens, "
                    f"{args.keys} keystrokes, seq 1 {args.lines}; {os.cpu_count()} cpus; "
                    f"load {os.getloadavg()[0]:.2f}", [
            ("page open -> usable prompt", median_of(opens), None, ""),
            ("plat exec -t: keystroke echo (reference)", cli_keys, None, ""),
            ("console exec -it: keystroke echo", web_keys, cli_keys, "<= 2x"),
            ("  the same without a browser (platd's part)", median_of(bare_echo), cli_keys,
             "compare"),
            ("  a bare ping/pong on the page's websocket", median_of(pings), cli_keys,
             "compare"),
            (f"plat exec -- seq 1 {args.lines} (reference)", median_of(cli_seq), None, ""),
            (f"console exec -- seq 1 {args.lines}", median_of(web_seq), median_of(cli_seq),
             "compare"),
        ])
        print(f"\nconsole output: {args.lines / median_of(web_seq):,.0f} lines/s into the "
              f"transcript; plat in a terminal: {args.lines / median_of(cli_seq):,.0f} lines/s; "
              f"the page's longest stall meanwhile (a 10 ms timer late by): "
              f"{max(stalls) * 1000:.0f} ms")
        print(f"fastest: page open {min(opens) * 1000:.1f} ms; echo console "
              f"{min(web_echo) * 1000:.2f} ms vs plat {min(cli_echo) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
