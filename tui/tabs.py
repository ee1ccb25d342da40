"""The TUI's tabs and keys, without Textual: the app (``tui/app.py``) binds them, and the frame
bare ``plat`` paints before Textual is imported (``tui/prepaint.py``) draws the same tab bar and
footer from them.
"""

from __future__ import annotations

# tab id -> its title, and the panel it shows (imported when first needed)
TABS = {
    "status": ("Status", "tui.widgets.status_panel:StatusPanel"),
    "releases": ("Releases", "tui.widgets.releases_panel:ReleasesPanel"),
    "events": ("Events", "tui.widgets.events_panel:EventsPanel"),
    "logs": ("Logs", "tui.widgets.logs_panel:LogsPanel"),
    "endpoints": ("Endpoints", "tui.widgets.endpoints_panel:EndpointsPanel"),
    "volumes": ("Volumes", "tui.widgets.volumes_panel:VolumesPanel"),
    "hosts": ("Hosts", "tui.widgets.hosts_panel:HostsPanel"),
}

# The keys the footer shows, in its order: (key, action, description).
KEYS = [
    ("q", "quit", "Quit"),
    ("e", "pick_env", "Env"),
    *((str(n), f"show_tab('{tab}')", title) for n, (tab, (title, _)) in enumerate(TABS.items(), 1)),
    ("x", "exec", "Exec"),
]
