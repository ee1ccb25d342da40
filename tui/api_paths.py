"""The API's paths for names a person typed: each name one URL path segment, refused when it
is empty or not text. Light (``urllib.parse`` only), so a command can say which path it asks
before the HTTP client is imported (``tui.early_get``)."""

from __future__ import annotations

from platd.spec.errors import InvalidInput
from tui.lazy_modules import defer_unused

defer_unused()  # before socket and urllib.parse: see tui.lazy_modules

from urllib.parse import quote  # noqa: E402


def env_path(target: str, rest: str = "") -> str:
    """``/v1/envs/ORG/PROJECT/APP/ENV`` + ``rest``."""
    parts = [quote_text(p, "target") for p in target.split("/")]
    return "/v1/envs/" + "/".join(parts) + rest


def item_path(target: str, collection: str, name: str, what: str) -> str:
    """``/v1/envs/TARGET/COLLECTION/NAME``, with NAME one path segment whatever it holds
    (an empty one would name the collection itself: ``describe instance ''``)."""
    return env_path(target, f"/{collection}/{segment(name, what)}")


def segment(name: str, what: str) -> str:
    """``name`` as one URL path segment; an empty or blank name is refused, naming ``what``."""
    if not name.strip():
        raise InvalidInput(f"the {what} must not be empty",
                           hint=f"pass the {what}; list them with plat status or plat --help")
    if name in (".", ".."):  # a dot segment would be resolved away, naming another route
        return name.replace(".", "%2E")
    return quote_text(name, what)


def quote_text(text: str, what: str) -> str:
    """``quote``, refusing text that holds bytes a terminal passed undecoded (not UTF-8)."""
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:
        raise not_text(what) from None


def not_text(what: str) -> InvalidInput:
    return InvalidInput(f"the {what} given is not UTF-8 text",
                        hint="names and values plat sends are UTF-8; check the terminal's "
                        "encoding (locale) and retype it")


def with_query(path: str, query: dict[str, object] | None) -> str:
    """``path?k=v&...`` for the query's values that are not None."""
    from urllib.parse import urlencode

    clean = {k: v for k, v in (query or {}).items() if v is not None}
    if not clean:
        return path
    try:
        return path + "?" + urlencode(clean)
    except UnicodeEncodeError:
        raise not_text(", ".join(clean)) from None
