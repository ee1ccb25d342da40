"""Pure, dependency-light types shared by the daemon and the CLI.

Nothing in this package may import litestar, sqlmodel, aiodocker or textual: ``plat`` imports it on
every start, and the planner and validators built on it must stay testable without I/O.
"""
