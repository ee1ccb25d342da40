"""Concurrent deploys are visible: a deploy names the release it expects to replace (If-Match),
and the CLI following a release that another deploy replaced says so at once, with exit 11."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PLAT, Daemon
from tests.integration.helpers import TARGET, manifest, ready_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SUPERSEDED = 11


def _releases(d: Daemon) -> list[dict[str, object]]:
    return list(json.loads(d.plat("releases", "--json").out)["releases"])


def test_a_superseded_deploy_says_by_which_release_and_exits_11(
    docker_daemon: Daemon, tmp_path: Path
) -> None:
    d = docker_daemon
    ready_env(d)
    r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1)))
    assert r.code == 0, r.err
    v1 = _releases(d)[0]

    # v2 never becomes healthy (its check asks for a page that does not exist, within 120 s):
    # its deploy follows a rollout that only another deploy can end.
    slow = manifest(tmp_path, count=1, health_path="/missing", grace=120, name="slow.toml")
    follower = subprocess.Popen([PLAT, "deploy", "-f", str(slow), "--timeout", "300"],
                                env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_releases(d)) < 2:
            assert follower.poll() is None, follower.communicate()
            assert time.monotonic() < deadline, "v2 was never created"
            time.sleep(0.2)
        r = d.plat("deploy", "-f", str(manifest(tmp_path, count=1)), "--detach")
        assert r.code == 0, r.err
        # The follower's own --timeout is 300 s: had it waited that out, this would raise.
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == SUPERSEDED, (out, err)
    first, *hints = err.strip().splitlines()
    assert first == ("error: release v2 was superseded by v3 before it converged: "
                     "admin created and deployed v3")
    assert f"  follow the release that replaced it: plat wait --target {TARGET}" in hints

    # Waiting for v2 says the same, with the same code, instead of a refusal.
    v2 = _releases(d)[1]
    r = d.plat("wait", str(v2["id"]))
    assert r.code == SUPERSEDED, r.err
    assert "release v2 was superseded by v3; nothing will converge it" in r.err

    # A deploy that expected v1 (read before v2 and v3 landed) is refused: 412, nothing written.
    body = json.dumps({"manifest": manifest(tmp_path, count=1).read_text()}).encode()
    req = urllib.request.Request(
        f"{d.url}/v1/envs/{TARGET}/deploy", data=body, method="POST",
        headers={"Authorization": f"Bearer {d.token}", "Content-Type": "application/json",
                 "If-Match": f'"{v1["id"]}"'})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 412
    error = json.loads(refused.value.read())["error"]
    assert error["code"] == "superseded"
    assert error["message"].startswith(f"{TARGET} is now at v3 (admin deployed it ")
    assert error["message"].endswith("not v1 as this deploy expected; nothing was deployed")
    assert len(_releases(d)) == 3
