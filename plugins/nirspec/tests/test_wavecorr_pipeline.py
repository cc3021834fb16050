"""WAVECORR end to end: an off-centre point source through the whole spec2 pipeline.

Physics: a point source displaced by SRCXPOS (slit widths) along the dispersion sends
its light through that line of the aperture, so through the optical model its spectrum
lands shifted along detector x (SRCXPOS = +0.3 in S200A1: ~0.6 px towards smaller x).
The simulator paints it there (each pixel gets the wavelength of the source's light,
from the optical model of the aperture moved by SRCXPOS widths, not from the WAVECORR
table), and the centred-source WCS of extract_2d then labels the spectrum ~0.6 px too
blue.  The wavecorr step adds ``offset(lam, SRCXPOS) x dispersion`` from the WAVECORR
reference.  Checked here:

* the simulator's shift equals the forward optical model's (array level);
* the x1d WAVELENGTH of the off-centre source minus that of a centred one is the
  WAVECORR prediction, sign (redwards for SRCXPOS > 0) and size (2 %);
* an emission line injected at a known wavelength comes back at it to < 0.05 px after
  the correction (a Gaussian fit to a noise-free line recovers a centred source to
  0.005-0.02 px), and ~0.6 px blue of it without (step skipped): the
  uncorrected error is the predicted offset to 0.05 px;
* MOS slitlets on both sides of their shutter centre (+-0.3) move in opposite
  directions and are both corrected;
* provenance: S_WAVCOR / R_WAVCOR, SKIPPED for ``--steps.wavecorr.skip=true`` and for
  extended sources (which fill the slit: no correction).
"""
import warnings

import numpy as np
import pytest
from scipy.optimize import curve_fit

import webbcal
from webbcal.plugins import get_host
from webbcal_nirspec import slits
from webbcal_nirspec import simulate as sm
from webbcal_nirspec.refs import default_path
from webbcal_nirspec.wcs import fixed_slit, readers

LINE = 2.2  # micron: emission line (PRISM: 0.017 micron / px there)
LINE_SIGMA = 0.02  # micron, ~1.2 px: resolved, so its centre is fitted to ~0.01 px
XPOS = 0.3


def _line_flux(centre=LINE, sigma=LINE_SIGMA):
    def flux(lam):
        lam = np.asarray(lam, float)
        return sm.default_flux(lam) * (1 + np.exp(-0.5 * ((lam - centre) / sigma) ** 2))

    return flux


def _spec2(model, **steps):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return webbcal.run("spec2", model, steps=steps)


def _line_centre_px(wave, flux, centre=LINE, sigma=LINE_SIGMA):
    """(fitted line centre - injected) in pixels of the local dispersion."""
    wave, flux = np.asarray(wave, float), np.asarray(flux, float)
    near = np.isfinite(wave) & np.isfinite(flux) & (np.abs(wave - centre) < 8 * sigma)
    w, f = wave[near], flux[near]

    def model(x, a, b, amp, mu, s):
        return a + b * (x - centre) + amp * np.exp(-0.5 * ((x - mu) / s) ** 2)

    p, _ = curve_fit(model, w, f, p0=[np.median(f), 0.0, np.max(f) - np.median(f), centre, sigma])
    dispersion = np.interp(p[3], w[1:], np.diff(w))
    return (p[3] - centre) / dispersion


def _wavecorr_ref():
    return readers.read_wavecorr(default_path("wavecorr"))


def test_simulated_off_centre_source_lands_at_the_optical_model_shift():
    """The simulator's wavelength map of an off-centre source agrees with the forward
    transform slit_frame -> detector evaluated at (SRCXPOS, SRCYPOS)."""
    kw = dict(sm.BASE_KEYWORDS, EXP_TYPE="NRS_FIXEDSLIT", GRATING="PRISM", FILTER="CLEAR", SUBSTRT1=1, SUBSTRT2=1,
              SUBSIZE1=2048, SUBSIZE2=2048)
    wcs_refs, *_ = sm._refs_for(kw)
    meta = {k: kw[k] for k in slits._WCS_KEYWORDS if k in kw}
    info = slits.ApertureInfo(name="S200A1", slit=fixed_slit("S200A1"), source_xpos=XPOS, source_ypos=0.0)
    wcs = slits.slit_wcs(info, meta, wcs_refs)
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box()
    x0, y0 = int(round(x0 + 0.5)), int(round(y0 + 0.5))
    nx, ny = int(round(x1 + 0.5)) - x0, int(round(y1 + 0.5)) - y0
    lam_src = sm.source_wavelength_map(info, meta, wcs_refs, x0, y0, nx, ny)
    lam_ctr = slits.wavelength_map(slits.cutout_wcs(wcs, x0, y0, nx, ny), ny, nx)
    to_det = wcs.get_transform("slit_frame", "detector")
    lam = np.array([1.0, 2.0, 3.0, 4.0]) * 1e-6
    xs, ys = to_det(np.full(4, XPOS), np.zeros(4), lam)
    xc, _ = to_det(np.zeros(4), np.zeros(4), lam)
    shift = np.asarray(xs - xc)
    assert np.all(shift < -0.4) and np.all(shift > -0.8)  # 0.3 of a 2-px-wide slit image, towards -x
    cols = np.arange(nx)
    for k in range(4):
        row = int(round(float(ys[k]))) - y0
        # detector x where each map reaches the wavelength: the source's is shifted by the model
        xs_map = np.interp(lam[k] * 1e6, lam_src[row], cols)
        xc_map = np.interp(lam[k] * 1e6, lam_ctr[row], cols)
        assert xs_map - xc_map == pytest.approx(shift[k], abs=0.02)


@pytest.fixture(scope="module")
def fixed_slit_runs():
    """PRISM S200A1: a centred source, the same source at SRCXPOS=+0.3 corrected, and uncorrected."""
    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    out = {}
    for key, xpos, steps in (("centred", 0.0, {}), ("corrected", XPOS, {}), ("skipped", XPOS, {"wavecorr": {"skip": True}})):
        model, _ = sm.simulate(mode, {"seed": 1, "source_xpos": xpos, "source_ypos": 0.1, "flux": _line_flux()})
        out[key] = _spec2(model, **steps)
    return out


def _table(x1d, i=0):
    tab = x1d.spec[i].spec_table
    return np.asarray(tab["WAVELENGTH"], float), np.asarray(tab["FLUX"], float)


def test_fixed_slit_wavelengths_shift_by_the_wavecorr_prediction(fixed_slit_runs):
    w0, _ = _table(fixed_slit_runs["centred"])
    w1, _ = _table(fixed_slit_runs["corrected"])
    good = np.isfinite(w0) & np.isfinite(w1) & (w0 > 0.7) & (w0 < 5.2)
    assert good.sum() > 300
    dispersion = np.gradient(w0)
    predicted = _wavecorr_ref().aperture("S200A1").offset(w0 * 1e-6, XPOS) * dispersion
    shift = w1 - w0
    # redwards (the source's light lands at smaller x, so every pixel sees longer wavelengths)
    assert np.all(shift[good] > 0)
    assert np.all(np.abs(shift[good] / predicted[good] - 1) < 0.02), np.max(np.abs(shift[good] / predicted[good] - 1))
    # of the size of the geometric shift: 0.3 x the 2-px slit image, 0.5-0.95 px here
    px = shift[good] / dispersion[good]
    assert 0.45 < np.median(px) < 0.8 and px.min() > 0.4 and px.max() < 1.0
    # provenance
    cal = fixed_slit_runs["corrected"]
    assert cal.meta.cal_step.wavecorr == "COMPLETE"
    assert cal.meta.ref_file.wavecorr.name == "nirspec_wavecorr_synthetic.asdf"


def test_fixed_slit_line_recovered_after_correction_not_without(fixed_slit_runs):
    centred = _line_centre_px(*_table(fixed_slit_runs["centred"]))
    corrected = _line_centre_px(*_table(fixed_slit_runs["corrected"]))
    skipped = _line_centre_px(*_table(fixed_slit_runs["skipped"]))
    assert abs(centred) < 0.05
    assert abs(corrected) < 0.05, corrected
    expected = -_wavecorr_ref().aperture("S200A1").offset(LINE * 1e-6, XPOS)
    assert skipped < -0.4 and skipped == pytest.approx(expected, abs=0.05), (skipped, expected)
    assert fixed_slit_runs["skipped"].meta.cal_step.wavecorr == "SKIPPED"


def test_grating_line_recovered_after_correction():
    """G140M (0.6 nm / px): same geometric shift in pixels, the correction still lands the line."""
    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    line, sigma = 1.5, 0.002
    model, _ = sm.simulate(mode, {"seed": 1, "source_xpos": XPOS, "grating": "G140M", "filter": "F100LP",
                                  "flux": _line_flux(line, sigma)})
    assert abs(_line_centre_px(*_table(_spec2(model)), centre=line, sigma=sigma)) < 0.05


def _mos_model(directory):
    """Two slitlets: the source 0.3 of a shutter to +x in one, to -x in the other."""
    mode = get_host().modes.find("NIRSPEC", "NRS_MSASPEC")
    slitlets = [dict(slitlet_id=1, quadrant=1, row=60, columns=[1, 2, 3], source_id=101, dithers=[(2, 0.5 + XPOS, 0.5)]),
                dict(slitlet_id=2, quadrant=2, row=200, columns=[1, 2, 3], source_id=102, dithers=[(2, 0.5 - XPOS, 0.6)])]
    model, _ = sm.simulate(mode, {"seed": 2, "flux": _line_flux(), "slitlets": slitlets, "directory": directory})
    return model


def test_mos_line_recovered_on_both_sides_of_the_shutter(tmp_path):
    from webbcal.cli import main

    model = _mos_model(tmp_path)
    rate = tmp_path / "mos_rate.fits"
    model.save(rate)
    corrected = _spec2(model)
    # the uncorrected run through the command line, as a user would turn the step off
    out = tmp_path / "out"
    assert main(["run", "spec2", str(rate), "--steps.wavecorr.skip=true", "--output-dir", str(out)]) == 0
    skipped = webbcal.open(out / "mos_x1d.fits")
    with webbcal.open(out / "mos_cal.fits") as cal:
        assert cal.meta.cal_step.wavecorr == "SKIPPED"
        # SRCXPOS from the MSA metadata: estimated_source_in_shutter_x - 0.5
        assert [round(float(s.source_xpos), 6) for s in cal.slits] == [XPOS, -XPOS]
    ref = _wavecorr_ref().aperture("MOS")
    for i, sign in ((0, +1), (1, -1)):
        w1, f1 = _table(corrected, i)
        w0, f0 = _table(skipped, i)
        good = np.isfinite(w0) & np.isfinite(w1) & (w0 > 0.7) & (w0 < 5.2)
        predicted = ref.offset(w0 * 1e-6, sign * XPOS) * np.gradient(w0)
        assert np.all(np.sign((w1 - w0)[good]) == sign)
        assert np.all(np.abs((w1 - w0)[good] / predicted[good] - 1) < 0.02)
        assert abs(_line_centre_px(w1, f1)) < 0.05
        assert _line_centre_px(w0, f0) == pytest.approx(-ref.offset(LINE * 1e-6, sign * XPOS), abs=0.05)
        assert abs(_line_centre_px(w0, f0)) > 0.4


def test_extended_source_is_not_corrected():
    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    model, _ = sm.simulate(mode, {"seed": 1, "source_xpos": XPOS})
    model.set_keyword("SRCTYAPT", "EXTENDED")
    from webbcal.pipeline import get_step_class

    ms = webbcal.run("extract_2d", webbcal.run("assign_wcs", model))
    before = np.array(ms.slits[0].wavelength)
    out = get_step_class("wavecorr")(save_results=False).run(ms)
    assert out.meta.cal_step.wavecorr == "SKIPPED"
    assert np.array_equal(np.asarray(out.slits[0].wavelength), before, equal_nan=True)
