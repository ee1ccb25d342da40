"""A build that fails on the real Docker engine is the builder's own words and exit 7, not a
bare 500 with a traceback in the daemon's log; and a manifest cannot send what lies outside its
directory to the builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.helpers import HELLO_V1, manifest, ready_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_a_failing_build_is_an_image_error_naming_the_step(docker_daemon: Daemon,
                                                            tmp_path: Path) -> None:
    d = docker_daemon
    ready_env(d)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(f"FROM {HELLO_V1}\nRUN exit 3\n")
    path = manifest(tmp_path, count=1)
    path.write_text(path.read_text().replace(f'image = "{HELLO_V1}"',
                                             'build = { context = "app" }'))
    r = d.plat("deploy", "-f", str(path), "--detach")
    assert r.code == 7, (r.code, r.err)
    assert r.err.startswith("error: building "), r.err
    assert "exit 3" in r.err or "returned a non-zero code" in r.err, r.err
    assert "Traceback" not in r.err
    assert d.plat("releases", "--json").json()["releases"] == []
    assert "Traceback" not in d.log()


def test_a_context_outside_the_manifest_directory_is_never_uploaded(docker_daemon: Daemon,
                                                                     tmp_path: Path) -> None:
    d = docker_daemon
    ready_env(d)
    app = tmp_path / "app"
    app.mkdir()
    path = manifest(app, count=1)
    path.write_text(path.read_text().replace(f'image = "{HELLO_V1}"',
                                             'build = { context = "../.." }'))
    r = d.plat("deploy", "-f", str(path), "--detach")
    assert r.code == 2, (r.code, r.err)
    assert "workloads.web.build.context: a context must stay inside the manifest's directory" \
        in r.err
    assert "building" not in r.err
    assert d.plat("releases", "--json").json()["releases"] == []
