"""The web console in a real browser: Chromium (Debian's, driven by Playwright) on a real platd
(fake runtime), people made through real invites, the terminal read through ghostty-web's
buffer API (``term.buffer.active``, as in xterm.js).

A command runs and shows exactly what ``plat`` prints in a terminal; a line the console must
not run is refused with its reason; a file the command names comes from an upload, never the
host's disk; another person sees neither the first one's org nor their transcript; a reload
reattaches to the session and replays its blocks; Ctrl-C stops a follow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    CHROMIUM,
    PASSWORD,
    chromium,
    make_user,
    run,
    screen,
    sign_in,
    wait_ready,
)
from daemon_support import MANIFEST, Daemon, stop_daemon
from people_support import FAST

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian's chromium (scripts/setup installs it)"),
]

ENV = "acme/shop/hello/prod"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"


def _shot(page: Any, name: str) -> None:
    """A screenshot for docs/console.md (written when PLAT_DOCS_SCREENSHOTS=1)."""
    if os.environ.get("PLAT_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config")
    daemon.init()
    (daemon.data / "platd.toml").write_text(FAST)  # a quick device flow for alice's CLI token
    daemon.start()
    try:
        daemon.make_env(ENV)
        daemon.make_env("beta/site/web/prod")
        make_user(daemon, "acme", "alice", "owner")
        make_user(daemon, "beta", "bob", "owner")
        yield daemon
    finally:
        stop_daemon(daemon)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def alice(d: Any, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 640})
    page = context.new_page()
    sign_in(page, d.url, "alice")
    yield page
    context.close()


def _cli(d: Any, *args: str, who: str = "alice") -> tuple[str, int]:
    """What ``plat`` prints in a terminal for ``who`` (a token of theirs, from the device
    flow), and its exit code."""
    r = d.plat(*args, token=_token(d, who))
    return (r.out + r.err).rstrip("\n"), r.code


_tokens: dict[str, str] = {}


def _token(d: Any, who: str) -> str:
    if who not in _tokens:
        from people_support import user_token

        _tokens[who] = user_token(d, who)
    return _tokens[who]


def _exit(text: str, line: str) -> int:
    after = text[text.rindex(f"$ {line}\n"):]
    return int(after.split("\n[exit ", 1)[1].split("]", 1)[0])


def _block(text: str, line: str) -> str:
    """The output of the last block for ``line``: between its ``$ LINE`` and ``[exit N]``."""
    start = text.rindex(f"$ {line}\n") + len(f"$ {line}\n")
    end = text.index("\n[exit ", start)
    return text[start:end]


def test_a_command_shows_what_the_cli_prints(d: Any, alice: Any) -> None:
    for line in ("orgs list", "plat envs list acme/shop/hello",
                 # an error is the CLI's error, with the CLI's exit code
                 "status --target acme/shop/nope/prod"):
        text = run(alice, line)
        words = line.removeprefix("plat ").split()
        assert (_block(text, line), _exit(text, line)) == _cli(d, *words)
    assert _exit(text, line) != 0
    run(alice, "status --token plat_someone_elses")  # refused: the console runs as alice
    _shot(alice, "transcript")


@pytest.mark.parametrize(("line", "reason"), [
    ("login --api http://127.0.0.1:1", "plat login is not available in the web console"),
    ("status --token plat_x", "--token is not allowed in the web console"),
    ("status --tok=plat_x", "--token is not allowed in the web console"),
    ("orgs list --api=http://evil", "--api is not allowed in the web console"),
    ("bash -c 'cat /etc/passwd'", "'bash' is not a plat command"),
    ("daemon serve", "plat daemon is not available in the web console"),
    ("status 'unclosed", "cannot read the command"),
])
def test_a_line_the_console_must_not_run_is_refused(alice: Any, line: str, reason: str) -> None:
    text = run(alice, line)
    block = _block(text, line)
    assert block.startswith(f"error: {reason}"), block
    assert "[exit 2]" in text.rsplit(f"$ {line}", 1)[1]


def test_files_come_from_uploads_never_the_host_disk(alice: Any) -> None:
    text = run(alice, "manifest check -f /etc/passwd")
    assert "no uploaded file named /etc/passwd in this console session" in text
    alice.set_input_files("#upload", str(MANIFEST))
    alice.wait_for_function(
        "() => document.getElementById('files').textContent.includes('plat.toml')")
    text = run(alice, "manifest check -f plat.toml")
    block = _block(text, "manifest check -f plat.toml")
    assert "hello" in block
    assert "[exit 0]" in text.rsplit("manifest check -f plat.toml", 1)[1]


def test_another_person_sees_neither_the_org_nor_the_transcript(d: Any, browser: Any,
                                                                alice: Any) -> None:
    run(alice, "projects list --org acme")
    context = browser.new_context()
    try:
        bob = context.new_page()
        sign_in(bob, d.url, "bob")
        assert "projects list --org acme" not in screen(bob)  # a session of his own
        text = run(bob, "orgs list")
        block = _block(text, "orgs list")
        assert "beta" in block
        assert "acme" not in block
        line = "projects list --org acme"
        text = run(bob, line)
        assert (_block(text, line), _exit(text, line)) == _cli(d, *line.split(), who="bob")
        assert _exit(text, line) != 0
        assert "shop" not in _block(text, line)
    finally:
        context.close()


def test_a_reload_reattaches_and_replays_the_blocks(alice: Any) -> None:
    run(alice, "use " + ENV)
    run(alice, "apps list --org acme --project shop")
    before = screen(alice)
    alice.reload()
    wait_ready(alice)
    after = screen(alice)
    assert "$ use " + ENV in after
    assert "$ apps list --org acme --project shop" in after
    assert after.count("[exit ") == before.count("[exit ")
    # The session's default target (plat use) lasts across the reload too.
    text = run(alice, "config list")
    assert f"{ENV} config version" in _block(text, "config list")


def test_ctrl_c_stops_a_follow(alice: Any) -> None:
    wait_ready(alice)
    alice.keyboard.type(f"events --follow --target {ENV}")
    alice.keyboard.press("Enter")
    alice.wait_for_function("() => window.platConsole.state.running !== null")
    alice.wait_for_timeout(500)
    alice.keyboard.press("Control+c")
    alice.wait_for_function("() => window.platConsole.state.ready", timeout=20_000)
    assert "[exit 130]" in screen(alice).rsplit("events --follow", 1)[1]


def test_signing_in_needs_the_right_password(d: Any, browser: Any) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{d.url}/console")
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD + "x")
        page.click("button[type=submit]")
        assert "Wrong user name or password" in page.content()
        assert page.evaluate("() => window.platConsole === undefined")
    finally:
        context.close()


def _panel_text(page: Any) -> str:
    return str(page.evaluate(
        "() => [...document.querySelectorAll('#panels pre')].map(p => p.textContent).join('|')"))


def test_a_follow_detaches_into_a_panel_that_keeps_streaming(alice: Any) -> None:
    wait_ready(alice)
    line = f"events --follow --target {ENV}"
    alice.keyboard.type(line)
    alice.keyboard.press("Enter")
    alice.wait_for_function("() => window.platConsole.state.running !== null")
    alice.keyboard.press("Control+z")
    alice.wait_for_selector("#panels .panel")
    wait_ready(alice)  # the prompt is free while the panel streams
    assert "[streaming in a side panel]" in screen(alice)
    # The transcript goes on, and what it does shows up in the panel's stream.
    text = run(alice, f"secrets create console-made --set K=v --target {ENV}")
    assert "[exit 0]" in text.rsplit("secrets create console-made", 1)[1]
    alice.wait_for_function(
        "() => document.querySelector('#panels pre').textContent.includes('console-made')",
        timeout=20_000)
    _shot(alice, "panel")
    # Paused: nothing more is shown until it resumes; then all of it is.
    alice.click("#panels .pause")
    run(alice, f"secrets create console-later --set K=v --target {ENV}")
    alice.wait_for_timeout(1500)
    assert "console-later" not in _panel_text(alice)
    alice.click("#panels .pause")
    assert "console-later" in _panel_text(alice)
    # A reload brings the panel back, still streaming; closing it stops the stream.
    alice.reload()
    wait_ready(alice)
    alice.wait_for_selector("#panels .panel")
    assert "console-later" in _panel_text(alice)
    alice.click("#panels .close")
    assert alice.evaluate("() => document.querySelectorAll('#panels .panel').length") == 0
    alice.wait_for_timeout(500)
    alice.reload()
    wait_ready(alice)
    assert "[exit 130]" in screen(alice).rsplit(line, 1)[1]  # stopped, as by Ctrl-C


def test_the_guide_types_each_step_for_the_person_to_run(alice: Any) -> None:
    alice.click("#guide")
    alice.fill("#guide-org", "acme")
    steps = alice.locator("#panels .guide li")
    assert steps.count() >= 8
    assert "projects create acme/web" in steps.nth(1).inner_text()
    steps.nth(0).locator("button.type").click()
    text = screen(alice)
    assert text.rstrip().endswith("$ orgs list")  # typed, not run: the person runs it
    alice.keyboard.press("Enter")
    alice.wait_for_function("() => window.platConsole.state.ready")
    text = run(alice, "status")  # the prompt is the person's as before
    assert "$ orgs list\nORG" in text
    _shot(alice, "guide")
    alice.click("#guide")
    assert alice.locator("#panels .guide").count() == 0


def test_a_panel_goes_back_into_the_transcript(d: Any, alice: Any) -> None:
    wait_ready(alice)
    line = f"events --follow --target {ENV}"
    alice.keyboard.type(line)
    alice.keyboard.press("Enter")
    alice.wait_for_function("() => window.platConsole.state.running !== null")
    alice.keyboard.press("Control+z")
    alice.wait_for_selector("#panels .panel .back")
    wait_ready(alice)
    alice.click("#panels .panel .back")
    alice.wait_for_function("() => window.platConsole.state.running !== null")
    assert alice.locator("#panels .panel").count() == 0
    assert "[back from its side panel]" in screen(alice)
    # It streams in the transcript again: what happens shows up there ...
    r = d.plat("secrets", "create", "came-back", "--set", "K=v", "--target", ENV)
    assert r.code == 0, r.err
    alice.wait_for_function(
        "() => { const b = window.platConsole.term.buffer.active; let t = '';"
        " for (let i = 0; i < b.length; i++) t += b.getLine(i).translateToString(true);"
        " return t.includes('came-back'); }", timeout=20_000)
    # ... and Ctrl-C stops it, as any running command; a reload replays it last.
    alice.keyboard.press("Control+c")
    wait_ready(alice)
    assert "[exit 130]" in screen(alice).rsplit("[back from its side panel]", 1)[1]
    alice.reload()
    wait_ready(alice)
    tail = screen(alice).rsplit(f"$ {line}", 1)[1]
    assert "came-back" in tail
    assert "[exit 130]" in tail


def test_copy_buttons_copy_a_blocks_command_line_and_output(d: Any, alice: Any) -> None:
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=d.url)
    run(alice, "orgs list")
    alice.click("#copy")
    newest = alice.locator("#panels .copies li").first
    assert newest.locator("code").text_content() == "$ orgs list  [exit 0]"
    newest.locator("button.copy-line").click()
    assert alice.evaluate("() => navigator.clipboard.readText()") == "orgs list"
    newest.locator("button.copy-out").click()
    copied = alice.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("ORG ")
    assert "acme" in copied
    assert "\x1b" not in copied
    # The list follows the transcript while it is open.
    run(alice, "status --target beta/site/web/prod")
    assert "status --target" in alice.locator("#panels .copies li").first.inner_text()
    alice.click("#copy")
    assert alice.locator("#panels .copies").count() == 0
