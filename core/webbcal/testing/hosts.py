"""Plugin hosts with exactly the plugins a test wants."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["plugin_host"]


@contextmanager
def plugin_host(*plugins, entry_points=False):
    """Make a :class:`~webbcal.plugins.PluginHost` with ``plugins`` (modules or objects
    implementing the hooks, or ``(name, plugin)`` pairs) the process-wide host for the
    ``with`` block, and restore the previous one after.  ``entry_points=True`` also loads
    the installed plugins."""
    from ..plugins import PluginHost, get_host, set_host

    extra = []
    for i, p in enumerate(plugins):
        name, plugin = p if isinstance(p, tuple) else (getattr(p, "__name__", None) or f"plugin{i}", p)
        extra.append((name, plugin))
    old = get_host()
    host = set_host(PluginHost(load_entry_points=entry_points, extra=extra))
    try:
        yield host
    finally:
        set_host(old)
