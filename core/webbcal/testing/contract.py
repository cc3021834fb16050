"""Does a plugin answer every step of its modes' recipes?"""
from __future__ import annotations

import numpy as np

__all__ = ["ContractError", "check_mode_contract"]


class ContractError(AssertionError):
    """A step of a mode's recipe got no usable answer from the plugin."""


def check_mode_contract(host, mode, params=None):
    """Simulate an exposure of ``mode`` with the plugin's ``webbcal_simulate`` and run each
    step of ``mode.recipe`` on it in order (nothing saved).  Raises :class:`ContractError`
    naming the mode, the step and what went wrong when a step has no answer from the
    plugin (or fails); returns ``{step: product}``.  An extraction must give some finite
    flux.

    Parameters
    ----------
    host : PluginHost
        The plugin host (e.g. from the ``webbcal_host`` fixture).
    mode : Mode
        The mode to check.
    params : dict, optional
        Simulation parameters.
    """
    from ..errors import WebbcalError
    from ..pipeline import get_step_class
    from ..plugins import get_host, set_host

    old = get_host()
    set_host(host)
    try:
        out = host.call_for_mode("webbcal_simulate", mode, params=dict(params or {"seed": 1}))
        if out is None:
            raise ContractError(f"{mode.key}: webbcal_simulate gave no exposure")
        model = out[0] if isinstance(out, tuple) else out
        products = {}
        for name in mode.recipe:
            step = get_step_class(name)(save_results=False)
            try:
                model = step.run(model)
            except WebbcalError as exc:
                raise ContractError(f"{mode.key}: step {name} failed: {exc}") from exc
            products[name] = model
            if hasattr(model, "spec"):
                flux = [np.asarray(s.spec_table["FLUX"], dtype=float) for s in model.spec]
                if not flux or not any(np.isfinite(f).any() for f in flux):
                    raise ContractError(f"{mode.key}: step {name} gave no finite flux")
        return products
    finally:
        set_host(old)
