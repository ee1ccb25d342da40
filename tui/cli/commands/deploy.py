"""plat deploy: the manifest, images and builds to a release, then its rollout followed.

The daemon checks the manifest and the config gate itself; plat parses the manifest only when
it must know which workload a bare ``--image`` is for or what to build, and runs the gate
before a build so that a refusal costs none of it. The follow is ``plat wait``'s
(``tui.cli.commands.wait``). The manifest parser, the gate, tarfile and the renderers are
imported by the handlers that use them.
"""

from __future__ import annotations

import argparse

from platd.spec.errors import InvalidInput
from tui.cli.context import Ctx
from tui.cli.options import ROLLOUT_TIMEOUT, finite_float, path_arg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from platd.spec.manifest import Manifest


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "deploy",
        parents=[common],
        help="create a release and roll it out",
        description="Validates the manifest and the config gate, pins each image "
        "to its digest, creates an immutable release, prints a receipt, then "
        "follows the rollout (unless --detach).",
    )
    p.add_argument("-f", "--file", type=path_arg, default="plat.toml")
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="[WORKLOAD=]REF",
        help="deploy this image instead of the manifest's (repeatable)",
    )
    p.add_argument(
        "--build",
        type=path_arg,
        metavar="DIR",
        help="build the image from DIR with the daemon's Docker engine first",
    )
    p.add_argument("--detach", action="store_true", help="print the receipt and return")
    p.add_argument("--force", action="store_true",
                   help="create a release and roll it out even when nothing changed "
                   "(new instances replace the running ones)")
    p.add_argument(
        "--timeout",
        type=finite_float,
        default=ROLLOUT_TIMEOUT,
        help=f"seconds to follow the rollout (default {ROLLOUT_TIMEOUT:g})",
    )
    p.set_defaults(handler=deploy)


def _image_overrides(items: list[str], manifest: Manifest) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, ref = item.partition("=")
        if sep and "/" not in name and ":" not in name:
            out[name] = ref
        elif len(manifest.workloads) == 1:
            out[next(iter(manifest.workloads))] = item
        else:
            raise InvalidInput(
                f"--image {item} does not say which workload it is for",
                hint=f"write --image WORKLOAD=REF; workloads: {', '.join(manifest.workloads)}",
            )
    return out


def _builds(ctx: Ctx, target: str, manifest: Manifest, manifest_dir: Path) -> dict[str, str]:
    """Build what needs building; returns workload -> pinned image."""
    wanted = {n: w for n, w in manifest.workloads.items() if w.build is not None}
    if ctx.args.build is not None and not wanted:
        if len(manifest.workloads) != 1:
            raise InvalidInput(
                "--build needs a workload with [workloads.NAME.build] in the manifest"
            )
        wanted = dict(manifest.workloads)
    from tui.cli.build_context import check_dockerfile, manifest_context, tar_context

    out = {}
    for name, w in wanted.items():
        dockerfile = w.build.dockerfile if w.build else "Dockerfile"
        if ctx.args.build is not None:  # named on the command line: the user's own choice
            context = ctx.args.build
            if context.is_dir():
                check_dockerfile(context, dockerfile, f"--build {context}: dockerfile")
        else:
            context = manifest_context(manifest_dir, w.build.context if w.build else ".",
                                       dockerfile, str(ctx.args.file), name)
        payload = tar_context(context)
        ctx.say(f"building {name} from {context} ...")
        built = ctx.client.request(
            "POST",
            ctx.client.env_path(target, "/builds"),
            raw=payload,
            content_type="application/x-tar",
            query={"dockerfile": dockerfile},
            timeout=900,
        )
        ctx.say(f"built and pushed {built['image']}")
        out[name] = built["image"]
    return out


def deploy(ctx: Ctx) -> int:
    from tui.cli.commands.manifest import manifest_text
    from tui.cli.commands.wait import follow_release
    from tui.render.receipts import receipt

    target = ctx.target()
    text = manifest_text(ctx, ctx.args.file)
    overrides: dict[str, str] = {}
    headers = {}
    # The daemon parses and checks the manifest (the same function, the same words naming the
    # file and the line): plat parses it only to learn what it needs itself, which workload a
    # bare --image is for and what to build (a manifest without the word "build" builds
    # nothing). Parsing cost a one-instance deploy 15-70 ms, a tenth of Docker's own time.
    needs_parse = ctx.args.image or ctx.args.build is not None or "build" in text
    manifest = None
    if needs_parse:
        from platd.spec.manifest import parse_manifest

        manifest = parse_manifest(text, str(ctx.args.file))
        overrides = _image_overrides(ctx.args.image, manifest)
    if manifest is not None and (
            ctx.args.build is not None or any(w.build for w in manifest.workloads.values())):
        # A build takes minutes. The release this deploy means to replace is read before it:
        # if another deploy lands meanwhile, the daemon refuses this one (If-Match) instead of
        # silently replacing a release its author never saw. Without a build nothing happens
        # between that read and the POST, so it is not made (a request per deploy).
        listed = ctx.client.get(ctx.client.env_path(target, "/releases"))["releases"]
        expected = next((str(r["id"]) for r in listed if r["current"]), "none")
        headers["If-Match"] = f'"{expected}"'
        # The gate runs here first so that a refusal costs none of the build. Without a build,
        # the daemon's own gate (the same check, the same words, before it resolves any image
        # or writes anything) is the only one: asking for the config and the secrets first
        # cost two requests per deploy.
        _gate(ctx, target, manifest)
        overrides.update(_builds(ctx, target, manifest, ctx.args.file.parent))
    r = ctx.client.post(
        ctx.client.env_path(target, "/deploy"),
        {
            "manifest": text,
            "manifest_file": str(ctx.args.file),
            "images": overrides,
            **({"force": True} if ctx.args.force else {}),
        },
        headers=headers,
    )
    if r["action"] == "unchanged":
        from tui.render.receipts import unchanged_receipt

        ctx.out(r, unchanged_receipt(r, f"{_retry_command(ctx, target)} --force"))
        return 0
    ctx.out(r, receipt(r))
    if ctx.args.detach:
        return 0
    return follow_release(
        ctx, target, r["release"]["id"], ctx.args.timeout, after=r["event_cursor"],
        retry=_retry_command(ctx, target),
    )


def _gate(ctx: Ctx, target: str, manifest: Manifest) -> None:
    from platd.spec.gate import check_gate, gate_error

    cfg = ctx.client.get(ctx.client.env_path(target, "/config"))
    bundles = ctx.client.get(ctx.client.env_path(target, "/secrets"))
    gaps: list[Any] = list(
        check_gate(
            manifest, set(cfg["values"]), {b["name"] for b in bundles}, target, str(ctx.args.file)
        )
    )
    if manifest.volumes or gaps:
        gaps += _volume_gaps(ctx, target, manifest)
    if gaps:
        raise gate_error(gaps, target)


def _volume_gaps(ctx: Ctx, target: str, manifest: Manifest) -> list[Any]:
    """The volume half of the gate: volumes that do not exist, counts that cannot share one."""
    from platd.spec.volumes import check_volumes

    if not manifest.volumes:
        return []
    listed = ctx.client.get(ctx.client.env_path(target, "/volumes"))
    names = {v["name"] for v in listed["volumes"]}
    return list(check_volumes(manifest, names, target, manifest_file=str(ctx.args.file)))


def _retry_command(ctx: Ctx, target: str) -> str:
    """This deploy as it was typed: what a failed or unchanged release says to run again."""
    import shlex

    words = ["plat", "deploy", "-f", str(ctx.args.file)]
    for image in ctx.args.image:
        words += ["--image", image]
    if ctx.args.build is not None:
        words += ["--build", str(ctx.args.build)]
    return shlex.join([*words, "--target", target])
