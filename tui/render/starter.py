"""``plat init``: the starter ``plat.toml`` it writes and what it says once the file is there.

The starter file teaches the manifest by example (every line says what it does), so its text
is a rendering like any other and lives beside the other words, not in the command.
"""

from __future__ import annotations


def starter_manifest(app: str, image: str, port: int | None) -> str:
    """What ``plat init`` writes: one workload of ``image``, each line saying what it does."""
    lines = [
        "# Written by plat init; reference: docs/manifest.md",
        f'app = "{app}"',
        "",
        "[env]",
        "required = []                 # env vars a deploy needs set: plat config set KEY=...",
        "optional = []                 # env vars the app reads when set; others are refused",
        "",
        "[workloads.web]",
        f'image = "{image}"',
        "count = 1",
        "cpu = 0.25                    # cores per instance",
        'memory = "128M"',
    ]
    if port is not None:
        lines += [
            "",
            "[workloads.web.health]",
            f"tcp = {port}                  # ready when this port accepts; or "
            f'http = {{ port = {port}, path = "/healthz" }}',
            "",
            "# Expose it (IPv6; add ipv4 = true for IPv4 too), then: plat endpoints check public",
            "# [[endpoints]]",
            '# name = "public"',
            '# workload = "web"',
            f"# internal_port = {port}",
            "# external_ports = [80]",
        ]
    return "\n".join(lines) + "\n"


def init_lines(path: str, app: str, target: str | None) -> list[str]:
    """What ``plat init`` says once the file is written: what next, in order."""
    where = f" --target {target}" if target else " --target ORG/PROJECT/" + app + "/ENV"
    return [f"wrote {path} for app {app}: one workload (web)",
            "Next:",
            f"  plat manifest check -f {path}",
            f"  plat deploy -f {path}{where}"]
