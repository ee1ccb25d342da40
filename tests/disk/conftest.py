"""The disk tests use the API tests' helpers (``api_support``, ``daemon_support``) and the
volume tests' (``volume_support``), which import each other by bare name."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "api", TESTS / "volumes"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
