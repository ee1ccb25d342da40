"""The whole onboarding in a real browser on real Docker: a person new to plat signs in to the
console and runs every step of the Guide panel exactly as the guide types it (Type it, then
Enter): create the project, app and env, make it the default target, upload ``plat.toml`` and
check it, deploy and read the gate's refusal, set the config and the secret bundle it asked
for, deploy again and read the receipt, expose an endpoint, then ``status``, ``logs`` and
``endpoints check`` succeed and the endpoint answers this test's own request too.

Chromium (Debian's, through Playwright), a real platd with the Docker runtime, ``hello:v1``
from the local registry, the terminal read through ghostty-web's buffer API."""

from __future__ import annotations

import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import CHROMIUM, chromium, make_user, screen, sign_in, wait_ready
from daemon_support import Daemon, stop_daemon

from tests.conftest import _remove_containers, _remove_env_networks
from tests.endpoints.conftest import free_port

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="needs Debian's chromium (scripts/setup installs it)"),
]

ENV = "acme/web/hello/prod"
MANIFEST = """\
app = "hello"

[env]
required = ["GREETING"]

[secrets]
bundles = ["db"]

[workloads.web]
image = "127.0.0.1:5000/hello:v1"
count = 1
cpu = 0.25
memory = "64M"

[workloads.web.health]
http = { port = 8080, path = "/healthz" }
grace = 30
interval = 0.5
"""


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory, docker_services: None) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("console-onboarding")
    daemon = Daemon(data=tmp / "data", config_dir=tmp / "config", runtime="docker")
    daemon.init()
    daemon.start()
    try:
        r = daemon.plat("orgs", "create", "acme")  # the host's admin makes the org, and
        assert r.code == 0, r.out + r.err
        make_user(daemon, "acme", "alice", "owner")  # invites its first owner: that is all
        yield daemon
    finally:
        stop_daemon(daemon)
        _remove_containers(daemon.host_id)  # the guide's deploy: not left running
        _remove_env_networks(daemon.data)


def _step(page: Any, step: int, index: int, expect: str, code: int, timeout: float = 120) -> str:
    """Click the guide's ``Type it`` for line ``index`` of ``step``, check that the prompt holds
    exactly ``expect`` (typed, not run), press Enter: the block once it has ended with ``code``."""
    wait_ready(page)
    button = page.locator("#panels .guide li").nth(step).locator("button.type").nth(index)
    button.click()
    typed = screen(page, unwrap=True).rstrip()
    assert typed.endswith("$ " + expect), typed[-300:]
    before = typed.count("[exit ")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(page, unwrap=True)
        if text.count("[exit ") > before and page.evaluate("() => window.platConsole.state.ready"):
            block = text.rsplit("$ " + expect, 1)[1]
            assert f"[exit {code}]" in block, block
            return block
        time.sleep(0.1)
    raise AssertionError(f"{expect!r} did not finish:\n{screen(page)}")


def _release_id(receipt: str) -> str:
    m = re.search(r"Release v1 \(([0-9a-f-]{36})\)", receipt)
    assert m, receipt
    return m.group(1)


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.status == 200
        return str(r.read().decode())


def test_a_new_person_runs_the_whole_guide(d: Any, tmp_path: Path) -> None:
    port = free_port()
    manifest = tmp_path / "plat.toml"
    manifest.write_text(MANIFEST)
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
        sign_in(page, d.url, "alice")
        page.click("#guide")
        page.fill("#guide-org", "acme")
        page.fill("#guide-port", str(port))

        assert "acme" in _step(page, 0, 0, "orgs list", 0)
        _step(page, 1, 0, "projects create acme/web", 0)
        _step(page, 1, 1, "apps create acme/web/hello", 0)
        _step(page, 1, 2, f"envs create {ENV}", 0)
        _step(page, 2, 0, f"use {ENV}", 0)

        page.set_input_files("#upload", str(manifest))
        page.wait_for_function(
            "() => document.getElementById('files').textContent.includes('plat.toml')")
        assert "hello" in _step(page, 3, 0, "manifest check -f plat.toml", 0)

        refused = _step(page, 4, 0, "deploy -f plat.toml", 6)
        assert "refusing to create a release" in refused, refused
        assert "env var GREETING" in refused, refused
        assert "secret bundle db" in refused, refused
        assert "nothing was changed" in refused, refused

        _step(page, 5, 0, "config set GREETING=hello", 0)
        created = _step(page, 5, 1, "secrets create db --set PASSWORD=change-me", 0)
        assert "change-me" not in created  # a secret's value is never shown

        receipt = _step(page, 6, 0, "deploy -f plat.toml", 0, timeout=240)
        assert f"Release v1 ({_release_id(receipt)}) accepted for {ENV}" in receipt, receipt
        assert "+ secret bundle db" in receipt, receipt
        assert "~ config: +GREETING" in receipt, receipt
        assert "release v1 converged: every instance is running and healthy" in receipt, receipt

        exposed = _step(page, 7, 0,
                        f"endpoints create web --workload web --internal-port 8080 "
                        f"--port {port} --ipv4", 0)
        assert re.search(rf"IPv4 +127\.0\.0\.1 +port\(s\) {port}\n", exposed), exposed

        status = _step(page, 8, 0, "status", 0)
        assert "release v1 (converged)" in status, status
        assert re.search(r"web +1/1 ", status), status
        assert re.search(r"running +healthy", status), status
        logs = _step(page, 8, 1, "logs --workload web --since 10m", 0)
        assert "is healthy: GET /healthz answered 200" in logs, logs
        assert "hello v1: serving on :8080" in logs, logs  # the app's own output
        checked = _step(page, 8, 2, "endpoints check web", 0, timeout=60)
        assert "answered  HTTP/1.1 200 OK" in checked, checked
        assert "hello" in _get(port)  # and from outside the console, too
