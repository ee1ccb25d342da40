"""Delivering secret bundles to instances as files, without writing them to disk.

Each instance gets a directory on a tmpfs (``/dev/shm`` by default) holding, per bundle, the
file ``NAME`` (one ``KEY=value`` line per key, values quoted where needed: a newline can neither
break a value nor add a key) and the directory ``NAME.d`` with one file per key holding exactly
its value (a PEM key as it was given), bound read-only at ``/run/secrets/NAME`` and
``/run/secrets/NAME.d/KEY``. Values are decrypted just before the container is created; the
instance's directory is removed with the instance, and everything when platd stops (a running
container keeps what is mounted; the files are written again before it is started again).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from platd.secrets.crypto import render_bundle_file

OpenVersion = Callable[[str], dict[str, str]]


class SecretFiles:
    def __init__(self, root: Path, open_version: OpenVersion) -> None:
        self.root = root
        self._open = open_version

    def write(self, instance_id: str, versions: dict[str, str]) -> dict[str, str]:
        """Materialise ``versions`` (bundle -> version id); returns container path -> host path."""
        if not versions:
            return {}
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = self.root / instance_id
        folder.mkdir(exist_ok=True, mode=0o711)
        files = {}
        for bundle, version_id in versions.items():
            values = self._open(version_id)
            path = folder / bundle
            _write(path, render_bundle_file(values).encode())
            keys = folder / f"{bundle}.d"
            keys.mkdir(exist_ok=True, mode=0o755)
            files[f"/run/secrets/{bundle}"] = str(path)
            for key, value in values.items():  # keys are environment variable names: safe
                _write(keys / key, value.encode())
                # File by file, not the directory: a bound file outlives its name on the
                # host (platd stopping removes them), a bound directory's content would not.
                files[f"/run/secrets/{bundle}.d/{key}"] = str(keys / key)
        return files

    def exists(self, instance_id: str) -> bool:
        return (self.root / instance_id).is_dir()

    def remove(self, instance_id: str) -> None:
        shutil.rmtree(self.root / instance_id, ignore_errors=True)

    def remove_all_but(self, keep: set[str]) -> list[str]:
        """Remove the files of every instance not in ``keep`` (left by instances that went
        while platd was not looking); returns the instance ids removed."""
        if not self.root.is_dir():
            return []
        gone = sorted(p.name for p in self.root.iterdir() if p.name not in keep)
        for name in gone:
            self.remove(name)
        return gone

    def clear(self) -> None:
        """Remove every instance's files (platd stops: no plaintext left behind)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)  # a file of an earlier version is read-only
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
