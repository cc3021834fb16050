"""webbcal.testing: the scene builders have the moments and noise they promise, and the
contract check passes for the shipped plugins and names the step a plugin leaves out."""
import sys
from pathlib import Path

import numpy as np
import pytest

from webbcal.testing import ContractError, check_mode_contract, gaussian_pixels, moffat_pixels
from webbcal.testing import noisy_cube, plugin_host, trace_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "_template"))
from webbcal_template import plugin as template  # noqa: E402 - the template is not installed


def test_pixel_integrated_gaussian_has_the_moments_of_a_gaussian_convolved_with_a_pixel():
    n, c, s = 80, 40.3, 2.0
    p = gaussian_pixels(n, c, s)
    x = np.arange(n)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p * x).sum() == pytest.approx(c, abs=1e-10)
    # a box of one pixel adds 1/12 to the variance of what it integrates
    assert (p * (x - c) ** 2).sum() == pytest.approx(s * s + 1.0 / 12.0, rel=1e-6)


def test_pixel_integrated_moffat_equals_the_numerical_integral():
    from scipy.integrate import quad

    c, a, b = 10.2, 1.7, 2.5
    p = moffat_pixels(21, c, a, b)
    norm = quad(lambda u: (1 + (u / a) ** 2) ** -b, -np.inf, np.inf)[0]
    for i in (6, 10, 11, 15):
        expected = quad(lambda u: (1 + ((u - c) / a) ** 2) ** -b, i - 0.5, i + 0.5)[0] / norm
        assert p[i] == pytest.approx(expected, rel=1e-9)
    assert (p * np.arange(21)).sum() / p.sum() == pytest.approx(c, abs=0.05)  # truncated wings


def test_a_trace_image_holds_its_flux_on_a_curved_trace():
    img = trace_image(60, 50, flux=np.linspace(100, 200, 50), centre=lambda x: 25 + 0.1 * x, width=1.5,
                      background=2.0)
    np.testing.assert_allclose((img - 2.0).sum(axis=0), np.linspace(100, 200, 50), rtol=1e-9)
    assert np.argmax(img[:, 49]) == round(25 + 4.9)


def test_noisy_cube_variances_match_the_scatter_of_500_realisations():
    signal = np.full((4, 6), 400.0)
    data, vp, vr = noisy_cube(signal, 500, read_noise=10.0, gain=2.0, seed=3)
    scatter = data.astype(float).var(axis=0, ddof=1)
    predicted = (vp + vr)[0]
    assert np.allclose(scatter / predicted, 1.0, atol=0.15)  # one pixel: 500 samples, ~6 % each
    assert scatter.mean() / predicted.mean() == pytest.approx(1.0, rel=0.05)
    assert data.mean() == pytest.approx(400.0, rel=0.01)


@pytest.mark.parametrize("instrument", ["MIRI", "NIRSPEC"])
def test_the_shipped_plugins_pass_the_contract_for_their_demo_modes(instrument):
    from webbcal.plugins import PluginHost

    host = PluginHost()
    modes = [m for m in host.modes if m.instrument == instrument and m.demo]
    assert modes
    for mode in modes:
        products = check_mode_contract(host, mode, params={"seed": 2})
        assert list(products) == list(mode.recipe)


def test_a_missing_hook_is_reported_with_its_step():
    class NoPhotom:  # the template's hooks but webbcal_photom (already hookimpl-marked)
        webbcal_modes = staticmethod(template.webbcal_modes)
        webbcal_simulate = staticmethod(template.webbcal_simulate)
        webbcal_assign_wcs = staticmethod(template.webbcal_assign_wcs)
        webbcal_extract_targets = staticmethod(template.webbcal_extract_targets)

    with plugin_host(("nophotom", NoPhotom())) as host:
        with pytest.raises(ContractError, match=r"template/slit: step photom failed: .*does not implement webbcal_photom"):
            check_mode_contract(host, template.MODE)
    with plugin_host(("template", template)) as host:
        assert set(check_mode_contract(host, template.MODE)) == {"assign_wcs", "photom", "extract_1d"}


@pytest.mark.webbcal_plugins(template)
def test_the_host_fixture_gives_a_host_with_the_marked_plugins(webbcal_host):
    from webbcal.plugins import get_host

    assert get_host() is webbcal_host
    assert [m.key for m in webbcal_host.modes] == [template.MODE.key]
