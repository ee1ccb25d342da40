"""Bring an edge host up as a plat host: Docker, HAProxy, the plat program and platd running.

Run from the repository root: ``pyinfra playbooks/inventory.py playbooks/bootstrap.py``
(README.md beside this file lists the host data). Idempotent by pyinfra's usual means: files are
compared by checksum before upload, packages by the installed list, and ``platd init`` is planned
only while /var/lib/platd/host.json is absent, so a second run changes nothing and never
creates a second host identity. The admin token that init prints once is shown in the deploy
output and is not kept anywhere else.

On hosts without a running systemd (containers, chroots) the unit is installed but neither
enabled nor started; run ``platd serve`` there by other means.
"""

from __future__ import annotations

import json
import shlex
import sys
from io import StringIO
from pathlib import Path

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import Directory, File
from pyinfra.operations import apt, files, python, server, systemd
from pyinfra.operations.util import any_changed

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pyinfra exec()s this file per host: make plat_host importable
    sys.path.insert(0, str(HERE))

import plat_host  # noqa: E402

UNIT = HERE.parent / "packaging" / "systemd" / "platd.service"
VOLUMES_DROP_IN = HERE.parent / "packaging" / "systemd" / "platd.service.d" / "volumes.conf"
VOLUMES_DROP_IN_DEST = "/etc/systemd/system/platd.service.d/volumes.conf"
PACKAGES = ["docker.io", "haproxy", "python3", "sqlite3"]
# Sized volumes: loop devices (losetup, in util-linux) holding XFS (docs/volumes.md).
VOLUME_PACKAGES = ["util-linux", "xfsprogs"]


def _host_data() -> tuple[Path, str, str]:
    pyz = host.data.get("plat_pyz")
    if not pyz:
        raise DeployError(f"{host.name}: set host data plat_pyz to the single-file plat "
                          "(build it with packaging/build-pyz; the default output is dist/plat)")
    path = Path(str(pyz)).expanduser()
    if not path.is_absolute():
        path = HERE.parent / path
    if not path.is_file():
        raise DeployError(f"{host.name}: plat_pyz {path} does not exist "
                          "(build it with packaging/build-pyz)")
    try:
        default = plat_host.render_default(
            str(host.data.get("platd_listen", plat_host.DEFAULT_LISTEN)),
            str(host.data.get("platd_opts", "")))
        settings = plat_host.render_settings(host.data.dict())
    except plat_host.HostDataError as e:
        raise DeployError(f"{host.name}: {e}") from None
    return path, default, settings


def show_admin_token(init: OperationMeta) -> None:
    """Print the token ``platd init --json`` returned: it exists nowhere else in clear."""
    try:
        info = json.loads("\n".join(init.stdout_lines))
        token, host_id = info["token"], info["host"]["id"]
    except (ValueError, KeyError, TypeError):
        logger.warning(f"{host.name}: platd init printed no token; see its output with -vvv")
        return
    logger.warning(
        f"{host.name}: platd initialised as host {host_id}. Admin token (shown once, stored only "
        f"as a hash):\n\n    {token}\n\n    plat login --api http://ADDRESS:PORT --token {token}\n")


pyz, default_env, settings_toml = _host_data()
systemd_running = bool(host.get_fact(Directory, path="/run/systemd/system"))
# On by default: a host holds volumes unless the operator keeps platd fully sandboxed.
volumes = bool(host.data.get("platd_volumes", True))

apt.packages(
    name="Install Docker Engine, HAProxy, Python 3 and SQLite (and the volume tools)",
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

files.directory(
    name="Create the platd data directory",
    path=plat_host.DATA_DIR,
    user="root",
    group="root",
    mode="700",
)

put_plat = files.put(
    name="Install the single-file plat",
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

put_settings = files.put(
    name="Write platd.toml (registry, labels)",
    src=StringIO(settings_toml),
    dest=plat_host.SETTINGS_FILE,
    user="root",
    group="root",
    mode="600",
)

put_unit = files.put(
    name="Install the platd systemd unit",
    src=str(UNIT),
    dest="/etc/systemd/system/platd.service",
    user="root",
    group="root",
    mode="644",
)

if volumes:
    files.directory(
        name="Create the platd unit's drop-in directory",
        path=str(Path(VOLUMES_DROP_IN_DEST).parent),
        user="root",
        group="root",
        mode="755",
    )
    put_volumes = files.put(
        name="Let platd mount volumes (the unit's volumes drop-in)",
        src=str(VOLUMES_DROP_IN),
        dest=VOLUMES_DROP_IN_DEST,
        user="root",
        group="root",
        mode="644",
    )
else:
    put_volumes = files.file(
        name="Keep platd fully sandboxed (no volumes drop-in)",
        path=VOLUMES_DROP_IN_DEST,
        present=False,
    )

if not host.get_fact(File, path=plat_host.HOST_FILE):
    name = shlex.quote(str(host.data.get("platd_name") or host.name))
    init = server.shell(
        name="Initialise platd (host id, state, secret key, admin token)",
        # `test -e` repeats the fact's check at execution time: never a second host identity.
        commands=[
            f"test -e {plat_host.HOST_FILE} || "
            f"/usr/local/bin/platd init --data {plat_host.DATA_DIR} --name {name} --json"
        ],
    )
    python.call(
        name="Show the admin token",
        function=show_admin_token,
        init=init,
    )

if systemd_running:
    systemd.daemon_reload(
        name="Reload systemd for the new platd unit",
        _if=any_changed(put_unit, put_volumes),
    )
    systemd.service(
        name="Enable and start platd",
        service="platd.service",
        running=True,
        enabled=True,
    )
    # Only a unit that was already running restarts (pyinfra's rule): the first start above
    # already reads the new files.
    systemd.service(
        name="Restart platd for the new program or settings",
        service="platd.service",
        running=None,
        restarted=True,
        _if=any_changed(put_plat, put_wrapper, put_default, put_settings, put_unit,
                        put_volumes),
    )
else:
    logger.warning(f"{host.name}: systemd is not running; platd.service is installed but not "
                   "started (run: platd serve --data /var/lib/platd)")
