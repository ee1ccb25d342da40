"""Turn an image reference into a pinned ``registry/repo@sha256:...`` by asking its registry.

A release must never point at a moving tag, so the tag is resolved once, when the release is
created, with the OCI distribution API (``HEAD /v2/<repo>/manifests/<tag>``). This talks to the
registry directly rather than through the engine: it works on a host without Docker, and its
errors can say precisely what is wrong (no such tag, and which tags exist; no such repository;
registry down) instead of relaying the engine's generic pull failure.

Only registries on the host's allow-list (``check_allowed``; ``allowed_registries`` in
platd.toml) are ever contacted. Only anonymous registries are supported for now; a registry that
asks for credentials gets a clear error. Loopback registries are spoken to over http (like
Docker's default insecure range), all others over https.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from platd.hints import local_registry_hint
from platd.spec.errors import ImageError

__all__ = ["ImageRef", "check_allowed", "parse_reference", "resolve_digest"]

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
_HOST_RE = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference: ``registry/repository[:tag][@digest]``."""

    registry: str  # host[:port], e.g. "127.0.0.1:5000"
    repository: str  # path inside the registry, e.g. "hello" or "team/hello"
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest if known, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def host(self) -> str:
        """The registry host without port or IPv6 brackets."""
        host = self.registry
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def base_url(self) -> str:
        scheme = "http" if self.is_loopback else "https"
        return f"{scheme}://{self.registry}/v2/{self.repository}"

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _needs_registry(reference: str) -> ImageError:
    return ImageError(
        f"image reference {reference!r} names no registry",
        hint=[
            "plat pulls images from an OCI registry by digest; name the registry, e.g. "
            "127.0.0.1:5000/hello:v1",
            f"push the image there first (docker push); {local_registry_hint()}",
        ],
        details={"reference": reference},
    )


def parse_reference(reference: str) -> ImageRef:
    """Parse ``registry[:port]/repo[/more][:tag][@digest]``; the tag defaults to ``latest``.

    The first path component counts as a registry host only when it looks like one (has a dot or
    a port, is ``localhost`` or a bracketed IPv6 address), as Docker decides it.
    """
    ref = reference.strip()
    if not ref:
        raise ImageError("the image reference is empty", hint="e.g. 127.0.0.1:5000/hello:v1")
    if any(c.isspace() for c in ref):
        raise ImageError(f"image reference {reference!r} contains whitespace")
    first, slash, rest = ref.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost" or first.startswith("[")
    if not slash or not looks_like_host:
        raise _needs_registry(reference)
    if not _HOST_RE.match(first):
        raise ImageError(f"{first!r} in {reference!r} is not a valid registry host[:port]")

    digest: str | None = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ImageError(
                f"{digest!r} in {reference!r} is not a valid digest",
                hint="a digest looks like sha256: followed by 64 hex digits",
            )
    tag: str | None = None
    last_slash = rest.rfind("/")
    if ":" in rest[last_slash + 1 :]:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise ImageError(f"{tag!r} in {reference!r} is not a valid tag")
    if not _REPO_RE.match(rest):
        raise ImageError(
            f"{rest!r} in {reference!r} is not a valid repository name",
            hint="repository names are lowercase letters, digits and . _ - separated by /",
        )
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry=first, repository=rest, tag=tag, digest=digest)


def check_allowed(reference: str, allowed: Sequence[str]) -> ImageRef:
    """The parsed reference, if its registry is one this host may talk to; else ImageError.

    Resolving a reference connects to the registry it names: without this list a deployer
    could make platd connect to any host:port and tell open, closed and filtered ports apart by
    the error. The refusal comes before any connection and reads the same whatever the host.
    """
    ref = parse_reference(reference)
    if ref.registry.lower() not in {a.lower() for a in allowed}:
        raise ImageError(
            f"registry {ref.registry} is not one this host pulls from",
            hint=[f"registries allowed here: {', '.join(allowed) or 'none'}",
                  "push the image to one of them, or ask an operator to add the registry to "
                  "allowed_registries in platd.toml"],
            details={"reference": reference, "registry": ref.registry},
        )
    return ref


async def resolve_digest(reference: str, *, timeout: float = 10.0) -> str:
    """Return ``registry/repo@sha256:...`` for ``reference``; raise ImageError saying why not.

    A reference that already carries a digest is checked to exist in the registry.
    """
    ref = parse_reference(reference)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            digest = await _manifest_digest(session, ref)
            if digest is None:
                raise await _not_found(session, ref)
            return ref.pinned(digest)
    except aiohttp.ClientConnectorError as exc:
        raise _unreachable(ref, _connect_reason(exc)) from exc
    except TimeoutError as exc:
        raise _unreachable(ref, f"no answer within {timeout:g}s") from exc
    except aiohttp.ClientError as exc:
        raise _unreachable(ref, str(exc) or type(exc).__name__) from exc


async def _manifest_digest(session: aiohttp.ClientSession, ref: ImageRef) -> str | None:
    """The manifest's digest, or None when the registry says it does not exist."""
    url = f"{ref.base_url}/manifests/{ref.reference}"
    headers = {"Accept": MANIFEST_TYPES}
    async with session.head(url, headers=headers) as resp:
        if resp.status == 404:
            return None
        _raise_for_status(ref, resp.status)
        digest = resp.headers.get("Docker-Content-Digest")
    if digest:
        return digest
    # Some registries omit the digest header on HEAD; the body's hash is the digest.
    async with session.get(url, headers=headers) as resp:
        if resp.status == 404:
            return None
        _raise_for_status(ref, resp.status)
        body = await resp.read()
        return resp.headers.get("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(body).hexdigest()
        )


def _raise_for_status(ref: ImageRef, status: int) -> None:
    if status < 300:
        return
    if status in (401, 403):
        raise ImageError(
            f"registry {ref.registry} refused access to {ref.repository} (HTTP {status})",
            hint="plat supports anonymous registries only for now; push the image to one",
            details={"reference": str(ref), "status": status},
        )
    raise ImageError(
        f"registry {ref.registry} answered HTTP {status} for {ref}",
        details={"reference": str(ref), "status": status},
    )


async def _not_found(session: aiohttp.ClientSession, ref: ImageRef) -> ImageError:
    """Explain a missing manifest: is the repository there, and which tags does it have?"""
    tags = await _list_tags(session, ref)
    details: dict[str, object] = {"reference": str(ref), "registry": ref.registry}
    if tags is None:
        return ImageError(
            f"repository {ref.repository} not found in registry {ref.registry}",
            hint=f"push it first: docker push {ref.name}:{ref.tag or 'latest'}",
            details=details,
        )
    details["tags"] = tags
    what = f"image {ref}" if ref.digest is None else f"digest {ref.digest} of {ref.name}"
    there = f"tags there: {', '.join(tags)}" if tags else "no tags there"
    return ImageError(
        f"{what} not found in registry {ref.registry} ({there})",
        hint="check the tag, or build and push it first",
        details=details,
    )


async def _list_tags(session: aiohttp.ClientSession, ref: ImageRef) -> list[str] | None:
    """The repository's tags, sorted; None when the repository does not exist."""
    async with session.get(f"{ref.base_url}/tags/list") as resp:
        if resp.status == 404:
            return None
        if resp.status >= 300:
            return []
        data = await resp.json(content_type=None)
    tags = data.get("tags") if isinstance(data, dict) else None
    return sorted(str(t) for t in tags or [])


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    os_error = exc.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused"
    return os_error.strerror or str(os_error) or "cannot connect"


def _unreachable(ref: ImageRef, reason: str) -> ImageError:
    message = f"cannot reach registry {ref.registry}: {reason}; is it running?"
    if ref.is_loopback:
        message += " " + local_registry_hint()
        hint = [f"start it: {local_registry_hint()}"]
    else:
        hint = [f"check that {ref.registry} is the right host and port and reachable from here"]
    return ImageError(
        message,
        hint=hint,
        details={"reference": str(ref), "registry": ref.registry, "reason": reason},
    )
