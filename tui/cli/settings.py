"""Where ``plat`` keeps its login and default target, and how the environment overrides them.

One JSON file, ``$XDG_CONFIG_HOME/plat/config.json`` (``PLAT_CONFIG_DIR`` overrides the folder),
written with mode 0600 because it holds a token. ``PLAT_API``, ``PLAT_TOKEN`` and
``PLAT_TARGET`` override what it says, for scripts and CI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    explicit = os.environ.get("PLAT_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "plat"


def config_file() -> Path:
    return config_dir() / "config.json"


def load() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(config_file().read_text())
        return data
    except (OSError, ValueError):
        return {}


def save(data: dict[str, Any]) -> Path:
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def api() -> str | None:
    return os.environ.get("PLAT_API") or load().get("api")


def token() -> str | None:
    return os.environ.get("PLAT_TOKEN") or load().get("token")


def default_target() -> str | None:
    return os.environ.get("PLAT_TARGET") or load().get("target")
