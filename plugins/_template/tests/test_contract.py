"""The template plugin answers every step of its mode and recovers the simulated flux."""
import numpy as np
import pytest

from webbcal.testing import check_mode_contract
from webbcal_template import plugin


@pytest.mark.webbcal_plugins(plugin)
def test_every_step_of_the_recipe_is_answered_and_the_flux_comes_back(webbcal_host):
    products = check_mode_contract(webbcal_host, plugin.MODE)
    table = products["extract_1d"].spec[0].spec_table
    flux = np.asarray(table["FLUX"], dtype=float)
    # no wavelength given with the target: the core takes the WAVELENGTH array assign_wcs set
    np.testing.assert_allclose(table["WAVELENGTH"], plugin.wavelength_of(np.arange(plugin.NX)), rtol=1e-6)
    # the aperture holds the Gaussian's +-4.3 sigma: all of the 1 mJy but 2e-5 of it
    np.testing.assert_allclose(flux, 1e-3, rtol=1e-4)
