"""The TUI's panels, one per file; each loads its data in a worker and renders with tui.render."""
