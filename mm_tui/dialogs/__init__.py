"""Modal dialogs: each carries its own CSS and returns a value through ``dismiss``."""
