"""Where ``plat`` keeps its login and default target, and how the environment overrides them.

One JSON file, ``$XDG_CONFIG_HOME/plat/config.json`` (``PLAT_CONFIG_DIR`` overrides the folder),
written with mode 0600 because it holds a token. ``PLAT_API``, ``PLAT_TOKEN`` and
``PLAT_TARGET`` override what it says, for scripts and CI.
"""

from __future__ import annotations

import json
import os
from typing import Any

# Paths are strings here, not pathlib: every plat command reads this file, and pathlib costs
# ~2 ms to import.


def config_dir() -> str:
    explicit = os.environ.get("PLAT_CONFIG_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "plat")


def config_file() -> str:
    return os.path.join(config_dir(), "config.json")


def load() -> dict[str, Any]:
    try:
        with open(config_file(), encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
        return data
    except (OSError, ValueError):
        return {}


def save(data: dict[str, Any]) -> str:
    path = config_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path[: -len(".json")] + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def api() -> str | None:
    return os.environ.get("PLAT_API") or load().get("api")


def token() -> str | None:
    return os.environ.get("PLAT_TOKEN") or load().get("token")


def default_target() -> str | None:
    return os.environ.get("PLAT_TARGET") or load().get("target")
