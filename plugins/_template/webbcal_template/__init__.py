"""A minimal webbcal instrument plugin (see docs/plugins.md)."""
