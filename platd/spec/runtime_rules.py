"""What a manifest may ask to run inside an instance, checked when it is deployed.

A value that only fails once Docker or the health checker sees it (a NUL byte in a command, a
health-check path with CR/LF that would forge an HTTP header, a volume over ``/proc``) would be
found at run time as a crash loop, or not at all. These rules find it at deploy time, so the
manifest error can cite the line. Each function returns the problem in words, or None.

Pure functions of strings: no I/O, used by ``platd.spec.manifest_rules`` and the API.
"""

from __future__ import annotations

import posixpath

SECRETS_DIR = "/run/secrets"
# Kernel and runtime file systems Docker mounts itself: a volume over one of them hides what
# the container needs to run (or, read-write over /sys, what the host exposes).
RESERVED_MOUNTS = ("/proc", "/sys", "/dev")
MAX_HTTP_PATH = 2048
MAX_ARG = 64 * 1024
MAX_BUILD_PATH = 1024
MAX_IMAGE_REF = 512
_CONTROL_NAMES = {"\0": "a NUL byte", "\r": "a carriage return (CR)", "\n": "a line feed (LF)",
                  "\t": "a tab"}


def control_char(text: str) -> str | None:
    """The first control character in ``text``, spelled as a reader can see it, or None."""
    for char in text:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return _CONTROL_NAMES.get(char, f"the control character {ord(char):#04x}")
    return None


def http_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be the path of an HTTP health check (it is sent as-is in a request
    line, so a CR/LF would end the line and inject headers)."""
    if not path.startswith("/"):
        return f'must start with "/", got {_quote(path)}'
    if len(path) > MAX_HTTP_PATH:
        return f"must be at most {MAX_HTTP_PATH} characters, got {len(path)}"
    bad = control_char(path)
    if bad or " " in path:
        return (f"holds {bad or 'a space'}, which cannot be sent in an HTTP request line; "
                "percent-encode it (%20, %0D, %0A) or remove it")
    return None


def command_arg_problem(arg: str) -> str | None:
    """Why ``arg`` cannot be one word of a container's command (the kernel ends every
    argument at a NUL byte, so Docker refuses it when the instance starts)."""
    if "\0" in arg:
        return "holds a NUL byte, which no program argument can carry; remove it"
    if len(arg.encode()) > MAX_ARG:
        return f"is longer than {MAX_ARG // 1024} KiB; pass large values as config or a file"
    return None


def image_problem(ref: str) -> str | None:
    """Why ``ref`` cannot be an image reference (the registry parser would otherwise meet a
    NUL or a newline only when the image is resolved, or pass it on to Docker)."""
    if not ref or len(ref) > MAX_IMAGE_REF or any(ch.isspace() for ch in ref) or control_char(ref):
        return (f'expected an image reference like "registry:5000/name:tag" (at most '
                f"{MAX_IMAGE_REF} characters, no spaces or control characters), got {_quote(ref)}")
    return None


def mount_problem(mount: str) -> str | None:
    """Why a volume cannot be mounted at ``mount`` inside the container."""
    bad = control_char(mount)
    if bad:
        return f"a mount path may not hold {bad}"
    if not mount.startswith("/"):
        return 'use an absolute path such as "/data"'
    if not mount.strip("/"):
        return "a volume cannot be mounted over the container's root; use a directory"
    if ".." in mount.split("/"):
        return 'a mount path may not contain ".."'
    # "//proc" is "/proc" to the kernel, though POSIX lets normpath keep two leading slashes.
    normal = posixpath.normpath("/" + mount.lstrip("/"))
    if normal == SECRETS_DIR or normal.startswith(SECRETS_DIR + "/"):
        return f"{SECRETS_DIR} is where secret bundles are delivered; choose another path"
    for reserved in RESERVED_MOUNTS:
        if normal == reserved or normal.startswith(reserved + "/"):
            return (f"{reserved} is the kernel's and the runtime's, not a place for a volume; "
                    'choose a directory such as "/data"')
    return None


def build_path_problem(path: str, what: str, base: str = "the manifest's directory") -> str | None:
    """Why ``path`` cannot be a build context or dockerfile: it must be relative and stay
    inside the directory it is relative to (the manifest's, or the context), so a manifest
    cannot send ``/etc`` or ``../..`` to the builder."""
    bad = control_char(path)
    if bad:
        return f"a {what} path may not hold {bad}"
    if len(path) > MAX_BUILD_PATH:
        return f"a {what} path must be at most {MAX_BUILD_PATH} characters"
    if path.startswith("/"):
        return f"a {what} must be a path relative to {base}, got {_quote(path)}"
    if ".." in posixpath.normpath(path).split("/"):
        return f"a {what} must stay inside {base}, got {_quote(path)}"
    return None


def _quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
