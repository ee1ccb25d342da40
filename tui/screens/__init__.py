"""Full screens and modal dialogs of the TUI, one per file."""
