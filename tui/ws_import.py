"""The ``websockets`` package imported without ``importlib.metadata``, for ``plat exec``.

``websockets/version.py`` imports ``importlib.metadata`` at its top for a version lookup it only
makes in unreleased (development) builds of websockets; a release never calls it. That one
import (zipfile, csv, email, pathlib, inspect...) is about 40% of what importing the sync
client costs, and ``plat exec`` pays it on every start before the session can open.

So while websockets is imported, a placeholder module stands in for ``importlib.metadata``, and
is taken out of ``sys.modules`` again right after: anything imported later gets the real module.
A websockets that does use the module while it is imported (a development build, a future
release) fails against the placeholder; then its half-imported modules are dropped and it is
imported the ordinary way. Either way the caller gets the real package.
"""

from __future__ import annotations

import sys
import types

_METADATA = "importlib.metadata"


def load() -> None:
    """Import ``websockets.sync.client`` (and what it needs), leanly when possible."""
    if "websockets.sync.client" in sys.modules:
        return
    if _METADATA in sys.modules or "websockets" in sys.modules:
        import websockets.sync.client  # nothing left to save

        return
    placeholder = types.ModuleType(_METADATA, "stands in while websockets is imported")
    sys.modules[_METADATA] = placeholder
    try:
        import websockets.sync.client
    except Exception:
        _drop_websockets()
        _remove(placeholder)
        import websockets.sync.client  # noqa: F401  (the ordinary way)
    finally:
        _remove(placeholder)


def _remove(placeholder: types.ModuleType) -> None:
    if sys.modules.get(_METADATA) is placeholder:
        del sys.modules[_METADATA]


def _drop_websockets() -> None:
    for name in [n for n in sys.modules if n == "websockets" or n.startswith("websockets.")]:
        del sys.modules[name]
