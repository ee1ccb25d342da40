"""Files only their owner may read (keys, tokens, certificates' keys), written atomically.

The host's secret key, the cluster CA's key, a recovered admin token: each is written to a
temporary file created 0600 and renamed over the old one, so no reader ever sees half a key
and the content is never readable by others, not even for a moment.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, content: bytes) -> None:
    """Write ``content`` readable by the owner only, replacing the file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.replace(tmp, path)
