"""What plat says when platd goes away and comes back: on the CLI's stderr during a follow, and
in a TUI panel that keeps retrying.

The follow loop (``tui.follow``) is shared by both front ends; only these words differ (a
terminal has Ctrl-C to offer, a panel does not).
"""

from __future__ import annotations

from platd.spec.errors import DaemonUnreachable, PlatError

RESUME_EVENTS = "the last event shown"
RESUME_LINES = "the last line shown"


def cli_connection_lost(message: str) -> str:
    """The note (stderr) when a follow loses platd; stdout keeps only the stream."""
    return f"plat: {message}; reconnecting (Ctrl-C to stop)"


def cli_connection_back(resume: str) -> str:
    return f"plat: reconnected; going on from {resume}"


def pane_connection_lost(message: str) -> str:
    """The same, in a TUI panel (which has no Ctrl-C to offer)."""
    return f"{message}; reconnecting"


def pane_connection_back(resume: str) -> str:
    return f"reconnected; going on from {resume}"


def ignoring_reconnect_timeout(raw: str, default: float) -> str:
    return (f"plat: ignoring PLAT_RECONNECT_TIMEOUT={raw!r}: not a number of seconds above 0; "
            f"reconnecting for up to {default:g}s")


def gave_up_reconnecting(e: PlatError, waited: float, hint: list[str]) -> DaemonUnreachable:
    """The error a follow ends with when platd did not come back within its patience."""
    return DaemonUnreachable(
        f"{e.message}; gave up after {waited:g}s of trying to reconnect",
        hint=[*hint, *e.hint, "to wait longer next time, set PLAT_RECONNECT_TIMEOUT (seconds)"],
    )


# --- a TUI panel whose request failed: it says so and keeps trying ----------------------------


def pane_retrying(e: PlatError) -> tuple[str, str]:
    """A refreshing panel's note when its request fails: (the message, the rest); it keeps
    trying."""
    return e.message, (f" — {e.hint[0]}" if e.hint else "") + " (retrying)"


def pane_trouble(e: PlatError) -> str:
    """A following panel's note when its request fails; it keeps trying from its cursor."""
    if isinstance(e, DaemonUnreachable):
        return pane_connection_lost(e.message)
    return "".join(pane_retrying(e))
