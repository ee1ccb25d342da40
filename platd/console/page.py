"""The console's two HTML documents: the sign-in form (no script) and the terminal page.

The sign-in form is one of the people pages (``platd.auth.pages``: one hashed stylesheet, no
script, CSRF token). The terminal page is ``static/index.html`` with the session's CSRF token
put in a meta tag; it loads only this host's script and stylesheet (``CSP``): ghostty-web
compiles its WebAssembly (``'wasm-unsafe-eval'``) from a ``data:`` URL it fetches
(``connect-src data:``), and the page talks to this host only (``'self'`` and its websocket).
Pure: strings in, strings out.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from platd.auth import pages

STATIC = Path(__file__).parent / "static"
# Everything the page may load, by name: no path from a request ever reaches the disk.
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "lineedit.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "vendor/ghostty-web.js": "text/javascript; charset=utf-8",
    "vendor/__vite-browser-external-2447137e.js": "text/javascript; charset=utf-8",
}


def csp(websocket_origin: str) -> str:
    return ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
            f"connect-src 'self' data: {websocket_origin}; img-src 'self' data:; "
            "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def sign_in(csrf: str, error: str | None = None) -> str:
    err = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    hidden = f"<input type=hidden name=csrf value='{escape(csrf, quote=True)}'>"
    return pages.page("Sign in to the plat console", err + (
        "<form method=post action=/console/signin>" + hidden
        + "<label for=name>User name</label><input id=name name=name autocomplete=username "
        "autofocus><label for=password>Password</label><input id=password name=password "
        "type=password autocomplete=current-password>"
        "<p>or a token of yours (from <code>plat tokens</code> or <code>plat login</code>)</p>"
        "<label for=token>Token</label><input id=token name=token type=password "
        "autocomplete=off><button type=submit>Sign in</button></form>"))


def console(csrf: str, user: str) -> str:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return html.replace("{{csrf}}", escape(csrf, quote=True)).replace(
        "{{user}}", escape(user))


def vendored() -> bool:
    """Whether setup has copied ghostty-web into ``static/vendor`` (scripts/setup)."""
    return (STATIC / "vendor" / "ghostty-web.js").is_file()
