"""The state database's tables.

Desired state replicates between hosts, so every desired row carries ``id`` (UUIDv7), ``hlc``,
``origin`` (the host that wrote it) and ``deleted`` (a tombstone instead of a DELETE): merging two
copies of a row keeps the one with the larger ``(hlc, origin)``. Releases, config versions, secret
versions, env history and events are insert-only. Observed state (instances, release progress) is
written only by the host that owns it, so it never conflicts, and replicates the same way.

These are storage models; the API speaks in the plain dicts built by ``platd.services``.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Replicated(SQLModel):
    """The replication columns. ``hlc`` and ``origin`` are stamped by the store when a row is
    flushed (``platd.store.changes``), never by hand: callers leave them at their defaults."""

    id: str = Field(primary_key=True)
    hlc: int = Field(default=0, index=True)
    origin: str = ""
    deleted: bool = False


class Org(Replicated, table=True):
    __tablename__ = "orgs"
    name: str = Field(index=True)
    created_at: float


class Project(Replicated, table=True):
    __tablename__ = "projects"
    org_id: str = Field(index=True)
    name: str
    created_at: float


class App(Replicated, table=True):
    __tablename__ = "apps"
    project_id: str = Field(index=True)
    name: str
    created_at: float


class Env(Replicated, table=True):
    __tablename__ = "envs"
    app_id: str = Field(index=True)
    name: str
    created_at: float
    current_release_id: str | None = None
    # The env_changes row of the latest pointer move: the rollout generation that release
    # verdicts (``ReleaseState.change_id``) answer to.
    current_change_id: str | None = None


class Token(Replicated, table=True):
    """An API token; only its SHA-256 is kept. Either org-scoped (``org_id``, ``role``), a
    user's (``user_id``: it acts with that user's memberships, ``role`` is "user"), or, with
    neither, the host admin's."""

    __tablename__ = "tokens"
    token_hash: str = Field(index=True)
    hint: str  # last four characters, so people can tell tokens apart
    name: str
    org_id: str | None = Field(default=None, index=True)
    role: str
    created_at: float
    created_by: str
    user_id: str | None = Field(default=None, index=True)
    expires_at: float | None = None  # None: until revoked


class User(Replicated, table=True):
    """A person who signs in (the device flow's browser side). ``id`` is "user-NAME", so two
    hosts that create the same name at once make one row, not two people with one name.
    ``admin`` is the host-level owner the setup link makes (what the admin token can do)."""

    __tablename__ = "users"
    name: str = Field(index=True)
    password_hash: str  # argon2id, in its PHC string form
    admin: bool = False
    created_at: float
    created_by: str


class Membership(Replicated, table=True):
    """A user's role in an org. ``id`` is "USER_ID:ORG_ID": one row per pair, merged by the
    usual rule when two hosts change it at once."""

    __tablename__ = "memberships"
    user_id: str = Field(index=True)
    org_id: str = Field(index=True)
    role: str  # owner | deployer | viewer
    created_at: float
    created_by: str
    updated_at: float


class Invite(Replicated, table=True):
    """A single-use, expiring link: the setup link (``kind`` setup: the first host admin) or
    an org invite for one person. Only the code's SHA-256 is kept."""

    __tablename__ = "invites"
    code_hash: str = Field(index=True)
    kind: str  # setup | org
    name: str | None = None  # the user it is for (org invites)
    org_id: str | None = None
    role: str
    expires_at: float
    created_at: float
    created_by: str
    used_by: str | None = None  # the user who used it; deleted is set with it


class ConfigVersion(Replicated, table=True):
    """One immutable version of an env's plain configuration (env vars), as a layer
    (``platd/spec/layers.py``): with no ``base_id`` it holds the whole set, otherwise only the
    keys it set (``values_json``) and removed (``unset_json``) on top of ``base_id``."""

    __tablename__ = "config_versions"
    env_id: str = Field(index=True)
    version: int
    values_json: str
    created_at: float
    created_by: str
    base_id: str | None = None
    unset_json: str = "[]"


class SecretBundle(Replicated, table=True):
    __tablename__ = "secret_bundles"
    env_id: str = Field(index=True)
    name: str
    created_at: float


class SecretVersion(Replicated, table=True):
    """One immutable, encrypted version of a bundle; key names (all of them) are kept in clear
    for describe. With a ``base_id`` the ciphertext holds only the values this version set."""

    __tablename__ = "secret_versions"
    bundle_id: str = Field(index=True)
    version: int
    ciphertext: bytes
    keys_json: str
    created_at: float
    created_by: str
    base_id: str | None = None


class Release(Replicated, table=True):
    """An immutable deployable: pinned images, manifest snapshot, exact config and secrets."""

    __tablename__ = "releases"
    env_id: str = Field(index=True)
    seq: int
    manifest_json: str
    images_json: str  # workload -> "registry/repo@sha256:..."
    config_version_id: str | None
    secret_versions_json: str  # bundle name -> secret version id
    created_at: float
    created_by: str
    source: str  # the image reference or build context the release was made from


class EnvChange(Replicated, table=True):
    """The env's history: every move of its current-release pointer, and why."""

    __tablename__ = "env_changes"
    env_id: str = Field(index=True)
    action: str  # deploy | rollback
    release_id: str
    previous_release_id: str | None
    at: float
    by: str


class Scale(Replicated, table=True):
    """Env-level scale of one workload; overrides the release's manifest when set."""

    __tablename__ = "scales"
    env_id: str = Field(index=True)
    workload: str
    count: int | None = None
    cpu: float | None = None
    memory: int | None = None
    placement_json: str | None = None  # {"region": ..., "labels": {...}}: overrides plat.toml


class Event(SQLModel, table=True):
    """What happened, in order. ``seq`` is this host's local cursor for followers."""

    __tablename__ = "events"
    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, unique=True)
    hlc: int = 0  # stamped by the store, like every replicated row's
    origin: str = ""
    at: float = Field(index=True)
    env_id: str = Field(index=True)
    release_id: str | None = Field(default=None, index=True)
    workload: str | None = None
    instance_id: str | None = None
    step: str
    outcome: str  # started | ok | failed | info
    category: str | None = None  # config | image | scheduling | runtime | health
    message: str
    actor: str | None = None


# The state and health of an instance whose host's container engine does not answer.
ENGINE_UNREACHABLE = "unknown"


class Instance(Replicated, table=True):
    """Observed: one instance as its owning host last saw it. ``host_id`` is that host; only it
    writes the row (``origin`` says who wrote a version, which is not the same question)."""

    __tablename__ = "instances"
    host_id: str = Field(default="", index=True)
    env_id: str = Field(index=True)
    workload: str
    release_id: str
    spec_hash: str
    container_id: str | None
    state: str  # pending | created | running | exited | stopping | gone | unknown
    health: str  # starting | healthy | unhealthy | none
    restarts: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    updated_at: float
    ports_json: str = "{}"  # container port -> "127.0.0.1:host port"
    reason: str | None = None  # why pending / why unhealthy, in plain words
    ip: str | None = None  # address on the engine's bridge network (what ingress dials)


class ReleaseState(Replicated, table=True):
    """Observed: how far one host got in converging one release. ``id`` is release:host."""

    __tablename__ = "release_states"
    release_id: str = Field(index=True)
    host_id: str
    status: str  # rolling | converged | failed | degraded
    # The env change (deploy, rollback, retry) this verdict answers to: after the pointer moves
    # again, an older verdict no longer holds, without deleting the row.
    change_id: str | None = None
    step: str | None = None
    category: str | None = None
    message: str | None = None
    updated_at: float


class Meta(SQLModel, table=True):
    """Per-host facts: host id, names. Never replicated."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class Volume(Replicated, table=True):
    """A sized volume of one env, on one host. ``size`` is desired; usage is read from the host."""

    __tablename__ = "volumes"
    env_id: str = Field(index=True)
    name: str
    size: int  # bytes; only ever grows
    host_id: str  # where it lives: instances that mount it run there
    region: str | None = None  # the constraint it was created with, if any
    created_at: float
    created_by: str
    source_snapshot_id: str | None = None  # restored from this snapshot, if it was


class VolumeSnapshot(Replicated, table=True):
    """A point-in-time copy of a volume, kept on the volume's host."""

    __tablename__ = "volume_snapshots"
    volume_id: str = Field(index=True)
    seq: int  # 1, 2, ... per volume: people say "snap-3"
    size: int  # the volume's size when taken
    used: int  # bytes in use when taken
    seconds: float  # how long the copy took (the volume was frozen meanwhile)
    created_at: float
    created_by: str


class EndpointRow(Replicated, table=True):
    """An L4 endpoint of an env: external ports on pool addresses -> a workload's port.

    ``source`` is ``manifest`` (declared in ``[[endpoints]]``, kept in step with the env's current
    release by deploy and rollback) or ``cli`` (made by ``plat endpoints create``). The addresses
    are allocated from the serving host's pool once and kept while the endpoint lives.
    """

    __tablename__ = "endpoints"
    env_id: str = Field(index=True)
    name: str
    source: str  # manifest | cli
    workload: str
    internal_port: int
    external_ports_json: str  # [80, 443]
    protocol: str = "tcp"
    ipv6: bool = True
    ipv4: bool = False
    proxy_protocol: str | None = None  # "v2"
    ipv6_address: str | None = None
    ipv4_address: str | None = None
    host_id: str  # the host whose ingress serves it
    created_at: float
    created_by: str
    updated_at: float


class ReplicationMark(SQLModel, table=True):
    """Local: for one origin, every row it wrote up to ``hlc`` has been received here (or a
    newer version of that row has). Anti-entropy asks peers only for what comes after. Rows
    held are not enough to know this: a version that lost to a newer one leaves no trace."""

    __tablename__ = "replication_marks"
    origin: str = Field(primary_key=True)
    hlc: int


class Host(Replicated, table=True):
    """A member of the cluster as it described itself (id = its host id). Liveness is not
    stored: it comes from gossip. ``deleted`` means removed from the cluster for good."""

    __tablename__ = "hosts"
    name: str
    api: str  # the address peers and users reach its API at, "http://10.0.0.5:7400"
    gossip: str  # its Serf bind address, "10.0.0.5:7946"
    region: str = ""
    labels_json: str = "{}"
    cpus: float = 0.0
    memory: int = 0  # bytes
    joined_at: float
    cordoned: bool = False  # takes no new instances (plat hosts cordon)
    draining: bool = False  # and its instances move elsewhere (plat hosts drain)


class Assignment(Replicated, table=True):
    """Desired: which host runs each instance slot of one workload (``id`` "ENV_ID/WORKLOAD").

    Written by the host that accepted the change (deploy, scale, rollback) or that saw a host
    fail for longer than the grace period; every host reconciles only the slots on itself.
    ``generation`` grows with every change of ``hosts_json``: fencing for a returning host."""

    __tablename__ = "assignments"
    env_id: str = Field(index=True)
    workload: str
    generation: int = 0
    hosts_json: str = "[]"  # slot index -> host id ("" while pending)
    why_json: str = "{}"  # slot index -> why it is on its host
    pending_json: str = "{}"  # slot index -> {host name: why not}
    updated_at: float = 0.0


class JoinToken(Replicated, table=True):
    """A single-use, expiring invitation for a new host. The secret is sealed with the
    cluster's secret key (any host can check a join) and never stored or shown in clear."""

    __tablename__ = "join_tokens"
    sealed_secret: bytes
    expires_at: float
    created_at: float
    created_by: str
    used_by: str | None = None  # the host that joined with it; deleted is set with it
