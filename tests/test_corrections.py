"""pathloss / barshadow: a plugin supplies the throughput, the core divides by it.

A test plugin adds a mode whose recipe runs both steps and answers the hooks with known
throughputs (a path loss of 0.8 rising to 0.9 along the dispersion, a bar shadow of
0.95 with one pixel at 0): the extracted flux must be the injected flux divided by the
product, the variances divided by its square, and the zero-throughput pixel flagged.
"""
import dataclasses

import numpy as np
import pytest

import webbcal
from webbcal.hookspecs import hookimpl
from webbcal.plugins import PluginHost, get_host, set_host
from webbcal.steps.corrections import Correction, apply_correction


def _pathloss(shape):
    return np.broadcast_to(np.linspace(0.8, 0.9, shape[-1])[None, :], shape[-2:])


class CorrectingPlugin:
    """Declares a mode of its own; hooks of a mode go only to the plugin that declared it,
    so the toy instrument's physics is reused by calling its functions, not by letting
    the toy plugin answer for this mode."""

    def __init__(self, mode):
        self.mode = mode

    @hookimpl
    def webbcal_modes(self):
        return [self.mode]

    def _toy(self, name, *args):
        from toy_plugin import toy

        return getattr(toy, name)(*args)

    @hookimpl
    def webbcal_assign_wcs(self, model, mode, refs, params):
        return self._toy("webbcal_assign_wcs", model, mode, refs, params)

    @hookimpl
    def webbcal_flat_field(self, model, mode, refs, params):
        return self._toy("webbcal_flat_field", model, mode, refs, params)

    @hookimpl
    def webbcal_photom(self, model, mode, refs, params):
        return self._toy("webbcal_photom", model, mode, refs, params)

    @hookimpl
    def webbcal_extract_targets(self, model, mode, refs, params):
        return self._toy("webbcal_extract_targets", model, mode, refs, params)

    @hookimpl
    def webbcal_pathloss(self, model, mode, refs, params):
        if mode.key != self.mode.key:
            return None
        return Correction(_pathloss(model.data.shape), name="test path loss")

    @hookimpl
    def webbcal_barshadow(self, model, mode, refs, params):
        if mode.key != self.mode.key:
            return None
        f = np.full(model.data.shape[-2:], 0.95)
        f[19, 60] = 0.0
        return Correction(f, name="test bar shadow")


@pytest.fixture
def corrected_host(toy_host):
    from toy_plugin import toy

    mode = dataclasses.replace(toy.MODE, exp_types=("TOY_CORRECTED",), name="corrected",
                               recipe=("assign_wcs", "flat_field", "pathloss", "barshadow", "photom", "extract_1d"))
    host = PluginHost(load_entry_points=False, extra=[("toy", toy), ("correcting", CorrectingPlugin(mode))])
    old = get_host()
    set_host(host)
    yield host, mode
    set_host(old)


def test_pathloss_and_barshadow_divide_the_flux(corrected_host, tmp_path):
    from toy_plugin import toy

    host, mode = corrected_host
    model, truth = host.hook.webbcal_simulate(mode=toy.MODE, params={})
    model.meta.exposure.type = "TOY_CORRECTED"
    path = tmp_path / "toy_rate.fits"
    model.save(path)
    x1d = webbcal.run("spec2", str(path), save_results=True, output_dir=str(tmp_path / "out"))
    flux = np.asarray(x1d.spec[0].spec_table["FLUX"], float)
    throughput = np.linspace(0.8, 0.9, flux.size) * 0.95
    good = np.arange(flux.size) != 60
    # the +-8 px aperture holds the whole profile: injected flux / throughput to 0.1 %
    np.testing.assert_allclose(flux[good], truth["flux_jy"][good] / throughput[good], rtol=1e-3)
    # the zero-throughput pixel (on the trace centre) is left out of the box sum: that
    # column loses the centre pixel's share of a sigma = 1.5 px Gaussian, erf(0.5/1.5/sqrt(2))
    from scipy.special import erf

    lost = erf(0.5 / (toy.SIGMA * np.sqrt(2)))
    assert flux[60] * throughput[60] / truth["flux_jy"][60] == pytest.approx(1 - lost, abs=2e-3)
    from astropy.io import fits

    hdr = fits.getheader(tmp_path / "out" / "toy_cal.fits")
    assert hdr["S_PTHLOS"] == "COMPLETE" and hdr["S_BARSHA"] == "COMPLETE"


def test_apply_correction_arithmetic_and_flags():
    from webbcal import datamodels as dm

    m = dm.ImageModel(np.full((3, 4), 10.0, np.float32))
    m.err = np.full((3, 4), 2.0, np.float32)
    m.var_rnoise = np.full((3, 4), 4.0, np.float32)
    m.dq = np.zeros((3, 4), np.uint32)
    f = np.full((3, 4), 0.5)
    f[1, 2] = 0.0
    f[2, 3] = np.nan
    apply_correction(m, Correction(f))
    assert m.data[0, 0] == pytest.approx(20.0) and m.err[0, 0] == pytest.approx(4.0)
    assert m.var_rnoise[0, 0] == pytest.approx(16.0)
    assert np.isnan(m.data[1, 2]) and np.isnan(m.data[2, 3])
    assert m.dq[1, 2] & 1 and m.dq[2, 3] & 1 and not m.dq[0, 0]
    with pytest.raises(ValueError, match="does not match"):
        apply_correction(m, Correction(np.ones((2, 2))))


def test_a_recipe_step_without_a_plugin_answer_is_a_clear_error(toy_host):
    from toy_plugin import toy

    from webbcal.errors import NoPluginError
    from webbcal.pipeline import get_step_class

    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    step = get_step_class("pathloss")()
    with pytest.raises(NoPluginError, match="webbcal_pathloss"):
        step.run_model(model, toy.MODE)
