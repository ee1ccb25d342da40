"""The manifest, ``plat.toml``: what a user declares about an app, as plain typed values.

This module holds the types and ``parse_manifest``; the rules live in ``manifest_rules`` so this
file reads as the contract. The types are frozen dataclasses so a release can carry a manifest
snapshot that nothing can edit, and ``to_dict``/``from_dict`` give the JSON form stored in a
release and sent over the wire.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Literal

# Without a health check, "running" says nothing about a process that dies after a few seconds:
# an instance must stay up this long to count as ready (Nomad's min_healthy_time, Kubernetes'
# minReadySeconds).
DEFAULT_MIN_READY = 10.0


@dataclass(frozen=True)
class HttpCheck:
    port: int
    path: str = "/"


@dataclass(frozen=True)
class HealthCheck:
    """How the platform decides an instance is ready to take traffic."""

    tcp: int | None = None
    http: HttpCheck | None = None
    interval: float = 1.0  # seconds between probes once running
    timeout: float = 2.0  # seconds one probe may take
    retries: int = 3  # consecutive failures before unhealthy
    grace: float = 30.0  # seconds a new instance has to become healthy

    @property
    def port(self) -> int | None:
        return self.tcp if self.tcp is not None else (self.http.port if self.http else None)


@dataclass(frozen=True)
class BuildSpec:
    context: str = "."
    dockerfile: str = "Dockerfile"


@dataclass(frozen=True)
class PlacementRule:
    """Where a workload's instances may run: a host's region and labels (``plat hosts``)."""

    region: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PlacementRule | None:
        if not data:
            return None
        return cls(region=data.get("region"), labels=dict(data.get("labels") or {}))


@dataclass(frozen=True)
class Workload:
    name: str
    image: str | None = None  # an image reference; exactly one of image/build
    build: BuildSpec | None = None
    command: tuple[str, ...] | None = None
    count: int = 1
    cpu: float = 0.5  # cores
    memory: int = 128 * 1024 * 1024  # bytes
    health: HealthCheck | None = None
    ports: tuple[int, ...] = ()  # extra internal ports to publish on loopback
    # Seconds an instance must stay up before it counts as ready (None: the default, which is
    # DEFAULT_MIN_READY without a health check and nothing beyond the check with one).
    min_ready: float | None = None

    @property
    def ready_after(self) -> float:
        """Seconds of running an instance needs, besides any health check, to count as ready."""
        if self.min_ready is not None:
            return self.min_ready
        return 0.0 if self.health is not None else DEFAULT_MIN_READY
    placement: PlacementRule | None = None  # region and labels its hosts must have


@dataclass(frozen=True)
class Endpoint:
    name: str
    workload: str
    internal_port: int
    external_ports: tuple[int, ...]
    protocol: Literal["tcp"] = "tcp"
    ipv6: bool = True
    ipv4: bool = False
    proxy_protocol: Literal["v2"] | None = None


@dataclass(frozen=True)
class VolumeMount:
    name: str
    workload: str
    mount: str
    read_only: bool = False


@dataclass(frozen=True)
class Manifest:
    app: str
    workloads: dict[str, Workload]
    required_env: tuple[str, ...] = ()
    # Keys the app reads when set and does without otherwise; any other key set on the env is
    # refused at deploy (``spec.gate``), so nothing reaches a workload that nobody declared.
    optional_env: tuple[str, ...] = ()
    secret_bundles: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    volumes: tuple[VolumeMount, ...] = ()
    # Where each dotted field path was written in the source, for errors that cite lines.
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("lines", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Rebuild a manifest already validated once (from a release or the wire)."""
        workloads = {}
        for name, w in data["workloads"].items():
            health = w.get("health")
            if health is not None:
                http = health.get("http")
                health = HealthCheck(**{**health, "http": HttpCheck(**http) if http else None})
            build = BuildSpec(**w["build"]) if w.get("build") else None
            command = tuple(w["command"]) if w.get("command") is not None else None
            workloads[name] = Workload(
                **{
                    **w,
                    "health": health,
                    "build": build,
                    "command": command,
                    "ports": tuple(w.get("ports", ())),
                    "placement": PlacementRule.from_dict(w.get("placement")),
                }
            )
        return cls(
            app=data["app"],
            workloads=workloads,
            required_env=tuple(data.get("required_env", ())),
            optional_env=tuple(data.get("optional_env", ())),
            secret_bundles=tuple(data.get("secret_bundles", ())),
            endpoints=tuple(
                Endpoint(**{**e, "external_ports": tuple(e["external_ports"])})
                for e in data.get("endpoints", ())
            ),
            volumes=tuple(VolumeMount(**v) for v in data.get("volumes", ())),
        )


@dataclass(frozen=True)
class ManifestIssue:
    """One problem in a manifest: the dotted field path, the line (0 if unknown), and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


def parse_manifest(text: str, source: str = "plat.toml") -> Manifest:
    """Parse and validate ``plat.toml`` text; raises ManifestInvalid listing every problem."""
    # Imported here because the rules module builds the types defined above.
    from platd.spec.manifest_rules import parse

    return parse(text, source)
