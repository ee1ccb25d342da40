"""Delivering secret bundles to instances as files, without writing them to disk.

Each instance gets a directory on a tmpfs (``/dev/shm`` by default) holding one file per bundle,
bound read-only at ``/run/secrets/NAME``. Values are decrypted just before the container is
created and the directory is removed with the instance.
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
            path = folder / bundle
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
            with os.fdopen(fd, "w") as f:
                f.write(render_bundle_file(self._open(version_id)))
            files[f"/run/secrets/{bundle}"] = str(path)
        return files

    def exists(self, instance_id: str) -> bool:
        return (self.root / instance_id).is_dir()

    def remove(self, instance_id: str) -> None:
        shutil.rmtree(self.root / instance_id, ignore_errors=True)
