"""State stores for unit tests: a migrated database copied per store (migrating each one would
dominate property tests that make hundreds of stores)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from platd.spec.hlc import HybridLogicalClock
from platd.store.db import Store, migrate

_TEMPLATE: Path | None = None


def _template() -> Path:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = Path(tempfile.mkdtemp(prefix="plat-store-template-")) / "state.db"
        migrate(_TEMPLATE)
    return _TEMPLATE


def make_store(directory: Path, host_id: str, clock: HybridLogicalClock | None = None) -> Store:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "state.db"
    shutil.copyfile(_template(), path)
    return Store(path, host_id, clock)
