"""plat init and plat manifest check: writing and checking a plat.toml, no daemon needed.

They work on the local file only, so they run before any daemon exists (a first deploy starts
here). The manifest parser and the renderers are imported by the handlers: registering this
module runs on every `plat init` and `plat manifest` start.
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import json_options, path_arg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from platd.spec.manifest import Manifest


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init", parents=[json_options()], help="write a starter plat.toml for an image",
        description="Writes a plat.toml that deploys IMAGE as one workload (no daemon needed). "
        "With --port, the workload gets a TCP health check on it and a commented-out endpoint "
        "to expose it. Refuses to overwrite an existing file.")
    p.add_argument("image", help="the image, with its registry: 127.0.0.1:5000/hello:v1")
    p.add_argument("--app", help="the app's name (default: the default target's app, else the "
                   "image's name)")
    p.add_argument("--port", type=int, help="the port the image listens on")
    p.add_argument("-f", "--file", type=path_arg, default="plat.toml")
    p.set_defaults(handler=init)

    m = sub.add_parser("manifest", help="work with plat.toml")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = msub.add_parser("check", parents=[common], help="validate a manifest (no daemon needed)")
    p.add_argument("-f", "--file", type=path_arg, default="plat.toml")
    p.set_defaults(handler=manifest_check)


def _read_manifest(ctx: Ctx, path: Path) -> tuple[str, Manifest]:
    from platd.spec.manifest import parse_manifest

    text = manifest_text(ctx, path)
    return text, parse_manifest(text, str(path))


def manifest_text(ctx: Ctx, path: Path) -> str:
    """The manifest at ``path``, read through the bounded reader (``plat deploy`` uses it too)."""
    from tui.cli.files import MAX_MANIFEST

    return ctx.read_text(path, "manifest", MAX_MANIFEST,
                         "pass -f PATH with the path of a plat.toml (see docs/manifest.md)")


def init(ctx: Ctx) -> int:
    import re

    from platd.spec.manifest import parse_manifest
    from platd.spec.names import NAME_RE
    from tui.render.starter import init_lines, starter_manifest

    a = ctx.args
    if a.file.exists():
        raise InvalidInput(f"{a.file} already exists; nothing was written",
                           hint=f"check it with: plat manifest check -f {a.file}, or pass -f "
                           "ANOTHER.toml")
    if a.port is not None and not 1 <= a.port <= 65535:
        raise InvalidInput(f"port {a.port} is out of range (1-65535)",
                           hint="pass --port with the port the image listens on")
    target = [p for p in (ctx.settings.default_target or "").split("/") if p]
    name = a.app or (target[2] if len(target) == 4 else None)
    if name is None:  # the image's own name: "127.0.0.1:5000/team/hello:v1" -> "hello"
        last = a.image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
        name = re.sub(r"[^a-z0-9-]+", "-", last).strip("-")[:40] or "app"
        name = name if name[0].isalpha() else f"app-{name}"[:40].rstrip("-")
    if not NAME_RE.match(name):
        raise InvalidInput(f"{name!r} is not a valid app name: use 1-40 lowercase letters, "
                           "digits and '-', starting with a letter", hint="pass --app NAME")
    text = starter_manifest(name, a.image, a.port)
    parse_manifest(text, str(a.file))  # what plat writes must deploy: refuse rather than lie
    try:
        with a.file.open("x") as f:
            f.write(text)
    except OSError as e:
        raise InvalidInput(f"cannot write {a.file}: {e.strerror}",
                           hint="pass -f PATH in a directory you can write") from None
    ctx.out({"file": str(a.file), "app": name, "manifest": text},
            init_lines(str(a.file), name, "/".join(target) if len(target) == 4 else None))
    return 0


def manifest_check(ctx: Ctx) -> int:
    _text, manifest = _read_manifest(ctx, ctx.args.file)
    lines = [
        f"{ctx.args.file} is valid: app {manifest.app}, "
        f"{len(manifest.workloads)} workload(s): {', '.join(manifest.workloads)}"
    ]
    if manifest.required_env:
        lines.append(f"  requires env vars: {', '.join(manifest.required_env)}")
    if manifest.secret_bundles:
        lines.append(f"  requires secret bundles: {', '.join(manifest.secret_bundles)}")
    ctx.out({"valid": True, "manifest": manifest.to_dict()}, lines)
    return 0
