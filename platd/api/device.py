"""The device flow's HTTP side (RFC 8628) and the browser pages people use with it.

Machine endpoints, unauthenticated like RFC 8628's (the device code is the secret):

- ``POST /v1/device/code`` starts a login: device code, user code, verification URIs.
- ``POST /v1/device/token`` polls: a token once a person approved, else an RFC 8628 error
  (``authorization_pending``, ``slow_down``, ``expired_token``, ``access_denied``) as
  ``{"error": CODE, "error_description": ...}`` with status 400, as OAuth clients expect.

Browser pages (HTML, no script, a strict CSP, CSRF tokens in every form, an HttpOnly
SameSite=Lax session cookie, Secure whenever the browser treats the address as secure):
``/device`` (sign in, type the code, approve or deny), ``/setup`` (the first host admin, from
the link ``platd init`` prints) and ``/invite`` (accept an org invite). Wrong codes and wrong
passwords count against the client's address and are refused for a while past a limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body

from platd.api.access import Access
from platd.api.deps import Svc
from platd.auth import pages
from platd.auth.device import Grant
from platd.auth.websessions import COOKIE, WebSession
from platd.services import people, tokens
from platd.spec.errors import Conflict, InvalidInput, NotFound, PlatError
from platd.spec.timeparse import format_utc

TOKEN_TTL = 30 * 24 * 3600.0  # what a device login's token lasts
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class CodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    client: str = "plat"  # what the approval page shows: "plat on laptop (user@laptop)"


class TokenRequest(msgspec.Struct):
    device_code: str
    grant_type: str = GRANT_TYPE


def _access(request: Request[Any, Any, State]) -> Access:
    access: Access = request.app.state.access
    access.bind()
    return access


def _now(access: Access) -> float:
    return access.svc.clock.time()


def _address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _base(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/")


def _clean_client(text: str) -> str:
    printable = "".join(c for c in text if c.isprintable())[:80].strip()
    return printable or "an unnamed client"


# --- machine endpoints ----------------------------------------------------------------------


@post("/device/code", status_code=200)
async def device_code(request: Request[Any, Any, State], svc: Svc,
                      data: CodeRequest) -> dict[str, Any]:
    access = _access(request)
    try:
        code, grant = access.device.start(_clean_client(data.client), _address(request),
                                          svc.clock.time())
    except OverflowError:
        # Anyone may start a login, so a flood of them is refused like any other state that
        # forbids a request (409), never as a server error.
        raise Conflict("too many logins are in progress on this host",
                       hint="try again in a few minutes") from None
    base = _base(request)
    return {
        "device_code": code,
        "user_code": grant.display_code,
        "verification_uri": f"{base}/device",
        "verification_uri_complete": f"{base}/device?user_code={grant.display_code}",
        "expires_in": int(grant.expires_at - grant.requested_at),
        "interval": round(grant.interval, 3),
    }


@post("/device/token", status_code=200)
async def device_token(request: Request[Any, Any, State], svc: Svc,
                       data: TokenRequest) -> Response[Any]:
    access = _access(request)
    if data.grant_type != GRANT_TYPE:
        return _oauth_error("unsupported_grant_type", f"use grant_type {GRANT_TYPE}")
    poll = access.device.poll(data.device_code, svc.clock.time())
    if poll.outcome != "approved" or poll.grant is None or poll.grant.user_id is None:
        return _oauth_error(poll.outcome, _DESCRIPTIONS.get(poll.outcome, ""),
                            poll.grant.interval if poll.grant else None)
    grant = poll.grant
    secret, row = await asyncio.to_thread(_mint, svc, grant)
    if secret is None:
        return _oauth_error("access_denied", "the user who approved no longer exists")
    return Response({"access_token": secret, "token_type": "Bearer",
                     "expires_in": int(TOKEN_TTL), "token_id": row, "name": grant.client})


def _mint(svc: Any, grant: Grant) -> tuple[str | None, str | None]:
    user = people.get_user(svc, grant.user_id or "")
    if user is None:
        return None, None
    with svc.store.write() as session:
        secret, row = tokens.create_user_token(session, svc.clock, user, grant.client,
                                               TOKEN_TTL)
    return secret, row.id


_DESCRIPTIONS = {
    "authorization_pending": "waiting for a person to approve in the browser",
    "slow_down": "polling too fast: wait longer between polls",
    "expired_token": "the code expired before anyone approved it; run plat login again",
    "access_denied": "the login was denied in the browser",
    "invalid_grant": "unknown device code; run plat login again",
}


def _oauth_error(code: str, description: str, interval: float | None = None) -> Response[Any]:
    body: dict[str, Any] = {"error": code, "error_description": description}
    if interval is not None:
        body["interval"] = round(interval, 3)
    return Response(body, status_code=400, headers={"Cache-Control": "no-store"})


# --- browser pages --------------------------------------------------------------------------


def _secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the browser keeps a Secure cookie here: https, or a loopback address."""
    if request.url.scheme == "https":
        return True
    host = request.url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _html(request: Request[Any, Any, Any], body: str, session: WebSession | None = None,
          status: int = 200) -> Response[str]:
    cookies = []
    if session is not None:
        cookies.append(Cookie(key=COOKIE, value=session.id, httponly=True, samesite="lax",
                              secure=_secure(request), path="/", max_age=15 * 60))
    return Response(body, media_type="text/html; charset=utf-8", status_code=status,
                    headers=pages.HEADERS, cookies=cookies)


def _session(request: Request[Any, Any, Any], access: Access) -> tuple[WebSession, bool]:
    """The visitor's session, or a new anonymous one (True: the cookie must be set)."""
    now = _now(access)
    found = access.web.get(request.cookies.get(COOKIE), now)
    if found is not None:
        return found, False
    return access.web.new(now), True


def _form_ok(request: Request[Any, Any, Any], access: Access,
             form: dict[str, str]) -> WebSession | None:
    """The session of a form post, if it carries that session's CSRF token and comes from a
    page of this host (Origin, when the browser sends one)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != _base(request):
        return None
    s = access.web.get(request.cookies.get(COOKIE), _now(access))
    if s is None or not s.csrf_ok(form.get("csrf")):
        return None
    return s


def _expired_form(request: Request[Any, Any, Any], access: Access) -> Response[str]:
    # No new cookie: a forged post from another site must not replace the visitor's session.
    return _html(request, pages.message(
        "Please start again", "This form expired or did not come from this page. Open the "
        "link again."), status=403)


def _limited(request: Request[Any, Any, Any], access: Access, kind: str) -> Response[str] | None:
    wait = access.failures.blocked(f"{kind}:{_address(request)}", _now(access))
    if wait <= 0:
        return None
    return _html(request, pages.message(
        "Too many attempts", f"Too many wrong attempts from this address. Try again in "
        f"{int(wait) + 1} seconds."), status=429)


def _user_name(access: Access, s: WebSession) -> str | None:
    if s.user_id is None:
        return None
    user = people.get_user(access.svc, s.user_id)
    if user is None:
        access.web.end(s.id)
        return None
    return user.name


def _approval(request: Request[Any, Any, Any], access: Access, s: WebSession, user: str,
              typed: str) -> Response[str]:
    grant = access.device.pending(typed, _now(access))
    if grant is None:
        access.failures.fail(f"code:{_address(request)}", _now(access))
        return _html(request, pages.enter_code(
            s.csrf, user, "That code is not valid: it is wrong, used or expired. Check what "
            "plat login shows.", typed), status=400)
    when = format_utc(grant.requested_at, millis=False)
    return _html(request, pages.approve(s.csrf, user, grant.display_code, grant.client,
                                        grant.address, when))


@get("/device", include_in_schema=False)
async def device_page(request: Request[Any, Any, State], user_code: str = "") -> Response[str]:
    access = _access(request)
    s, fresh = _session(request, access)
    user = await asyncio.to_thread(_user_name, access, s)
    if user is None:
        return _html(request, pages.sign_in(s.csrf, user_code), s if fresh else None)
    if not user_code:
        return _html(request, pages.enter_code(s.csrf, user))
    if (limited := _limited(request, access, "code")) is not None:
        return limited
    return _approval(request, access, s, user, user_code)


@post("/device/signin", include_in_schema=False, status_code=200)
async def device_signin(request: Request[Any, Any, State], data: Form) -> Response[str]:
    access = _access(request)
    s = _form_ok(request, access, data)
    if s is None:
        return _expired_form(request, access)
    if (limited := _limited(request, access, "signin")) is not None:
        return limited
    user = await asyncio.to_thread(people.sign_in, access.svc, data.get("name", ""),
                                   data.get("password", ""))
    code = data.get("user_code", "")
    if user is None:
        access.failures.fail(f"signin:{_address(request)}", _now(access))
        return _html(request, pages.sign_in(s.csrf, code, "Wrong user name or password."),
                     status=401)
    s = access.web.sign_in(s, user.id, _now(access))
    if not code:
        return _html(request, pages.enter_code(s.csrf, user.name), s)
    response = _approval(request, access, s, user.name, code)
    response.cookies.append(Cookie(key=COOKIE, value=s.id, httponly=True, samesite="lax",
                                   secure=_secure(request), path="/", max_age=15 * 60))
    return response


@post("/device", include_in_schema=False, status_code=200)
async def device_enter(request: Request[Any, Any, State], data: Form) -> Response[str]:
    access = _access(request)
    s = _form_ok(request, access, data)
    if s is None:
        return _expired_form(request, access)
    if (limited := _limited(request, access, "code")) is not None:
        return limited
    user = await asyncio.to_thread(_user_name, access, s)
    if user is None:
        return _html(request, pages.sign_in(s.csrf, data.get("user_code", "")))
    return _approval(request, access, s, user, data.get("user_code", ""))


@post("/device/decision", include_in_schema=False, status_code=200)
async def device_decision(request: Request[Any, Any, State], data: Form) -> Response[str]:
    access = _access(request)
    s = _form_ok(request, access, data)
    if s is None or s.user_id is None:
        return _expired_form(request, access)
    grant = access.device.pending(data.get("user_code", ""), _now(access))
    if grant is None:
        return _html(request, pages.message(
            "This login is over", "The code expired or was already used. Run plat login "
            "again."), status=410)
    approved = data.get("decision") == "approve"
    access.device.decide(grant, s.user_id, approved, _now(access))
    return _html(request, pages.done(approved, grant.client))


# --- setup link and invites ---------------------------------------------------------------


def _account_page(request: Request[Any, Any, Any], access: Access, s: WebSession, code: str,
                  action: str, error: str | None = None, status: int = 200,
                  cookie: bool = False) -> Response[str]:
    try:
        info = people.describe_invite(access.svc, code)
    except NotFound as e:
        return _html(request, pages.message("This link does not work", e.message),
                     s if cookie else None, status=404)
    if info["kind"] == "setup":
        title, intro = "Set up plat", ("Choose the name and password of this installation's "
                                       "first administrator.")
    else:
        title = f"Join {info['org']}"
        intro = (f"You are invited to org {info['org']} as {info['role']}. "
                 + ("Type your password to accept." if info["existing_user"]
                    else "Choose a password."))
    return _html(request, pages.account(s.csrf, code, action, title, intro, info["name"],
                                        error), s if cookie else None, status=status)


def _account_get(request: Request[Any, Any, State], access: Access, code: str,
                 action: str) -> Response[str]:
    if (limited := _limited(request, access, "code")) is not None:
        return limited
    s, fresh = _session(request, access)
    response = _account_page(request, access, s, code, action, cookie=fresh)
    if response.status_code == 404:
        access.failures.fail(f"code:{_address(request)}", _now(access))
    return response


async def _account_post(request: Request[Any, Any, State], data: dict[str, str],
                        action: str) -> Response[str]:
    access = _access(request)
    s = _form_ok(request, access, data)
    if s is None:
        return _expired_form(request, access)
    if (limited := _limited(request, access, "code")) is not None:
        return limited
    code = data.get("code", "")
    try:
        user = await asyncio.to_thread(people.accept_invite, access.svc, code,
                                       data.get("name", ""), data.get("password", ""))
    except NotFound as e:
        access.failures.fail(f"code:{_address(request)}", _now(access))
        return _html(request, pages.message("This link does not work", e.message), status=404)
    except PlatError as e:
        if isinstance(e, InvalidInput) and "password" in e.message:
            access.failures.fail(f"signin:{_address(request)}", _now(access))
        return _account_page(request, access, s, code, action, e.message, status=400)
    s = access.web.sign_in(s, user.id, _now(access))
    return _html(request, pages.message(
        "Welcome", f"You are signed in as {user.name}. Log in from a terminal with: "
        "plat login --api " + _base(request)), s)


@get("/setup", include_in_schema=False)
async def setup_page(request: Request[Any, Any, State], code: str = "") -> Response[str]:
    return await asyncio.to_thread(_account_get, request, _access(request), code, "/setup")


@post("/setup", include_in_schema=False, status_code=200)
async def setup_submit(request: Request[Any, Any, State], data: Form) -> Response[str]:
    return await _account_post(request, data, "/setup")


@get("/invite", include_in_schema=False)
async def invite_page(request: Request[Any, Any, State], code: str = "") -> Response[str]:
    return await asyncio.to_thread(_account_get, request, _access(request), code, "/invite")


@post("/invite", include_in_schema=False, status_code=200)
async def invite_submit(request: Request[Any, Any, State], data: Form) -> Response[str]:
    return await _account_post(request, data, "/invite")


api_router = Router(path="/v1", route_handlers=[device_code, device_token])
pages_router = Router(path="/", route_handlers=[
    device_page, device_signin, device_enter, device_decision, setup_page, setup_submit,
    invite_page, invite_submit,
])
