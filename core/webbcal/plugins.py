"""Plugin manager: finds instrument plugins and builds the mode / reference registries.

Plugins are found through the entry-point group ``webbcal.instruments``.  The variable
``WEBBCAL_PLUGINS`` (comma-separated entry-point names, or ``none``) restricts which load.
A plugin that fails to import or to answer its declaration hooks is logged and skipped;
the others still load.
"""
from __future__ import annotations

import logging
import importlib
import os
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .modes import ModeRegistry

log = logging.getLogger("webbcal.plugins")

ENTRY_POINT_GROUP = "webbcal.instruments"


#: registered name of the core's own plugin (webbcal.pipeline.builtin)
CORE_PLUGIN = "webbcal"


class PluginHost:
    """The loaded plugins with their modes, reference types and extra steps."""

    def __init__(self, load_entry_points=True, extra=()):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.broken = {}  # name -> message
        self.names = {}  # name -> distribution
        # the core's own plugin (its generic steps and pipelines), first and always;
        # imported by name: the plugin host sits below the steps in the layers
        self._register(CORE_PLUGIN, importlib.import_module("webbcal.pipeline.builtin"), dist="webbcal")
        if load_entry_points:
            self._load_entry_points()
        for name, plugin in extra:
            self._register(name, plugin, dist=name)
        self._rebuild()

    # -- loading ---------------------------------------------------------------------
    def _wanted(self):
        value = os.environ.get("WEBBCAL_PLUGINS")
        if value is None:
            return None
        value = value.strip()
        if value.lower() in ("", "none"):
            return set()
        return {v.strip() for v in value.split(",") if v.strip()}

    def _load_entry_points(self):
        wanted = self._wanted()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self._mark_broken(ep.name, f"import failed: {type(exc).__name__}: {exc}")
                continue
            dist = getattr(ep, "dist", None)
            self._register(ep.name, plugin, dist=dist.name if dist else ep.name)

    def _register(self, name, plugin, dist):
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._mark_broken(name, f"registration failed: {exc}")
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.pm.unregister(plugin)
            self._mark_broken(name, f"implements {', '.join(unknown)}, which no webbcal hook specification "
                                    f"declares (a misspelled hook name?); known hooks: "
                                    f"{', '.join(sorted(self._hook_names()))}")
            return
        self.names[name] = dist

    def _hook_names(self):
        return {n for n in dir(hookspecs) if n.startswith(hookspecs.PROJECT + "_")}

    def _unknown_hooks(self, plugin):
        """``webbcal_*`` hook implementations of ``plugin`` that match no specification
        (pluggy's ``check_pending`` would say the same for all plugins at once)."""
        known = self._hook_names()
        out = []
        for hook in self.pm.get_hookcallers(plugin) or []:
            if hook.name not in known and hook.name.startswith(hookspecs.PROJECT + "_"):
                out.append(hook.name)
        return sorted(out)

    def _mark_broken(self, name, message):
        self.broken[name] = message
        log.error("webbcal plugin %r is broken and was skipped: %s", name, message)

    def register(self, plugin, name):
        """Register a plugin object at run time (tests, notebooks) and rebuild registries."""
        self._register(name, plugin, dist=name)
        self._rebuild()

    def unregister(self, name):
        """Remove plugin ``name`` and rebuild the mode and reference registries."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.names.pop(name, None)
        self._rebuild()

    # -- registries ------------------------------------------------------------------
    def _collect(self, hookname):
        """Call a collecting hook plugin by plugin so one failure is isolated."""
        out = []
        for name in list(self.names):
            plugin = self.pm.get_plugin(name)
            impl = getattr(plugin, hookname, None)
            if impl is None:
                continue
            try:
                items = impl()
            except Exception as exc:
                self._mark_broken(name, f"{hookname} failed: {type(exc).__name__}: {exc}")
                self.pm.unregister(plugin)
                self.names.pop(name, None)
                continue
            out.append((name, list(items or [])))
        return out

    def _rebuild(self):
        from .refs import ReferenceRegistry

        self.modes = ModeRegistry()
        self._owner = {}  # id(mode) -> registered name of the plugin that declared it
        for name, modes in self._collect("webbcal_modes"):
            try:
                for m in modes:
                    self.modes.add(m)
                    self._owner[id(m)] = name
            except Exception as exc:
                self._mark_broken(name, f"invalid modes: {exc}")
        self.reftypes = ReferenceRegistry()
        for name, rts in self._collect("webbcal_reference_types"):
            for rt in rts:
                self.reftypes.add(rt)
        self.steps = []  # every step and pipeline class, the core's first
        self.extra_steps = []  # those the instrument / third-party plugins add
        for name, steps in self._collect("webbcal_steps"):
            self.steps.extend(steps)
            if name != CORE_PLUGIN:
                self.extra_steps.extend(steps)

    @property
    def hook(self):
        """pluggy's hook relay (broadcast hooks; mode-specific ones go through :meth:`call_for_mode`)."""
        return self.pm.hook

    def call_for_mode(self, hookname, mode, **kwargs):
        """Call a mode-specific ``firstresult`` hook on the plugin that declared ``mode``
        only, so that another plugin cannot answer for an instrument it does not own.

        A mode not declared through this host (built by hand in a test or notebook) is
        offered to every plugin.  An exception raised inside the hook that is not already
        a :class:`~webbcal.errors.WebbcalError` becomes a :class:`~webbcal.errors.PluginError`
        naming the plugin and the hook, so users see one line, not a traceback.
        """
        from .errors import PluginError, WebbcalError

        owner = self._owner_of(mode)
        if owner is not None and self.pm.get_plugin(owner) is not None:
            keep = self.pm.get_plugin(owner)
            others = [p for p in self.pm.get_plugins() if p is not keep]
            caller = self.pm.subset_hook_caller(hookname, others)
        else:
            caller = getattr(self.pm.hook, hookname)
        try:
            return caller(mode=mode, **kwargs)
        except WebbcalError:
            raise
        except MemoryError:
            raise
        except Exception as exc:
            who = mode.plugin if mode is not None else (owner or "a plugin")
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise PluginError(f"plugin {who} failed in {hookname}"
                              + (f" for {mode.key}" if mode is not None else "")
                              + f": {type(exc).__name__}" + (f": {msg}" if msg else "")) from exc

    def _owner_of(self, mode):
        """The plugin that declared ``mode``: by identity, else the plugin that declared a
        mode with the same (instrument, EXP_TYPE) -- a copy or a hand-built Mode of a
        known exposure type goes to the same plugin; None for a mode nobody declared."""
        if mode is None:
            return None
        owner = self._owner.get(id(mode))
        if owner is None:
            key = getattr(mode, "key", None)
            for m in self.modes:
                if getattr(m, "key", None) == key and id(m) in self._owner:
                    return self._owner[id(m)]
        return owner

    def plugin_for(self, mode):
        """Name of the plugin distribution that owns ``mode``."""
        return mode.plugin

    def describe(self):
        """List of (entry-point name, distribution, version) of loaded plugins."""
        from importlib.metadata import PackageNotFoundError, version

        rows = []
        for name, dist in sorted(self.names.items()):
            if name == CORE_PLUGIN:
                continue
            try:
                ver = version(dist)
            except PackageNotFoundError:
                ver = "-"
            rows.append((name, dist, ver))
        return rows


_HOST = None


def get_host(reload=False):
    """The process-wide :class:`PluginHost` (built on first use)."""
    global _HOST
    if _HOST is None or reload:
        _HOST = PluginHost()
    return _HOST


def set_host(host):
    """Replace the process-wide host (tests use this to isolate plugins)."""
    global _HOST
    _HOST = host
    return host
