"""How much input plat takes at its edges, in one place the CLI and the daemon share.

The CLI refuses a file or context over these before sending it; the daemon refuses a request
over them before reading or parsing it. ``json_too_deep`` lets the daemon refuse a body of
thousands of nested brackets before a JSON decoder (or anyone's recursion) sees it.
Standard library only.
"""

from __future__ import annotations

import re

KIB = 1024
MIB = 1024 * KIB
MAX_BODY = 1 * MIB  # a JSON request: manifests, config and secret values are small
MAX_BUILD_CONTEXT = 512 * MIB  # the tar ``plat deploy --build`` uploads
MAX_BUILD_FILES = 100_000
MAX_JSON_DEPTH = 32  # no request of the API nests deeper than three or four levels
MAX_CURSOR = 2**63 - 1  # cursors are SQLite integers
MAX_UNIX_TIME = 1e11  # seconds since 1970: year 5138, and still a float SQLite compares
MAX_QUERY_TEXT = 256  # a name, an id, a time or a cursor given in a query string
MAX_CLUSTER_CURSOR = 16 * KIB  # ``plat logs -f`` on a cluster: one cursor per host, 256 at most
MAX_QUERY_WAIT = 86_400.0  # a long poll may ask this much; the daemon holds at most a minute

_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects more than ``limit`` deep.

    Brackets inside strings do not count. Malformed JSON is not judged here: the decoder
    refuses it, with its own words, once the depth is known to be harmless.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False
