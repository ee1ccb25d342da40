"""plat init, manifest check, deploy, wait, releases, rollback and scale."""

from __future__ import annotations

import argparse
import time

from platd.spec.errors import InvalidInput, RolloutFailed, Superseded, TimedOut
from tui.cli.context import Ctx, reconnecting
from tui.cli.options import finite_float, json_options, path_arg

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from platd.spec.manifest import Manifest

# The manifest parser, the gate, tarfile and the renderers are imported by the handlers that
# use them: registering this module runs on every `plat` start.

DEFAULT_TIMEOUT = 300.0
POLL_WAIT = 20.0


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
        default=DEFAULT_TIMEOUT,
        help=f"seconds to follow the rollout (default {DEFAULT_TIMEOUT:g})",
    )
    p.set_defaults(handler=deploy)

    p = sub.add_parser(
        "wait",
        parents=[common],
        help="wait until a release converges or fails",
        description="Exit 0 when converged, 8 when the rollout failed (or the release "
        "converged and then degraded), 9 on timeout.",
    )
    p.add_argument("release", nargs="?", help="release (v3, an id or id prefix; default: current)")
    p.add_argument("--timeout", type=finite_float, default=DEFAULT_TIMEOUT)
    p.add_argument("--quiet", "-q", action="store_true", help="do not print events")
    p.set_defaults(handler=wait)

    p = sub.add_parser("releases", parents=[common], help="list the env's releases")
    p.set_defaults(handler=releases)

    p = sub.add_parser(
        "rollback",
        parents=[common],
        help="point the env back at an earlier release",
        description="Without RELEASE, picks the most recent release before the "
        "current one that converged healthy, skipping (and naming) failed and degraded ones. "
        "Nothing is rebuilt or re-resolved. RELEASE may be the current release when its "
        "rollout failed: that retries it as it is. Rolling back to a release whose last "
        "rollout failed or degraded asks first (--yes in scripts).",
    )
    p.add_argument("release", nargs="?", help="v3, an id or a unique id prefix")
    p.add_argument("--yes", "-y", action="store_true",
                   help="roll back even to a release that failed or degraded before")
    p.add_argument("--detach", action="store_true")
    p.add_argument("--timeout", type=finite_float, default=DEFAULT_TIMEOUT)
    p.set_defaults(handler=rollback)

    p = sub.add_parser("scale", parents=[common], help="change a workload's count, cpu or memory")
    p.add_argument("workload")
    p.add_argument("--count", type=int)
    p.add_argument("--min", type=int, help="v1 runs a fixed count: --min must equal --max")
    p.add_argument("--max", type=int)
    p.add_argument("--cpu", type=finite_float, help="cores per instance, e.g. 0.5")
    p.add_argument("--memory", help="memory per instance, e.g. 256M or 1G")
    p.add_argument("--reset", action="store_true",
                   help="drop this env's scale of the workload: follow plat.toml again")
    p.add_argument("--region", help="run its instances only on hosts of this region")
    p.add_argument("--label", action="append", default=[], metavar="NAME=VALUE",
                   help="run its instances only on hosts with this label (repeat for more)")
    p.add_argument("--placement-reset", action="store_true",
                   help="drop --region/--label given before: follow plat.toml's placement")
    p.set_defaults(handler=scale)


def _read_manifest(ctx: Ctx, path: Path) -> tuple[str, Manifest]:
    from platd.spec.manifest import parse_manifest

    text = _manifest_text(ctx, path)
    return text, parse_manifest(text, str(path))


def _manifest_text(ctx: Ctx, path: Path) -> str:
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
    from tui.render.receipts import receipt

    target = ctx.target()
    text = _manifest_text(ctx, ctx.args.file)
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
        ctx, target, r["release"]["id"], ctx.args.timeout, after=r["event_cursor"]
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


def follow_release(
    ctx: Ctx, target: str, release_id: str, timeout: float, quiet: bool = False, after: int = 0
) -> int:
    """Print the release's events until its rollout converges (0) or fails (8); 9 on timeout.

    A lost connection to platd (a restart) is ridden out up to the reconnect bound, within the
    same deadline: the rollout goes on in the daemon, and the events resume from ``after``."""
    from platd.spec.errors import DaemonUnreachable
    from tui.follow import follow
    from tui.render.connection import RESUME_EVENTS
    from tui.render.events import event_line

    deadline = time.monotonic() + timeout
    path = ctx.client.env_path(target, "/events")
    ask = reconnecting(ctx, RESUME_EVENTS, until=deadline, hint=[
        f"platd goes on with the rollout while it runs; follow it again with: "
        f"plat wait {release_id} --target {target}"])

    def poll(after: int) -> Any:
        left = max(0.0, deadline - time.monotonic())
        return ctx.client.request(
            "GET", path, query={"after": after, "release": release_id,
                                "wait": min(POLL_WAIT, left)},
            timeout=POLL_WAIT + 10,
        )

    lost = ""
    try:
        if time.monotonic() < deadline:
            for page in follow(poll, after, ask):
                for e in page["events"]:
                    if not quiet:
                        ctx.say(event_line(e))
                    if e["step"] == "rollout" and e["outcome"] == "superseded":
                        raise _superseded(ctx, target, release_id, e)
                    if e["step"] == "rollout" and e["outcome"] in ("ok", "failed"):
                        known = page.get("release") if e["outcome"] == "ok" else None
                        return ask(_conclude, ctx, target, release_id, known)
                if time.monotonic() >= deadline:
                    break
    except DaemonUnreachable as exc:
        if time.monotonic() < deadline:
            raise  # the reconnect bound came first
        lost = f"; at the end platd could not be reached ({exc.message})"
    raise TimedOut(
        f"release {release_id} did not converge within {timeout:g}s{lost}",
        hint=[
            f"keep waiting: plat wait {release_id} --target {target}",
            f"see why: plat status --target {target}",
        ],
    )


def _superseded(ctx: Ctx, target: str, release_id: str, event: dict[str, Any]) -> Exception:
    """The followed release will never converge: another deploy or rollback replaced it."""
    return Superseded(
        event["message"],
        hint=[f"follow the release that replaced it: plat wait --target {target}",
              f"see every release: plat releases --target {target}"],
        details={"release": release_id},
    )


def _conclude(
    ctx: Ctx, target: str, release_id: str, known: dict[str, Any] | None = None
) -> int:
    """The verdict on a rollout that ended. ``known``: the release's id, version and status
    as the events page with its `ok` said (platd adds them to a page filtered by release); when
    that is not a failure and only the version is printed, no request is needed."""
    from tui.render.releases import failure_lines

    wants_release = ctx.json and ctx.args.handler is wait
    if (isinstance(known, dict) and known.get("id") == release_id and not wants_release
            and isinstance(known.get("version"), str)
            and isinstance(known.get("status"), str) and known["status"] != "failed"):
        ctx.say(f"release {known['version']} converged: every instance is running and healthy")
        return 0
    rel = ctx.client.get(ctx.client.env_path(target, f"/releases/{release_id}"))
    if rel["status"] == "failed":
        status = ctx.client.get(ctx.client.env_path(target, "/status"))
        serving = sorted(
            {
                i["release"]
                for w in status["workloads"]
                for i in w["instances"]
                if i["state"] == "running" and i["release"] != rel["version"]
            }
        )
        raise RolloutFailed(
            "\n".join(failure_lines(rel, target, ", ".join(serving) or None,
                                     _retry_command(ctx, target))),
            details={"release": rel},
        )
    if wants_release:
        ctx.out(
            rel
        )  # `plat wait --json` answers with the release; deploy already printed its receipt
    else:
        ctx.say(f"release {rel['version']} converged: every instance is running and healthy")
    return 0


def _current_release(ctx: Ctx, target: str) -> str:
    rows = ctx.client.get(ctx.client.env_path(target, "/releases"))["releases"]
    current = next((r for r in rows if r["current"]), None)
    if current is None:
        raise InvalidInput(
            f"{target} has no release to wait for",
            hint=f"deploy one: plat deploy -f plat.toml --target {target}",
        )
    return str(current["id"])


def wait(ctx: Ctx) -> int:
    target = ctx.target()
    wanted = ctx.args.release or _current_release(ctx, target)
    rel = ctx.client.get(ctx.client.item_path(target, "releases", wanted, "release"))
    if rel["status"] == "converged":
        ctx.out(rel, [f"release {rel['version']} has converged"])
        return 0
    if rel["status"] == "failed":
        return _conclude(ctx, target, rel["id"])
    if rel["status"] == "degraded":
        from tui.render.releases import degraded_lines

        raise RolloutFailed("\n".join(degraded_lines(rel, target)), details={"release": rel})
    if rel["status"] == "superseded":
        listed = ctx.client.get(ctx.client.env_path(target, "/releases"))["releases"]
        now = next((r for r in listed if r["current"]), None)
        by = f"v{now['seq']}" if now is not None else "another release"
        raise Superseded(
            f"release {rel['version']} was superseded by {by}; nothing will converge it",
            hint=[f"follow the current release: plat wait --target {target}",
                  f"see every release: plat releases --target {target}"],
        )
    return follow_release(
        ctx,
        target,
        rel["id"],
        ctx.args.timeout,
        quiet=ctx.args.quiet,
        after=rel.get("rollout_cursor", 0),
    )


def releases(ctx: Ctx) -> int:
    from tui.render.releases import releases_lines

    target = ctx.target()
    r = ctx.client.get(ctx.client.env_path(target, "/releases"))
    ctx.out(r, releases_lines(r))
    return 0


def _retry_command(ctx: Ctx, target: str) -> str | None:
    """The deploy that made the failed release, as it was typed (None: not a deploy)."""
    if ctx.args.handler is not deploy:
        return None
    import shlex

    words = ["plat", "deploy", "-f", str(ctx.args.file)]
    for image in ctx.args.image:
        words += ["--image", image]
    if ctx.args.build is not None:
        words += ["--build", str(ctx.args.build)]
    return shlex.join([*words, "--target", target])


def rollback(ctx: Ctx) -> int:
    from platd.spec.errors import Conflict
    from tui.render.receipts import receipt

    target = ctx.target()
    path = ctx.client.env_path(target, "/rollback")
    body = {"release": ctx.args.release, "accept_failed": ctx.args.yes}
    try:
        r = ctx.client.post(path, body)
    except Conflict as e:
        if "failed_before" not in e.details or not _confirm_failed(ctx, e):
            raise
        r = ctx.client.post(path, {**body, "accept_failed": True})
    ctx.out(r, receipt(r))
    if ctx.args.detach:
        return 0
    return follow_release(
        ctx, target, r["release"]["id"], ctx.args.timeout, after=r["event_cursor"]
    )


def _confirm_failed(ctx: Ctx, refusal: Any) -> bool:
    """Warn that the chosen release failed before and ask; False: refuse as platd did."""
    from tui.render.receipts import failed_before_lines, rollback_question

    if ctx.json or not ctx.interactive:
        return False  # nobody to ask: platd's refusal says to pass --yes
    info = refusal.details["failed_before"]
    for line in failed_before_lines(info):
        ctx.note(line.strip())
    answer = ctx.ask(rollback_question(info))
    if answer is None or answer.strip().lower() not in ("y", "yes"):
        raise InvalidInput(
            f"not rolled back: {info['version']} {info['summary']}",
            hint=refusal.hint[1:],
        )
    return True


def _placement_rule(region: str | None, labels: list[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"region": region} if region else {}
    pairs = {}
    for text in labels:
        name, sep, value = text.partition("=")
        if not sep or not name or not value:
            raise InvalidInput(f"--label {text!r} is not NAME=VALUE",
                               hint="e.g. --label disk=ssd (see the hosts' labels: plat hosts)")
        pairs[name] = value
    if pairs:
        rule["labels"] = pairs
    return rule


def scale(ctx: Ctx) -> int:
    from tui.render.receipts import scale_receipt

    target = ctx.target()
    a = ctx.args
    body: dict[str, Any] = {
        "workload": a.workload,
        "count": a.count,
        "min": a.min,
        "max": a.max,
        "cpu": a.cpu,
        "memory": a.memory,
        "reset": a.reset,
    }
    if a.region is not None or a.label or a.placement_reset:
        body["placement"] = {} if a.placement_reset else _placement_rule(a.region, a.label)
    r = ctx.client.post(ctx.client.env_path(target, "/scale"), body)
    ctx.out(r, scale_receipt(r))
    return 0
