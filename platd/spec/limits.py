"""The bounds a workload's cpu share must stay within, shared by plat.toml and ``plat scale``.

Docker reads ``NanoCpus = 0`` as "no limit", so a share that rounds to zero nanocores (``cpu =
1e-300``) would silently become the whole host. Below 0.01 cores Docker refuses the limit
anyway, and above 64 cores it is almost surely a slip; both ends are refused with the range.
Memory has its own bounds in ``sizes`` (6M to 1T).
"""

from __future__ import annotations

import math

MIN_CPU = 0.01  # cores: Docker's smallest cpu limit
MAX_CPU = 64.0

CPU_RANGE = f"from {MIN_CPU:g} to {MAX_CPU:g} cores"


def cpu_problem(value: float) -> str | None:
    """What is wrong with a cpu share in cores, or None when it is within bounds."""
    if not math.isfinite(value) or not MIN_CPU <= value <= MAX_CPU:
        return f"cpu {value:g} is out of range: use {CPU_RANGE}"
    return None
