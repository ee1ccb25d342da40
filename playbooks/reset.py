"""Take plat off a host: the reverse of bootstrap.py, for a host that leaves or starts over.

``pyinfra playbooks/inventory.py playbooks/reset.py`` (add ``--limit HOST``!) stops and disables
platd and its firewall, then removes what bootstrap.py and network.py installed: the program
and wrapper, the units and drop-ins, the listen guard and volume helper, /etc/default/platd,
the nftables table and its file, the sysctl file, and the extraction cache. platd is stopped
before the table goes, so the API is never open without it.

Kept unless asked: the data directory (/var/lib/platd: identity, state, secret key, volumes)
and the containers platd started. Set host data ``platd_reset_data = True`` to remove them too
(containers labelled dev.plat.managed, volume mounts and loop devices, then the directory):
that cannot be undone. Kept always: the Debian packages (Docker, Serf, HAProxy...) and
/etc/docker/daemon.json, which other software on the host may rely on; forwarding stays on
until the next boot.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyinfra import host, logger
from pyinfra.facts.files import Directory
from pyinfra.operations import files, server, systemd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # pyinfra exec()s this file per host: make plat_host importable
    sys.path.insert(0, str(HERE))

import plat_host  # noqa: E402

UNITS = ["platd.service", "platd-volumes.socket", "platd-firewall.service"]
FILES = [
    "/usr/local/bin/plat",
    "/usr/local/bin/platd",
    "/etc/default/platd",
    "/etc/systemd/system/platd.service",
    "/etc/systemd/system/platd-firewall.service",
    "/etc/systemd/system/platd-volumes.socket",
    "/etc/systemd/system/platd-volumes@.service",
    "/etc/nftables.d/platd.nft",
    "/etc/sysctl.d/60-plat.conf",
]
DIRECTORIES = ["/etc/systemd/system/platd.service.d", "/usr/local/lib/platd",
               plat_host.CACHE_DIR]
DATA = plat_host.DATA_DIR

systemd_running = bool(host.get_fact(Directory, path="/run/systemd/system"))
# True from an inventory, "True"/"yes" from `--data platd_reset_data=...` on the command line.
remove_data = str(host.data.get("platd_reset_data", "")).lower() in ("true", "yes", "1")

if systemd_running:
    for unit in UNITS:  # platd first: it must not listen while the firewall goes away
        systemd.service(
            name=f"Stop and disable {unit}",
            service=unit,
            running=False,
            enabled=False,
        )
else:
    logger.warning(f"{host.name}: systemd is not running; stop a platd started by hand first")

server.shell(
    name="Remove the nftables table inet platd",
    commands=[f"! nft list table inet {plat_host.NFT_TABLE} >/dev/null 2>&1 || "
              f"nft delete table inet {plat_host.NFT_TABLE}"],
)

for path in FILES:
    files.file(name=f"Remove {path}", path=path, present=False)
for path in DIRECTORIES:
    files.directory(name=f"Remove {path}", path=path, present=False)

if remove_data:
    server.shell(
        name="Remove platd's containers, volume mounts and loop devices",
        commands=[
            "! command -v docker >/dev/null || docker ps -aq --filter label=dev.plat.managed=1 "
            "| xargs -r docker rm -f",
            f"awk '$2 ~ \"^{DATA}/\" {{print $2}}' /proc/mounts | sort -r | xargs -r -n1 umount",
            f"! command -v losetup >/dev/null || losetup -nO NAME,BACK-FILE "
            f"| awk '$2 ~ \"^{DATA}/\" {{print $1}}' | xargs -r -n1 losetup -d",
        ],
    )
    files.directory(name=f"Remove {DATA} (identity, state, secrets, volumes)", path=DATA,
                    present=False)
else:
    logger.warning(f"{host.name}: kept {DATA} and platd's containers; to remove them too, "
                   "run again with --data platd_reset_data=True")

if systemd_running:
    systemd.daemon_reload(name="Reload systemd without plat's units")
