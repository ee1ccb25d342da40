"""``plat deploy --build``: build an uploaded context into an image, push it, pin it.

The build runs on this host's builder (the Docker engine) and pushes to the registry in
``platd.toml``; the answer is the pushed image pinned by digest, which the CLI then deploys like
any other image. A host without a builder (the fake runtime) refuses with the way around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from platd.auth.tokens import Principal
from platd.runtime.base import RuntimeError_
from platd.services import tenancy
from platd.services.context import ServiceContext
from platd.spec.errors import ImageError, InvalidInput


def build_tag(registry: str, path: str, now: float) -> str:
    """Where a build of the env at ``path`` is pushed: a repository per org, project and app
    (two orgs' apps of one name never share one), tagged with the env and the time."""
    org, project, app, env = path.split("/")
    return f"{registry}/{org}/{project}/{app}:{env}-{int(now)}"


def _may_build(ctx: ServiceContext, principal: Principal, target: str) -> str:
    with ctx.store.read() as session:
        ref = tenancy.resolve_env(session, principal, target)
        principal.require(ref.org.id, "deployer")
        return ref.path


async def build(
    ctx: ServiceContext, principal: Principal, target: str,
    read_context: Callable[[], Awaitable[bytes]], dockerfile: str = "Dockerfile",
) -> dict[str, Any]:
    """Build the tar ``read_context`` returns (read only once the caller may build here)."""
    path = await asyncio.to_thread(_may_build, ctx, principal, target)
    builder = ctx.images.build
    if builder is None:
        raise ImageError("this daemon has no image builder", hint="deploy with --image REF")
    context = await read_context()
    if not context:
        raise InvalidInput(
            "the build context is empty", hint="plat deploy --build DIR sends DIR as a tar"
        )
    tag = build_tag(ctx.images.registry, path, ctx.clock.time())
    try:
        pinned = await builder(context, tag, dockerfile)
    except RuntimeError_ as exc:
        # The builder's own words (the failing step, its last lines); a bare 500 said nothing.
        raise ImageError(
            str(exc),
            hint=["fix the Dockerfile or the context, then deploy again",
                  "try the build locally: docker build -f DOCKERFILE CONTEXT"],
        ) from None
    return {"tag": tag, "image": pinned}
