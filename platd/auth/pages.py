"""The HTML of the browser pages platd serves for people: sign in, enter a code, approve or
deny a login, set up the first admin, accept an invite. Pure: strings in, a page out.

The pages carry no script at all, and one stylesheet whose hash the Content-Security-Policy
names, so the policy can forbid everything else (``CSP``). Every value is escaped; every form
posts back its session's CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "color:#1b1f23}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}"
    "input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}"
    "button{font:inherit;padding:.5rem 1.2rem;margin:1rem .5rem 0 0;cursor:pointer}"
    ".code{font:1.6rem/1.2 monospace;letter-spacing:.15rem}.error{color:#b00020}"
    ".deny{background:#fff;border:1px solid #b00020;color:#b00020}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{color:#586069}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width'><title>{escape(title)} · plat"
            f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            "</body></html>")


def _error(error: str | None) -> str:
    return f"<p class=error role=alert>{escape(error)}</p>" if error else ""


def _hidden(name: str, value: str) -> str:
    return f"<input type=hidden name={name} value='{escape(value, quote=True)}'>"


def sign_in(csrf: str, user_code: str, error: str | None = None) -> str:
    return page("Sign in to plat", _error(error) + (
        "<form method=post action=/device/signin>"
        + _hidden("csrf", csrf) + _hidden("user_code", user_code)
        + "<label for=name>User name</label><input id=name name=name autocomplete=username "
        "required autofocus>"
        "<label for=password>Password</label><input id=password name=password type=password "
        "autocomplete=current-password required>"
        "<button type=submit>Sign in</button></form>"))


def enter_code(csrf: str, user: str, error: str | None = None, typed: str = "") -> str:
    return page("Log in a device", _error(error) + (
        f"<p>Signed in as <b>{escape(user)}</b>. Type the code <code>plat login</code> shows."
        "</p><form method=post action=/device>" + _hidden("csrf", csrf)
        + "<label for=user_code>Code</label><input id=user_code name=user_code class=code "
        f"placeholder=XXXX-XXXX autocomplete=off required value='{escape(typed, quote=True)}'>"
        "<button type=submit>Continue</button></form>"))


def approve(csrf: str, user: str, code: str, client: str, address: str, when: str) -> str:
    return page("Approve this login?", (
        f"<p>A program asks to act as <b>{escape(user)}</b>. Approve only if you started it "
        "and the code matches what it shows.</p>"
        f"<dl><dt>Code</dt><dd class=code>{escape(code)}</dd>"
        f"<dt>Client</dt><dd id=client>{escape(client)}</dd>"
        f"<dt>From</dt><dd id=address>{escape(address)}</dd>"
        f"<dt>Asked at</dt><dd id=when>{escape(when)}</dd></dl>"
        "<form method=post action=/device/decision>" + _hidden("csrf", csrf)
        + _hidden("user_code", code)
        + "<button type=submit name=decision value=approve>Approve</button>"
        "<button type=submit name=decision value=deny class=deny>Deny</button></form>"))


def done(approved: bool, client: str) -> str:
    if approved:
        return page("Login approved", f"<p id=outcome>{escape(client)} is now signed in. "
                    "You can close this page and go back to your terminal.</p>")
    return page("Login denied", f"<p id=outcome>{escape(client)} was refused. If you did "
                "not start it, nothing else is needed.</p>")


def message(title: str, text: str) -> str:
    return page(title, f"<p id=outcome>{escape(text)}</p>")


def account(csrf: str, code: str, action: str, title: str, intro: str, name: str | None,
            error: str | None = None) -> str:
    """The setup link's page (choose a name) and an invite's (name given by the invite)."""
    name_field = (_hidden("name", name) + f"<p>User name: <b>{escape(name)}</b></p>"
                  if name else "<label for=name>User name</label><input id=name name=name "
                  "autocomplete=username required autofocus>")
    return page(title, _error(error) + f"<p>{escape(intro)}</p>"
                + f"<form method=post action={action}>" + _hidden("csrf", csrf)
                + _hidden("code", code) + name_field
                + "<label for=password>Password (10 characters or more)</label>"
                "<input id=password name=password type=password autocomplete=new-password "
                "required><button type=submit>Continue</button></form>")
