"""platd: the per-host daemon of plat.

The package is split so that the pieces the CLI needs (``platd.spec``) import nothing heavier
than the standard library; everything that talks to SQLite, HTTP or Docker lives beside it.
"""

__version__ = "0.1.0"
