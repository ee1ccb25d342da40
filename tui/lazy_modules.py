"""Modules imported on first use instead of at start: the stand-in (``Deferred``) that the
CLI's HTTP client (``tui.client``, and before it ``tui.api_paths`` and ``tui.early_get``) and
``plat exec``'s websocket import (``tui.ws_import``) put in ``sys.modules`` for modules the
libraries they use import at their top but plat's use of them does not touch on the way to its
first answer.

Start-up is what a user feels of every read command (issue 22: within 3x ``docker ps``), and
part of what the standard library's ``http.client`` and the ``websockets`` package import is
for paths plat takes rarely or never (``LEFT_FOR_FIRST_USE``). The stand-in changes nothing of
what those modules do, only when they are imported: a command that does need one (an
``https://`` address, an IPv6 one) imports it then, as it would have at start. Measured: the
CPU time of importing ``http.client`` 38-40 -> 28-29 ms on the 2-core machine (under load).
"""

from __future__ import annotations

import _thread
import importlib
import importlib.util
import sys
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

_swap = _thread.allocate_lock()

# What http.client imports (itself, through email.parser and socket) but a request over http://
# to an address by name or IPv4 never touches.
LEFT_FOR_FIRST_USE = (
    "ssl",  # https:// only; OpenSSL's shared libraries: the largest single part
    "random",  # email.utils: Message-ID values
    "datetime",  # email.utils: date headers of e-mail, not read by http.client
    "calendar",  # email._parseaddr: the same
    "ipaddress",  # urllib.parse: checks of bracketed (IPv6) hosts
    "selectors",  # socket: socket.sendfile's fallback
)


class Deferred(types.ModuleType):
    """Stands in for a module not imported yet; its first use imports the real one.

    It carries the real module's ``__spec__`` (found, not loaded, when it is put in place), so
    ``importlib.util.find_spec`` and whatever else reads the spec of a module in
    ``sys.modules`` still work. What it is not: the module itself. ``dir()`` and ``vars()`` show
    the stand-in's own few names (``__name__``, ``__doc__``, ``__spec__``...), not the real
    module's; an attribute set on it stays on it (the real module never sees it; reading one
    the stand-in does not have goes to the real module); and it is another object, so ``is``
    against the real module is false for a reference taken before the first use."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(real_module(self), attr)


def real_module(stand_in: Deferred) -> types.ModuleType:
    """The module ``stand_in`` stands for, imported now if it was not yet."""
    name = stand_in.__name__
    with _swap:  # the check and the removal at once: never remove a real module being imported
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
    # The import system imports it once, however many threads ask (its per-module locks), and
    # binds it in its parent package in place of the stand-in.
    return importlib.import_module(name)


def defer(name: str) -> None:
    """Put a ``Deferred`` stand-in for module ``name`` in place, unless it is imported already."""
    if name in sys.modules:
        return
    stand_in = Deferred(name, f"{name}, imported on first use (tui.lazy_modules)")
    # Finding the spec imports the parent package (imported below anyway), never the module:
    # the finders only look where it is.
    stand_in.__spec__ = importlib.util.find_spec(name)
    parent, _, child = name.rpartition(".")
    sys.modules[name] = stand_in
    if parent:
        # ``import urllib.request`` finds the stand-in in sys.modules; the name ``urllib.request``
        # is then looked up on the package.
        setattr(importlib.import_module(parent), child, stand_in)


def defer_unused() -> None:
    """Put stand-ins in place for every module of ``LEFT_FOR_FIRST_USE`` not imported yet: called
    at the top of each module that imports ``http.client``, ``socket`` or ``urllib.parse``
    before anything else of it is imported."""
    for name in LEFT_FOR_FIRST_USE:
        defer(name)
