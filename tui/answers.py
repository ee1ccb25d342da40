"""Reading platd's answers without trusting their shape, for the TUI.

The TUI keeps running whatever platd says: an error, an empty body, a body of another shape (a
platd older or newer than this plat) or nothing at all. Each panel turns an answer into what it
shows with a pure function, in its worker thread, through ``read``: an answer that function
cannot read becomes ``UnexpectedAnswer``, a ``PlatError`` like any refusal, which the panel says
in place and retries. Nothing platd sends reaches the screen code unread.
"""

from __future__ import annotations

from collections.abc import Callable

from platd.spec.errors import PlatError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


class UnexpectedAnswer(PlatError):
    """platd answered with a body this plat cannot read."""


def read(what: str, data: Any, view: Callable[[Any], T]) -> T:
    """``view(data)``; a body ``view`` cannot read is ``UnexpectedAnswer`` (``what``: the
    request, for the message)."""
    from tui.render.errors import UNREADABLE_HINT, unreadable_answer

    try:
        return view(data)
    except SHAPE_ERRORS as e:
        raise UnexpectedAnswer(unreadable_answer(what, data, e), hint=UNREADABLE_HINT) from None
