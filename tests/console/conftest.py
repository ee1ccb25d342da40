"""The console tests reuse the people tests' helpers (users made through real invites, tokens
through the real device flow, Chromium through Playwright)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "people"))
