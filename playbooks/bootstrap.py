"""Bring a fresh Debian 12 or 13 host up as a plat host: firewall, Docker, Serf, HAProxy, platd.

Run from the repository root: ``pyinfra playbooks/inventory.py playbooks/bootstrap.py``
(README.md beside this file lists the host data). It first runs network.py (forwarding and the
API firewall), so the firewall is in place before platd ever listens; platd.service then starts
after platd-firewall.service and listens beyond loopback only while that table is loaded.

Idempotent: files are compared by checksum before upload (the single file is reproducible, so an
unchanged build uploads nothing), packages by the installed list, and the two files an operator
may edit by hand are merged rather than overwritten: /etc/docker/daemon.json (log rotation and
live-restore added, every other key kept) and platd.toml (the inventory's settings set, every
other key kept, no default ever written). ``platd init`` is planned only while host.json is
absent; the admin token it makes goes to a 0600 file on the host, never into the deploy output.
platd is started if it was not running, restarted if it was and something it reads changed:
never both.

On hosts without a running systemd (chroots) everything is installed but nothing is started.
"""

from __future__ import annotations

import sys
from io import StringIO
from pathlib import Path

from pyinfra import host, local, logger
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import Directory, File, FileContents
from pyinfra.facts.server import Arch, OsRelease
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, python, server, systemd
from pyinfra.operations.util import any_changed

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pyinfra exec()s this file per host: make plat_host importable
    sys.path.insert(0, str(HERE))

import plat_host  # noqa: E402

SYSTEMD = HERE.parent / "packaging" / "systemd"
UNIT = SYSTEMD / "platd.service"
LISTEN_GUARD = SYSTEMD / "platd-listen-guard"
LISTEN_GUARD_DEST = "/usr/local/lib/platd/listen-guard"
DROP_IN_DIR = "/etc/systemd/system/platd.service.d"
# platd_volumes = "helper": the volume helper, its socket and its unit.
HELPER_FILES = [
    (SYSTEMD / "platd-volume-helper", "/usr/local/lib/platd/volume-helper", "755"),
    (SYSTEMD / "platd-volumes.socket", "/etc/systemd/system/platd-volumes.socket", "644"),
    (SYSTEMD / "platd-volumes@.service", "/etc/systemd/system/platd-volumes@.service", "644"),
]
ADMIN_TOKEN_FILE = f"{plat_host.DATA_DIR}/admin-token"
# procps: sysctl (network.py); serf: cluster membership; haproxy: the production data plane.
PACKAGES = ["docker.io", "haproxy", "serf", "procps", "python3", "sqlite3", "ca-certificates"]
# Sized volumes: loop devices (losetup, in util-linux) holding XFS (docs/volumes.md).
VOLUME_PACKAGES = ["util-linux", "xfsprogs"]


def _text(lines: list[str] | None) -> str | None:
    return None if lines is None else "\n".join(lines) + "\n"


def _pyz(target: str) -> Path:
    """The single file for this host: plat_pyz itself, or DIR/plat-TARGET when it is a directory."""
    path = Path(str(host.data.get("plat_pyz") or "dist")).expanduser()
    if not path.is_absolute():
        path = HERE.parent / path
    if path.is_dir():
        path = path / f"plat-{target}"
        if not path.is_file():
            raise DeployError(f"{host.name}: {path} does not exist; this host needs the "
                              f"{target} build (packaging/build-pyz --target {target})")
    elif not path.is_file():
        raise DeployError(f"{host.name}: plat_pyz {path} does not exist (build the single "
                          "files with packaging/build-pyz; they are written to dist/)")
    return path


def _plan() -> tuple[Path, str, str | None, str | None]:
    try:
        target = plat_host.build_target(host.get_fact(OsRelease), host.get_fact(Arch))
        default = plat_host.render_default(
            str(host.data.get("platd_listen", plat_host.DEFAULT_LISTEN)),
            str(host.data.get("platd_opts", "")))
        settings = plat_host.merge_settings(
            _text(host.get_fact(FileContents, path=plat_host.SETTINGS_FILE)), host.data.dict())
        daemon_json = plat_host.merge_docker_daemon(
            _text(host.get_fact(FileContents, path=plat_host.DOCKER_DAEMON_FILE)))
    except plat_host.HostDataError as e:
        raise DeployError(f"{host.name}: {e}") from None
    return _pyz(target), default, settings, daemon_json


def show_admin_token_file() -> None:
    logger.warning(
        f"{host.name}: platd initialised. Its admin token is in {ADMIN_TOKEN_FILE} on the host "
        "(mode 0600; it is not printed here, so no deploy log keeps it). Log in with it, then "
        f"delete the file:\n\n    ssh root@ADDRESS cat {ADMIN_TOKEN_FILE} | "
        "plat login --api https://ADDRESS:PORT --token-stdin --ca-fingerprint FP\n\n"
        "(FP: what `platd ca` prints on the host; beyond loopback platd speaks only https)\n")


# The firewall first: platd must never listen beyond loopback on a host without it.
local.include(str(HERE / "network.py"))

pyz, default_env, settings_toml, daemon_json = _plan()
systemd_running = bool(host.get_fact(Directory, path="/run/systemd/system"))
active = host.get_fact(SystemdStatus, services=["docker.service", "platd.service"]) \
    if systemd_running else {}
docker_was_active = bool(active.get("docker.service"))
platd_was_active = bool(active.get("platd.service"))
# Volumes on by default, with platd still sandboxed: "helper" (the privileged steps run in
# platd-volumes@.service). True: the sandbox options lifted in platd.service instead (exposure
# 5.5 against 3.4); False: no volumes.
volumes = host.data.get("platd_volumes", "helper")
if volumes not in (True, False, "helper"):
    raise DeployError(f'{host.name}: platd_volumes must be true, false or "helper", '
                      f"not {volumes!r}")

# Before Docker is installed, so that its first start already rotates logs.
files.directory(
    name="Create /etc/docker",
    path="/etc/docker",
    user="root",
    group="root",
    mode="755",
)
put_daemon_json = None
if daemon_json is not None:
    put_daemon_json = files.put(
        name="Merge log rotation and live-restore into /etc/docker/daemon.json",
        src=StringIO(daemon_json),
        dest=plat_host.DOCKER_DAEMON_FILE,
        user="root",
        group="root",
        mode="644",
    )

# Debian's serf package starts an agent of its own on port 7946, where platd's agent must
# listen: platd then dies at every start with "address already in use" (found by
# tests/playbooks/test_hosts_add.py). Masked before the package comes, it never starts;
# platd runs the only agent.
mask_serf = files.link(
    name="Mask Debian's own Serf agent (platd runs its own)",
    path="/etc/systemd/system/serf.service",
    target="/dev/null",
)
if systemd_running:
    systemd.daemon_reload(name="Reload systemd for the masked serf.service",
                          _if=mask_serf.did_change)

apt.packages(
    name="Install Docker Engine, Serf, HAProxy, procps, Python 3 and SQLite (and volume tools)",
    packages=PACKAGES + (VOLUME_PACKAGES if volumes else []),
    update=True,
    cache_time=3600,
)

if systemd_running:
    systemd.service(
        name="Enable and start the Docker engine",
        service="docker.service",
        running=True,
        enabled=True,
    )
    # A host where it ran before the mask: stopped once (masked, it never starts again).
    systemd.service(
        name="Stop Debian's own Serf agent",
        service="serf.service",
        running=False,
    )
    if docker_was_active and put_daemon_json is not None:
        # live-restore can be reloaded, the log settings cannot: reload first, and the restart
        # that follows keeps every container running.
        server.shell(
            name="Restart Docker for the new daemon.json (containers keep running)",
            commands=["systemctl reload docker.service", "systemctl restart docker.service"],
            _if=put_daemon_json.did_change,
        )

files.directory(
    name="Create the platd data directory",
    path=plat_host.DATA_DIR,
    user="root",
    group="root",
    mode="700",
)

put_plat = files.put(
    name=f"Install the single-file plat ({pyz.name})",
    src=str(pyz),
    dest="/usr/local/bin/plat",
    user="root",
    group="root",
    mode="755",
)

put_wrapper = files.put(
    name="Install the platd wrapper (plat daemon)",
    src=StringIO(plat_host.PLATD_WRAPPER),
    dest="/usr/local/bin/platd",
    user="root",
    group="root",
    mode="755",
)

put_default = files.put(
    name="Write /etc/default/platd",
    src=StringIO(default_env),
    dest="/etc/default/platd",
    user="root",
    group="root",
    mode="644",
)

put_settings = None
if settings_toml is not None:
    put_settings = files.put(
        name="Merge the inventory's settings into platd.toml",
        src=StringIO(settings_toml),
        dest=plat_host.SETTINGS_FILE,
        user="root",
        group="root",
        mode="600",
    )

files.directory(
    name="Create /usr/local/lib/platd",
    path=str(Path(LISTEN_GUARD_DEST).parent),
    user="root",
    group="root",
    mode="755",
)
put_guard = files.put(
    name="Install platd's listen guard (loopback only without the firewall)",
    src=str(LISTEN_GUARD),
    dest=LISTEN_GUARD_DEST,
    user="root",
    group="root",
    mode="755",
)

put_unit = files.put(
    name="Install the platd systemd unit",
    src=str(UNIT),
    dest="/etc/systemd/system/platd.service",
    user="root",
    group="root",
    mode="644",
)

files.directory(
    name="Create the platd unit's drop-in directory",
    path=DROP_IN_DIR,
    user="root",
    group="root",
    mode="755",
)
# One drop-in at most: volumes.conf lifts platd's sandbox, volumes-helper.conf keeps it and
# routes the privileged steps through platd-volumes.socket.
drop_in = {True: "volumes.conf", "helper": "volumes-helper.conf"}.get(volumes)
volume_ops = []
for name in ("volumes.conf", "volumes-helper.conf"):
    if name == drop_in:
        volume_ops.append(files.put(
            name=f"Let platd hold volumes (drop-in {name})",
            src=str(SYSTEMD / "platd.service.d" / name),
            dest=f"{DROP_IN_DIR}/{name}",
            user="root",
            group="root",
            mode="644",
        ))
    else:
        volume_ops.append(files.file(
            name=f"No drop-in {name}",
            path=f"{DROP_IN_DIR}/{name}",
            present=False,
        ))
for src, dest, mode in HELPER_FILES:
    if volumes == "helper":
        volume_ops.append(files.put(
            name=f"Install {Path(dest).name} (privileged volume steps)",
            src=str(src),
            dest=dest,
            user="root",
            group="root",
            mode=mode,
        ))
    else:
        volume_ops.append(files.file(name=f"No {Path(dest).name}", path=dest, present=False))
if not host.get_fact(File, path=plat_host.HOST_FILE):
    data = plat_host.DATA_DIR
    try:
        init_line = plat_host.init_command(host.data.dict(),
                                           str(host.data.get("platd_name") or host.name),
                                           f"{data}/.init.json")
    except plat_host.HostDataError as e:
        raise DeployError(f"{host.name}: {e}") from None
    join_token_file = host.data.get("platd_join_token_file")
    if host.data.get("platd_join"):
        if not join_token_file or not Path(str(join_token_file)).is_file():
            raise DeployError(f"{host.name}: platd_join needs platd_join_token_file, a local "
                              "file holding the join token (plat hosts join-token)")
        # Uploaded, never in a command line or the output; init reads and deletes it.
        files.put(name="Upload the join token (0600; deleted by the init)",
                  src=str(join_token_file), dest=plat_host.JOIN_TOKEN_FILE, mode="600",
                  user="root", group="root")
    server.shell(
        name="Initialise platd (host id, state, keys, CA; an admin token to a 0600 file)",
        # `test -e` repeats the fact's check at execution time: never a second host identity.
        # The token goes only to the file (umask 077), never to the deploy's output; a host
        # that joined a cluster gets none (the cluster's tokens work there).
        commands=[
            f"test -e {plat_host.HOST_FILE} || (umask 077 && {init_line}"
            f" && python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))[\"token\"];"
            f" t and print(t)' {data}/.init.json > {ADMIN_TOKEN_FILE}"
            f" && rm -f {data}/.init.json && (test -s {ADMIN_TOKEN_FILE} ||"
            f" rm -f {ADMIN_TOKEN_FILE}))"
        ],
    )
    if not host.data.get("platd_join"):
        python.call(name="Say where the admin token is", function=show_admin_token_file)

changed = [put_plat, put_wrapper, put_default, put_guard, put_unit, *volume_ops]
changed += [put_settings] if put_settings is not None else []
if systemd_running:
    systemd.daemon_reload(
        name="Reload systemd for the new platd unit",
        _if=any_changed(put_unit, *volume_ops),
    )
    systemd.service(
        name=("Enable and start" if volumes == "helper" else "Stop and disable")
        + " platd-volumes.socket",
        service="platd-volumes.socket",
        running=volumes == "helper",
        enabled=volumes == "helper",
    )
    if platd_was_active:
        systemd.service(
            name="Restart platd for the new program or settings",
            service="platd.service",
            restarted=True,
            enabled=True,
            _if=any_changed(*changed),
        )
    else:
        # A first start reads the new files: no restart after it (platd started once).
        systemd.service(
            name="Enable and start platd",
            service="platd.service",
            running=True,
            enabled=True,
        )
else:
    logger.warning(f"{host.name}: systemd is not running; platd.service is installed but not "
                   "started (run: platd serve --data /var/lib/platd)")
