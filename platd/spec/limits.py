"""Per-host storage limits: what one env may store, and the free space nothing may take.

A deployer must not be able to fill a host's disk through the API: an env's config, its secret
bundles and its log lines each have a size limit, and volumes and snapshots may not take the
last ``disk_reserve`` of the data directory's filesystem (the state and log databases need it
to keep working), and below ``disk_min_free`` the host counts as full: writes that add data
are refused, while reads, scaling and deletes go on. The numbers come from ``platd.toml`` (see
docs/operations.md); the defaults suit a small edge host.

Pure: sizes are parsed here; the checks that need the filesystem live with their callers.

Workloads have bounds too: Docker reads ``NanoCpus = 0`` as "no limit", so a cpu share that
rounds to zero nanocores (``cpu = 1e-300``) would silently become the whole host. Below 0.01
cores Docker refuses the limit anyway, and above 64 cores it is almost surely a slip; both ends
are refused with the range. Memory has its own bounds in ``sizes`` (6M to 1T).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from platd.spec.errors import InvalidInput, StorageFull
from platd.spec.sizes import GIB, KIB, MIB, format_size, parse_size

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

MIN_CPU = 0.01  # cores: Docker's smallest cpu limit
MAX_CPU = 64.0

CPU_RANGE = f"from {MIN_CPU:g} to {MAX_CPU:g} cores"


def cpu_problem(value: float) -> str | None:
    """What is wrong with a cpu share in cores, or None when it is within bounds."""
    if not math.isfinite(value) or not MIN_CPU <= value <= MAX_CPU:
        return f"cpu {value:g} is out of range: use {CPU_RANGE}"
    return None


DEFAULTS: dict[str, str] = {
    "env_config_max_bytes": "1M",
    "env_secrets_max_bytes": "1M",
    "env_logs_max_bytes": "256M",
    "disk_reserve": "1G",
    "disk_min_free": "256M",
}


ZERO_MEANS_NONE = ("env_logs_max_bytes", "disk_reserve", "disk_min_free")


@dataclass(frozen=True)
class Limits:
    env_config_max_bytes: int = MIB
    env_secrets_max_bytes: int = MIB
    env_logs_max_bytes: int = 256 * MIB  # 0: no per-env limit (the host budget still holds)
    disk_reserve: int = GIB  # volumes and snapshots leave this much free
    disk_min_free: int = 256 * MIB  # below it, writes that add data are refused: "disk full"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Limits:
        """Read the limits from ``platd.toml`` values; InvalidInput names the bad setting."""
        minimums = {"env_config_max_bytes": 4 * KIB, "env_secrets_max_bytes": 4 * KIB,
                    "env_logs_max_bytes": MIB, "disk_reserve": 0, "disk_min_free": 0}
        out: dict[str, int] = {}
        for key, default in DEFAULTS.items():
            value = settings.get(key, default)
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise InvalidInput(f"{key} must be a size like {default!r}")
            if key in ZERO_MEANS_NONE and str(value).strip() == "0":
                out[key] = 0
                continue
            out[key] = parse_size(value, what=key, minimum=max(minimums[key], 1))
        return cls(**out)


def over_limit(what: str, path: str, size: int, limit: int, setting: str) -> InvalidInput:
    """The error for a write that would take ``what`` of env ``path`` past its limit."""
    return InvalidInput(
        f"{what} of {path} would be {format_size(size)}, over the limit of "
        f"{format_size(limit)} per env",
        hint=["remove keys you no longer need (plat config unset / plat secrets update), "
              "or keep large files in a volume or the image",
              f"the host's operator sets the limit with {setting} in platd.toml"],
        details={"size": size, "limit": limit, "setting": setting},
    )


def disk_full(path: str, free: int, what: str = "this change") -> StorageFull:
    """The error for a write refused (or failed) because the data disk at ``path`` is full."""
    return StorageFull(
        f"the host's data disk is full ({format_size(max(free, 0))} free at {path}): "
        f"{what} was refused",
        hint=["reads, scaling down and deletes still work and free space: delete unused "
              "volumes, snapshots, releases or envs",
              f"the host's operator can see what takes the space with: du -sh {path}/*"],
        details={"free_bytes": max(free, 0), "path": path},
    )
