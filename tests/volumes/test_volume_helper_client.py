"""platd's loop backend through platd-volume-helper (PLATD_VOLUME_HELPER), as a sandboxed unit
runs it.

The real helper script serves a real unix socket the way ``platd-volumes.socket`` (Accept=yes)
does: one helper process per connection, the connection as its stdin and stdout. The backend in
this process then creates, grows, snapshots and deletes a real volume (loop device, XFS) with
every privileged command going through the helper, which must be what ran them: it logs each
command it is asked for. A refused command comes back as the backend's usual error, and a helper
that does not listen makes the probe say so.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from volume_support import cleanup_volumes, needs_loop

from platd.volumes import LoopBackend, VolumeIOError, mount_source
from platd.volumes.loop import _run, probe

HELPER = Path(__file__).resolve().parents[2] / "packaging" / "systemd" / "platd-volume-helper"
MIB = 1024 * 1024
pytestmark = needs_loop


class HelperSocket:
    """A unix socket that hands each connection to a fresh helper process (Accept=yes)."""

    def __init__(self, path: Path, volumes: Path, log: Path) -> None:
        self.path = path
        self.log = log
        self.volumes = volumes
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                # The helper logs nothing itself: a wrapper records each request line.
                request = conn.makefile("rb").readline()
                with self.log.open("ab") as f:
                    f.write(request)
                done = subprocess.run(
                    ["/usr/bin/python3", str(HELPER)], input=request, capture_output=True,
                    timeout=120, env={"PATH": os.environ["PATH"],
                                      "PLATD_VOLUMES_ROOT": str(self.volumes)})
                conn.sendall(done.stdout)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HelperSocket]:
    served = HelperSocket(tmp_path / "helper.sock", tmp_path / "data" / "volumes",
                          tmp_path / "requests.log")
    monkeypatch.setenv("PLATD_VOLUME_HELPER", str(served.path))
    try:
        yield served
    finally:
        served.close()
        cleanup_volumes(tmp_path / "data")


def test_a_volume_lives_through_the_helper(helper: HelperSocket, tmp_path: Path) -> None:
    assert probe() is None
    backend = LoopBackend(tmp_path / "data")
    backend.create("v1", 300 * MIB)
    (mount_source(tmp_path / "data", "v1") / "f").write_text("kept")
    backend.resize("v1", 400 * MIB)
    backend.snapshot("v1", "s1")
    backend.detach("v1")
    assert not backend.is_mounted("v1")
    assert backend.attach("v1") is True
    assert (mount_source(tmp_path / "data", "v1") / "f").read_text() == "kept"
    backend.delete("v1")
    asked = helper.log.read_text()
    for tool in ("mkfs.xfs", "losetup", "mount", "xfs_growfs", "fsfreeze", "umount"):
        assert f'"{tool}"' in asked, tool
    assert '"cp"' not in asked  # copying images needs no privilege: platd does it


def test_a_command_the_helper_refuses_is_a_volume_error(helper: HelperSocket) -> None:
    with pytest.raises(VolumeIOError, match=r"refused .* not a volume command"):
        _run("mount", "--bind", "/", "/mnt")
    assert '"--bind"' in helper.log.read_text()


def test_no_helper_listening_makes_volumes_unavailable_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATD_VOLUME_HELPER", str(tmp_path / "nobody.sock"))
    why = probe()
    assert why is not None
    assert "does not answer" in why
    assert "platd-volumes.socket" in why
