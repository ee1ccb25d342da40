"""The CLI's side of the device flow (RFC 8628): ask for a code, show it, poll for the token.

The poll loop honours what the daemon answers: ``authorization_pending`` waits the interval
and asks again; ``slow_down`` adds 5 seconds to the interval for every later poll (RFC 8628
3.5); ``expired_token`` and ``access_denied`` end the login with an error that says so. The
transport, the clock and the sleep are parameters, so the loop is tested without a daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from platd.spec.errors import PlatError, TimedOut, Unauthenticated

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5.0

# (method, path, body) -> (status, decoded body)
Exchange = Callable[[str, str, dict[str, Any]], tuple[int, Any]]


@dataclass(frozen=True)
class Code:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float


def request_code(exchange: Exchange, client: str) -> Code:
    status, body = exchange("POST", "/v1/device/code", {"client": client})
    if status != 200 or not isinstance(body, dict):
        from platd.spec.errors import from_wire

        raise from_wire(body if isinstance(body, dict) else {}, status)
    return Code(body["device_code"], body["user_code"], body["verification_uri"],
                body["verification_uri_complete"], float(body["expires_in"]),
                float(body["interval"]))


def poll(exchange: Exchange, code: Code, *, sleep: Callable[[float], None],
         clock: Callable[[], float], on_slow_down: Callable[[float], None] | None = None,
         ) -> dict[str, Any]:
    """Poll until the token comes (the token response) or the login ends (an error)."""
    interval = code.interval
    deadline = clock() + code.expires_in
    while True:
        sleep(interval)
        status, body = exchange("POST", "/v1/device/token",
                                {"device_code": code.device_code, "grant_type": GRANT_TYPE})
        if status == 200 and isinstance(body, dict) and "access_token" in body:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if error == "authorization_pending":
            if clock() > deadline + interval:
                raise _expired()
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP
            if on_slow_down is not None:
                on_slow_down(interval)
            continue
        if error == "expired_token":
            raise _expired()
        if error == "access_denied":
            raise Unauthenticated("the login was denied in the browser",
                                  hint="run plat login again if that was a mistake")
        if isinstance(error, dict):  # a plat error (e.g. a daemon without the device flow)
            from platd.spec.errors import from_wire

            raise from_wire(body, status)
        raise PlatError(f"the daemon answered the login poll with {error or status!r}",
                        hint="run plat login again")


def _expired() -> TimedOut:
    return TimedOut("the login code expired before anyone approved it",
                    hint="run plat login again and approve within the time shown")
