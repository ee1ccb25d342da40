"""How to start a service platd needs, worded for where this platd runs.

In a development checkout `scripts/dev-services` starts the Docker engine and the local
registry; on a field host installed from the single file there is no such script, and a hint
that names it sends the engineer looking for something that is not there. The host's services
are systemd units there, so the hint names the unit.
"""

from __future__ import annotations

from pathlib import Path

# platd/hints.py -> the checkout's root; inside the single file this path does not exist.
_DEV_SERVICES = Path(__file__).resolve().parent.parent / "scripts" / "dev-services"


def in_checkout() -> bool:
    """Whether platd runs from a development checkout (its dev-services script is beside it)."""
    return _DEV_SERVICES.is_file()


def engine_hint() -> str:
    """What to do when the Docker engine does not answer."""
    if in_checkout():
        return "is dockerd running? scripts/dev-services starts one for development"
    return "is the Docker engine running? start it with: systemctl start docker"


def local_registry_hint() -> str:
    """What to do when the registry on this host (a loopback address) does not answer."""
    if in_checkout():
        return "scripts/dev-services starts the local one"
    return ("start the registry this host's platd.toml names (registry), or push the image to "
            "one the host can reach")
