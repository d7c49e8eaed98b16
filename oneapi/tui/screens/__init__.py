"""One module per area of the TUI."""
