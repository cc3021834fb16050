"""A kit for testing instrument plugins (and webbcal itself).

- scenes: :func:`gaussian_pixels`, :func:`moffat_pixels` (pixel-integrated profiles,
  normalised to the light that falls on the given pixels), :func:`trace_image` (a
  spectrum on a curved trace), :func:`noisy_cube` (integrations with Poisson and read
  noise and their VAR_POISSON / VAR_RNOISE arrays);
- hosts: :func:`plugin_host` (a context manager making a host with exactly the given
  plugins the process-wide one) and the pytest fixture ``webbcal_host`` (with the
  ``webbcal_plugins`` marker; pytest loads it wherever webbcal is installed);
- the contract: :func:`check_mode_contract` simulates an exposure of a mode and runs
  every step of its recipe, failing with the step and the hook that got no answer.
"""
from .contract import ContractError, check_mode_contract
from .hosts import plugin_host
from ..scenes import gaussian_pixels, moffat_pixels, noisy_cube, trace_image

__all__ = ["gaussian_pixels", "moffat_pixels", "trace_image", "noisy_cube", "plugin_host",
           "check_mode_contract", "ContractError"]
