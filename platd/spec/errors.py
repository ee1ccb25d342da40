"""Every error plat reports, in one tree, shared by the daemon, the API and the CLI.

    PlatError                      exit 1   HTTP 500   something unexpected
    ├── InvalidInput               exit 2   HTTP 422   a value, name, body or manifest is wrong
    │   └── ManifestInvalid        exit 2   HTTP 422   plat.toml fails validation (carries issues)
    ├── Unauthenticated            exit 3   HTTP 401   no token, or a token that is not valid
    ├── Forbidden                  exit 3   HTTP 403   the token's role may not do this
    ├── NotFound                   exit 4   HTTP 404   no such org/project/app/env/release/...
    ├── Conflict                   exit 5   HTTP 409   the name is taken, or the state forbids it
    ├── ConfigGateRefused          exit 6   HTTP 409   the release would run with missing config
    ├── ImageError                 exit 7   HTTP 422   the image cannot be resolved or built
    ├── RolloutFailed              exit 8   -          ``plat wait``/``deploy``: the rollout failed
    ├── TimedOut                   exit 9   -          ``plat wait``: gave up before convergence
    ├── DaemonUnreachable          exit 10  -          the CLI cannot reach platd
    └── StorageFull                exit 12  HTTP 507   the host's data disk is full

Each error carries a one-line ``message`` (what is wrong), optional ``hint`` lines (what to do
next, usually exact commands) and ``details`` (structured data for ``--json``). The wire form is
``{"error": {"code", "message", "hint", "details"}}``; ``from_wire`` rebuilds the same class on
the client, so the CLI exits with the same code whichever side found the problem.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, ClassVar


class PlatError(Exception):
    code: ClassVar[str] = "internal"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        hint: list[str] | str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint: list[str] = [hint] if isinstance(hint, str) else list(hint or [])
        self.details: dict[str, Any] = details or {}

    def to_wire(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "hint": self.hint,
                "details": self.details,
            }
        }


class InvalidInput(PlatError):
    code = "invalid_input"
    exit_code = 2
    http_status = 422


class ManifestInvalid(InvalidInput):
    code = "manifest_invalid"


class Unauthenticated(PlatError):
    code = "unauthenticated"
    exit_code = 3
    http_status = 401


class Forbidden(PlatError):
    code = "forbidden"
    exit_code = 3
    http_status = 403


class NotFound(PlatError):
    code = "not_found"
    exit_code = 4
    http_status = 404


class Conflict(PlatError):
    code = "conflict"
    exit_code = 5
    http_status = 409


class ConfigGateRefused(PlatError):
    code = "config_gate"
    exit_code = 6
    http_status = 409


class ImageError(PlatError):
    code = "image"
    exit_code = 7
    http_status = 422


class RolloutFailed(PlatError):
    code = "rollout_failed"
    exit_code = 8


class TimedOut(PlatError):
    code = "timed_out"
    exit_code = 9


class StoreBusy(TimedOut):
    """The state database stayed locked past its busy timeout (another process held it, or the
    machine was too loaded to get to it): nothing was written; trying again is safe. Sent as
    ``timed_out`` (exit 9) with HTTP 503, so clients need nothing new to read it."""

    http_status = 503


class DaemonUnreachable(PlatError):
    code = "daemon_unreachable"
    exit_code = 10


class StorageFull(PlatError):
    """The host's data disk has too little room for a write that adds data (reads, scale and
    deletes keep working: docs/operations.md)."""

    code = "storage_full"
    exit_code = 12
    http_status = 507
class Superseded(PlatError):
    """Another deploy or rollback moved the env: before this deploy landed (its ``If-Match``
    named another release; HTTP 412, nothing written), or while its release rolled out."""

    code = "superseded"
    exit_code = 11
    http_status = 412


_BY_CODE: dict[str, type[PlatError]] = {
    cls.code: cls
    for cls in (
        PlatError,
        InvalidInput,
        ManifestInvalid,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        ConfigGateRefused,
        ImageError,
        RolloutFailed,
        TimedOut,
        DaemonUnreachable,
        StorageFull,
        Superseded,
    )
}


def from_wire(body: dict[str, Any], status: int) -> PlatError:
    """Rebuild the error a daemon sent; unknown shapes become a plain PlatError."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return PlatError(f"the daemon answered HTTP {status} with no error body")
    cls = _BY_CODE.get(str(err.get("code")), PlatError)
    return cls(
        str(err.get("message") or f"HTTP {status}"),
        hint=err.get("hint") or None,
        details=err.get("details") or None,
    )


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error (a bug or a daemon fault; the message says which)",
    2: "invalid input: arguments, names, values or the manifest",
    3: "not authenticated, or the token's role does not allow this",
    4: "not found",
    5: "conflict: the name is taken or the current state forbids it",
    6: "refused by the config gate: required env vars or secret bundles are missing",
    7: "the image could not be resolved, pulled or built",
    8: "the rollout failed",
    9: "timed out waiting",
    10: "the daemon could not be reached",
    11: "superseded: another deploy or rollback replaced the release (or the one it expected)",
    12: "the host's data disk is full: the change was not made (reads and deletes still work)",
}
