"""The ``websockets`` package imported leanly, for ``plat exec``.

Importing ``websockets.sync.client`` is most of what ``plat exec`` spends before it can open a
session (measured: ~45 of ~70 ms of imports), and plat's use of it never touches a good part of
what it imports. Two ways to leave that out, neither changing what websockets does:

- ``websockets/version.py`` imports ``importlib.metadata`` at its top for a version lookup it only
  makes in unreleased (development) builds. While websockets is imported, a placeholder stands
  in for that module and is taken out of ``sys.modules`` right after: anything imported later
  gets the real module. A websockets that does use it while it is imported (a development
  build, a future release) fails against the placeholder; then its half-imported modules are
  dropped and it is imported the ordinary way.
- Modules websockets imports at its top but uses only on paths plat does not take are
  *deferred*: ``urllib.request`` (with ``http.client``, ``email``, ``tempfile``...) serves only
  its proxy discovery, which plat turns off (``proxy=None``: straight to the daemon);
  ``traceback`` only formats errors (for ``logging`` and websockets); ``inspect`` (with
  ``dis``, ``ast``, ``tokenize``) only writes a docstring for a dataclass without one
  (websockets' have theirs); and ``ssl`` serves only ``wss://`` addresses (``load(tls=True)``
  imports it as usual). A deferred module is a stand-in that imports the real one on its
  first attribute use and forwards every use to it, and the real one replaces it in
  ``sys.modules``: a path that does need it after all (a websockets that starts to, a later
  import elsewhere in the process) gets the real module, only later. Together they are about
  half of the import (measured: 50 -> 26 ms of CPU).

The cyclic garbage collector is paused while websockets is imported, and what the import made
is frozen afterwards (see ``load``).
"""

from __future__ import annotations

import gc
import sys
import types

from tui.lazy_modules import Deferred, defer, real_module

__all__ = ["Deferred", "defer", "load", "real_module"]

_METADATA = "importlib.metadata"
ALWAYS_DEFERRED = ("urllib.request", "traceback", "inspect")
DEFERRED_WITHOUT_TLS = ("ssl",)


def load(*, tls: bool = True) -> None:
    """Import ``websockets.sync.client`` (and what it needs), leanly when possible; without
    ``tls``, ``ssl`` is deferred too (the connection is ``ws://``)."""
    if "websockets.sync.client" in sys.modules:
        return
    if _METADATA in sys.modules or "websockets" in sys.modules:
        import websockets.sync.client  # nothing left to save

        return
    for name in ALWAYS_DEFERRED + (() if tls else DEFERRED_WITHOUT_TLS):
        defer(name)
    placeholder = types.ModuleType(_METADATA, "stands in while websockets is imported")
    sys.modules[_METADATA] = placeholder
    # The cyclic collector, run by the import's many allocations, finds nothing to free (what
    # an import makes lives as long as the process): paused meanwhile, ~10% of the import.
    # Afterwards what is there is frozen (gc.freeze) before the collector resumes: otherwise
    # its next run, due soon after, walks every object the import made (measured: one
    # collection of 3-5 ms of CPU, on the path to the session's start).
    collecting = gc.isenabled()
    gc.disable()
    try:
        import websockets.sync.client
    except Exception:
        _drop_websockets()
        _remove(placeholder)
        import websockets.sync.client  # noqa: F401  (the ordinary way)
    finally:
        _remove(placeholder)
        if collecting:
            gc.freeze()
            gc.enable()


def _remove(placeholder: types.ModuleType) -> None:
    if sys.modules.get(_METADATA) is placeholder:
        del sys.modules[_METADATA]


def _drop_websockets() -> None:
    for name in [n for n in sys.modules if n == "websockets" or n.startswith("websockets.")]:
        del sys.modules[name]
