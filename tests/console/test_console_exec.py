"""``exec -t`` in the web console, on real Docker: Chromium drives the page, the page's keys go
over the console websocket to the same exec websocket ``plat exec`` uses (as the signed-in
person), and a full-screen program (busybox vi) runs in an instance, read back through
ghostty-web's buffer API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from console_support import CHROMIUM, chromium, make_user, run, screen, sign_in, wait_ready
from daemon_support import Daemon, stop_daemon

from tests.conftest import _remove_containers, _remove_env_networks

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian's chromium (scripts/setup installs it)"),
]

TARGET = "acme/shop/tools/prod"
BUSYBOX = "127.0.0.1:5000/busybox:latest"
MANIFEST = f"""\
app = "tools"

[workloads.box]
image = "{BUSYBOX}"
command = ["sleep", "1000000"]
count = 1
cpu = 0.1
memory = "32M"
min_ready = "1s"
"""


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-exec")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    daemon.init()
    daemon.start()
    try:
        daemon.make_env(TARGET)
        (tmp / "plat.toml").write_text(MANIFEST)
        r = daemon.plat("deploy", "-f", str(tmp / "plat.toml"), "--target", TARGET)
        assert r.code == 0, r.out + r.err
        make_user(daemon, "acme", "alice", "deployer")
        make_user(daemon, "acme", "vic", "viewer")
        yield daemon
    finally:
        daemon.plat("scale", "box", "--count", "0", "--target", TARGET)
        stop_daemon(daemon)
        _remove_containers(daemon.host_id)  # the scale may not have finished its stop
        _remove_env_networks(daemon.data)


def _wait_screen(page: Any, text: str, timeout: float = 20, squeeze: bool = False) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = screen(page).replace(" ", "") if squeeze else screen(page)
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never shown:\n{screen(page)}")


def _wait_tty(page: Any) -> None:
    try:
        page.wait_for_function("() => window.platConsole.state.tty !== null", timeout=30_000)
    except Exception:
        raise AssertionError(f"no exec session opened:\n{screen(page)}") from None


def test_vi_runs_in_an_instance_from_the_console(d: Any) -> None:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1000, "height": 600}).new_page()
        sign_in(page, d.url, "alice")
        run(page, f"use {TARGET}")
        page.keyboard.type("exec box -it -- vi /tmp/console.txt")
        page.keyboard.press("Enter")
        _wait_tty(page)
        _wait_screen(page, "\n~\n~\n~")  # vi's empty lines: a full-screen program
        page.keyboard.type("i")
        page.wait_for_timeout(300)
        page.keyboard.type("hello from the console", delay=20)
        page.keyboard.press("Escape")
        # vi moves the cursor over a blank cell rather than writing a space, and ghostty-web's
        # translateToString gives nothing for a never-written cell (xterm.js gives a space):
        # the screen is read without spaces, the file (below) has them.
        _wait_screen(page, "hellofromtheconsole", squeeze=True)
        if os.environ.get("PLAT_DOCS_SCREENSHOTS") == "1":
            from test_console_browser import DOCS

            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "exec.png"))
        page.wait_for_timeout(300)  # ESC then ':' at once would read as one key (Alt-:)
        page.keyboard.type(":wq")
        page.keyboard.press("Enter")
        try:
            page.wait_for_function("() => window.platConsole.state.ready", timeout=20_000)
        except Exception:
            raise AssertionError(f"vi did not end:\n{screen(page)}") from None
        assert page.evaluate("() => window.platConsole.state.tty") is None
        assert "[exit 0]" in screen(page).rsplit("exec box -it", 1)[1]
        text = run(page, "exec box -- cat /tmp/console.txt")
        assert "hello from the console" in text.rsplit("$ exec box -- cat", 1)[1]
        # Ctrl-] leaves a session; the instance's shell is hung up.
        page.keyboard.type("exec box -t")
        page.keyboard.press("Enter")
        _wait_tty(page)
        page.keyboard.type("echo $((6*7))")
        page.keyboard.press("Enter")
        _wait_screen(page, "42")
        page.keyboard.press("Control+BracketRight")
        wait_ready(page)
        assert "left the exec session" in screen(page)


def test_console_exec_keeps_the_exec_routes_rules_and_audit(d: Any) -> None:
    """The console serves exec in platd itself, with the exec route's own code: a viewer is
    refused as ``plat exec`` refuses them, a deployer's session is in the audit events."""
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1000, "height": 600}).new_page()
        sign_in(page, d.url, "vic")
        text = run(page, f"exec box --target {TARGET} -- true")
        block = text.rsplit(f"$ exec box --target {TARGET} -- true", 1)[1]
        assert "[exit 0]" not in block, block
        assert "deployer" in block, block  # the role it takes, as the API says it
        page.context.close()
        page = browser.new_context(viewport={"width": 1000, "height": 600}).new_page()
        sign_in(page, d.url, "alice")
        text = run(page, f"exec box --target {TARGET} -- sh -c 'echo out; echo err >&2; exit 3'")
        block = text.rsplit("exit 3'", 1)[1]
        assert "out\n" in block, block
        assert "err\n" in block, block
        assert "[exit 3]" in block, block
    events = d.plat("events", "--target", TARGET, "--limit", "20")
    assert "alice opened an exec session" in events.out, events.out


PASTE = """(text) => {
  const data = new DataTransfer();
  data.setData('text/plain', text);
  document.activeElement.dispatchEvent(new ClipboardEvent('paste', {
    clipboardData: data, bubbles: true, cancelable: true }));
}"""


def test_an_exec_tty_follows_resizes_takes_ctrl_c_and_paste(d: Any) -> None:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1000, "height": 600}).new_page()
        sign_in(page, d.url, "alice")
        run(page, f"use {TARGET}")
        page.keyboard.type("exec box -t")
        page.keyboard.press("Enter")
        _wait_tty(page)
        size = "() => [window.platConsole.term.rows, window.platConsole.term.cols]"
        rows, cols = page.evaluate(size)
        page.keyboard.type("stty size")
        page.keyboard.press("Enter")
        # The remote TTY has the page's size. Not anchored at the line's start: busybox's
        # shell asks the terminal where its cursor is after each prompt, and an answer that
        # reaches the TTY after the typed line (keys typed at machine speed) is echoed there.
        _wait_screen(page, f"{rows} {cols}\n")
        # A smaller window: the terminal refits and the remote TTY follows.
        page.set_viewport_size({"width": 700, "height": 420})
        page.wait_for_function(f"() => window.platConsole.term.cols < {cols}")
        rows2, cols2 = page.evaluate(size)
        page.keyboard.type("clear; stty size")
        page.keyboard.press("Enter")
        _wait_screen(page, f"{rows2} {cols2}\n")  # cleared first: the top line
        # Ctrl-C goes to the remote program (the shell's sleep), not to the session.
        page.keyboard.type("sleep 600; echo slept")
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        page.keyboard.press("Control+c")
        page.keyboard.type("echo after-$((40+2))")
        page.keyboard.press("Enter")
        _wait_screen(page, "after-42")
        assert "\nslept" not in screen(page)  # the sleep was interrupted, and the line with it
        assert page.evaluate("() => window.platConsole.state.tty") is not None
        # A paste of several lines is typed into the remote TTY as it is.
        page.evaluate(PASTE, "echo pasted-$((1+1))\necho pasted-$((2+1))\n")
        _wait_screen(page, "pasted-3")
        assert "pasted-2" in screen(page)
        page.keyboard.press("Control+BracketRight")
        wait_ready(page)


def test_a_logs_follow_detaches_into_a_panel_while_typing_goes_on(d: Any) -> None:
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1100, "height": 600}).new_page()
        sign_in(page, d.url, "alice")
        run(page, f"use {TARGET}")
        page.keyboard.type("logs --workload box --follow")
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.platConsole.state.running !== null")
        page.wait_for_timeout(500)
        page.keyboard.press("Control+z")
        wait_ready(page)  # the prompt is free: the follow goes on in a side panel
        panel = page.locator("#panels .panel pre")
        assert panel.count() == 1
        # Keep typing: a command in the transcript writes to the instance's stdout, and the
        # line arrives in the panel, which is still streaming.
        text = run(page, "exec box -- sh -c 'echo from-the-console-$((6*7)) > /proc/1/fd/1'")
        assert "[exit 0]" in text.rsplit("$ exec box --", 1)[1]
        deadline = time.monotonic() + 30
        while "from-the-console-42" not in panel.inner_text():
            assert time.monotonic() < deadline, panel.inner_text()
            time.sleep(0.2)
        assert "from-the-console-42" not in screen(page).split("$ exec box --")[-1]
        assert run(page, "whoami").count("alice") >= 1
        page.locator("#panels .panel .close").click()
        assert page.locator("#panels .panel pre").count() == 0


def test_a_deploys_rollout_detaches_and_ends_in_its_panel(d: Any, tmp_path: Any) -> None:
    # A new release whose instance must stay up 6 s: the rollout the deploy follows lasts
    # long enough to be moved into a panel.
    manifest = tmp_path / "plat.toml"
    manifest.write_text(MANIFEST.replace('"1000000"', '"1000001"').replace('"1s"', '"6s"'))
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1100, "height": 600}).new_page()
        sign_in(page, d.url, "alice")
        run(page, f"use {TARGET}")
        page.set_input_files("#upload", str(manifest))
        page.wait_for_function("() => document.getElementById('files').textContent"
                               ".includes('plat.toml')")
        page.keyboard.type("deploy -f plat.toml")
        page.keyboard.press("Enter")
        page.wait_for_function("() => window.platConsole.state.running !== null")
        page.wait_for_timeout(1000)
        page.keyboard.press("Control+z")
        wait_ready(page)
        panel = page.locator("#panels .panel")
        assert panel.count() == 1
        assert "whoami" not in panel.inner_text()
        assert "alice" in run(page, "whoami").rsplit("$ whoami", 1)[1]  # typing goes on
        deadline = time.monotonic() + 120
        while "[exit " not in panel.locator("pre").inner_text():
            assert time.monotonic() < deadline, panel.inner_text()
            time.sleep(0.5)
        shown = panel.locator("pre").inner_text()
        assert "[exit 0]" in shown, shown
        assert panel.locator(".state").inner_text() == "ended"
