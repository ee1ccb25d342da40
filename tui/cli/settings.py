"""Where ``plat`` keeps its login and default target, and how the environment overrides them.

One JSON file, ``$XDG_CONFIG_HOME/plat/config.json`` (``PLAT_CONFIG_DIR`` overrides the folder),
written with mode 0600 because it holds a token. ``PLAT_API``, ``PLAT_TOKEN`` and
``PLAT_TARGET`` override what it says, for scripts and CI.

Handlers never read this file themselves: they get a ``Settings`` in their ``Ctx``. The CLI and
bare ``plat`` give them ``FileSettings`` (the user's file and environment); a front end that runs
commands for someone else (the web console, as its signed-in user; tests) gives them
``FixedSettings``, which neither reads nor writes the user's file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # at run time a plain base class: the protocol is the type checker's

# Paths are strings here, not pathlib: every plat command reads this file, and pathlib costs
# ~2 ms to import.


class Settings(Protocol):
    """The daemon, token and default target a command uses, and where ``plat login`` and
    ``plat use`` keep what they set."""

    @property
    def api(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...

    @property
    def default_target(self) -> str | None: ...

    @property
    def reconnect_timeout(self) -> str | None:
        """``PLAT_RECONNECT_TIMEOUT`` as given (None: the default); read by a follow."""

    def load(self) -> dict[str, Any]:
        """What is stored (``api``, ``token``, ``target``), without the overrides."""

    def save(self, data: dict[str, Any]) -> str:
        """Store ``data`` for the next commands; returns where (shown to the user)."""


class FileSettings:
    """The user's own settings: the config file, under the ``PLAT_*`` overrides. The file is
    read once per instance (a command asks for several of its values)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ
        self._stored: dict[str, Any] | None = None

    def _file(self) -> dict[str, Any]:
        if self._stored is None:
            self._stored = load()
        return self._stored

    @property
    def api(self) -> str | None:
        return self._env.get("PLAT_API") or self._file().get("api")

    @property
    def token(self) -> str | None:
        return self._env.get("PLAT_TOKEN") or self._file().get("token")

    @property
    def default_target(self) -> str | None:
        return self._env.get("PLAT_TARGET") or self._file().get("target")

    @property
    def reconnect_timeout(self) -> str | None:
        return self._env.get("PLAT_RECONNECT_TIMEOUT") or None

    def load(self) -> dict[str, Any]:
        return dict(self._file())

    def save(self, data: dict[str, Any]) -> str:
        path = save(data)
        self._stored = dict(data)
        return path


class FixedSettings:
    """Settings given by the caller and kept in memory: an API URL and token that do not come
    from the user's config file (the web console's signed-in user, a test). What ``plat use``
    or ``plat login`` stores lasts as long as this object; ``where`` names that place."""

    def __init__(self, api: str | None, token: str | None, default_target: str | None = None,
                 *, reconnect_timeout: str | None = None, where: str = "this session") -> None:
        self._data: dict[str, Any] = {"api": api, "token": token, "target": default_target}
        self._reconnect_timeout = reconnect_timeout
        self.where = where

    @property
    def api(self) -> str | None:
        return self._data.get("api")

    @property
    def token(self) -> str | None:
        return self._data.get("token")

    @property
    def default_target(self) -> str | None:
        return self._data.get("target")

    @property
    def reconnect_timeout(self) -> str | None:
        return self._reconnect_timeout

    def load(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if v is not None}

    def save(self, data: dict[str, Any]) -> str:
        self._data = {"api": data.get("api"), "token": data.get("token"),
                      "target": data.get("target")}
        return self.where


def config_dir() -> str:
    explicit = os.environ.get("PLAT_CONFIG_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "plat")


def config_file() -> str:
    return os.path.join(config_dir(), "config.json")


def load() -> dict[str, Any]:
    import json  # here, as in save: plat --help imports this module and reads no settings

    try:
        with open(config_file(), encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
        return data
    except (OSError, ValueError):
        return {}


def save(data: dict[str, Any]) -> str:
    import json

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
    return FileSettings().api


def token() -> str | None:
    return FileSettings().token


def default_target() -> str | None:
    return FileSettings().default_target
