"""Nod-subtracted fixed-slit and MOS exposures: the negative traces stay out of the source.

The simulator paints A - mean(other nods): the source positive at its position and
negative (weight 1/(n-1)) at the other nod positions, all noise-free (sigma = 1 px
pixel-integrated Gaussians along the WCS traces).  Summing the negative traces into
the source would remove 100 % of the flux (a full-slit sum of A - B is zero), so each
test below would fail by tens of per cent if that happened.

* FS 2-POINT-NOD (source at +0.25 slit lengths, partner at -0.25: ~16.6 px apart): the
  plugin fills ``negative_positions`` from PATTTYPE; the 8-px box never reaches the
  partner, so box and optimal return the injected flux as without nodding (box:
  Gaussian wings outside +-4 px and iso-wavelength tilt, measured 2.4e-4; optimal 8e-5).
* MOS 3-POINT-NOD (one shutter pitch, ~5 px, between nods): the plugin narrows the box
  to the distance to the nearest negative trace (5 px).  Such a box holds a fraction
  f of the source (measured on the same source without nodding, 0.9785) and catches
  the near wings of the negative traces: each one's light inside the box is what the
  source has beyond the box edge on that side, (1 - f) / 2, so the expected flux is
  f - sum(weights) (1 - f) / 2 = f - (1 - f) / 2 for two half-weight negatives.
  Optimal extraction models the negative traces instead and returns the source's flux
  in its window (the whole pixels of that box), 98.8-99.7 % of the total here.
"""
import warnings

import numpy as np
import pytest

import webbcal
from webbcal.plugins import get_host
from webbcal_nirspec import simulate as sm


def _ratios(x1d, truth):
    out = {}
    for spec in x1d.spec:
        table = spec.spec_table
        wl, flux = np.asarray(table["WAVELENGTH"]), np.asarray(table["FLUX"])
        good = np.isfinite(wl) & np.isfinite(flux) & (wl > 0.7) & (wl < 5.2)
        assert good.sum() > 300
        out[str(getattr(spec, "name", len(out)))] = flux[good] / truth["flux"](wl[good])
    assert len(out) == len(truth["slits"])
    return out


def _run(model, **extract):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return webbcal.run("spec2", model, steps={"extract_1d": extract})


@pytest.fixture(scope="module")
def fs_nodded(tmp_path_factory):
    mode = get_host().modes.find("NIRSPEC", "NRS_FIXEDSLIT")
    return sm.simulate(mode, {"seed": 5, "nod": "2-POINT-NOD", "source_ypos": 0.25})


def test_fixed_slit_nod_positions_from_the_pattern(fs_nodded):
    from webbcal_nirspec import slits

    model, truth = fs_nodded
    assert truth["negative_ypos"]["S200A1"] == (-0.25,)
    assert model.get_keyword("PATTTYPE") == "2-POINT-NOD" and slits.nod_subtracted(model)
    assert slits.fixed_slit_nod_positions(model, 0.25) == (-0.25,)
    model.set_keyword("PATTTYPE", "3-POINT-NOD")
    try:
        assert slits.fixed_slit_nod_positions(model, 0.2) == (0.0, -0.2)
        assert slits.fixed_slit_nod_positions(model, 0.0) == ()  # spacing unknown at the centre
        model.set_keyword("PATTTYPE", "NONE")
        model.set_keyword("NUMDTHPT", 1)
        assert slits.fixed_slit_nod_positions(model, 0.2) == ()
    finally:
        model.set_keyword("PATTTYPE", "2-POINT-NOD")
        model.set_keyword("NUMDTHPT", 2)


@pytest.mark.parametrize("kind, tol", [("box", 5e-4), ("optimal", 3e-4)])
def test_nodded_fixed_slit_recovers_injected_flux(fs_nodded, kind, tol):
    model, truth = fs_nodded
    ratio = _ratios(_run(model, extraction_type=kind), truth)["S200A1"]
    assert np.max(np.abs(ratio - 1)) < tol, (np.median(ratio), np.max(np.abs(ratio - 1)))


def test_nodded_fixed_slit_targets_carry_the_negative_trace(fs_nodded):
    from webbcal.refs import RefSet
    from webbcal_nirspec import plugin

    model, _ = fs_nodded
    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_FIXEDSLIT")

    def refs(step):
        return RefSet.resolve(host.reftypes, model, mode, mode.reftypes_for(step))

    ms = plugin.webbcal_extract_2d(plugin.webbcal_assign_wcs(model, mode, refs("assign_wcs"), {}), mode,
                                   refs("extract_2d"), {})
    (target,) = plugin.webbcal_extract_targets(ms, mode, refs("extract_1d"), {})
    (neg,) = target.negative_positions
    # +-0.25 of a ~33-px slit: ~16.6 px apart, mirrored about the slit centre
    assert 15.5 < abs(target.source_position - neg) < 17.5
    data = np.asarray(target.model.data)
    col = data[:, data.shape[1] // 2]
    assert abs(np.argmin(col) - neg) <= 1 and abs(np.argmax(col) - target.source_position) <= 1


def _mos(nod, directory):
    """One 3-shutter slitlet; 3-point nod: middle, lower, upper shutter."""
    mode = get_host().modes.find("NIRSPEC", "NRS_MSASPEC")
    cols = (2, 1, 3) if nod else (2,)
    slitlet = dict(slitlet_id=1, quadrant=1, row=60, columns=[1, 2, 3], source_id=101,
                   dithers=[(c, 0.5, 0.55) for c in cols])
    return sm.simulate(mode, {"seed": 6, "nod": nod, "directory": directory, "slitlets": [slitlet]})


@pytest.fixture(scope="module")
def mos_nodded(tmp_path_factory):
    return _mos("3-POINT-NOD", tmp_path_factory.mktemp("nod"))


def test_nodded_mos_box_excludes_the_negative_traces(mos_nodded, tmp_path):
    nodded, truth = mos_nodded
    plain, truth0 = _mos(None, tmp_path / "plain")
    assert all(len(v) == 2 for v in truth["negative_ypos"].values())
    width = 5.0  # what the plugin chooses: the distance to the nearest negative trace
    f_box = _ratios(_run(plain, extract_width=width), truth0)
    got = _ratios(_run(nodded), truth)  # plugin defaults: the narrowed box
    for name, ratio in got.items():
        f = np.median(f_box[name])
        assert 0.95 < f < 0.995  # a 5-px box around a sigma = 1 px source
        expected = f - (1 - f) / 2
        assert np.median(ratio) == pytest.approx(expected, abs=2e-3), (name, np.median(ratio), expected)
        assert np.percentile(np.abs(ratio - np.median(ratio)), 95) < 0.02


def test_nodded_mos_optimal_recovers_injected_flux(mos_nodded, mos_saved):
    """Optimal extraction models both negative traces (source profile shifted one pitch
    up and down, each with its own amplitude) and returns the source's flux inside the
    extraction window.

    That window is the whole pixels the narrowed box touches: 5 or 6 rows depending on
    the trace's pixel phase, holding 98.76-99.73 % of the sigma = 1 px source (computed
    below from the injected trace).  With no APCORR for the synthetic references, a
    correct optimal flux is therefore up to 1.24 % below the injected total in some
    columns, so "within 1 % of the total everywhere" cannot hold: each column is checked
    against its window fraction instead (measured max deviation 0.11 %; before the fix
    the profile lost the window's edge rows, where source and negative wings cancel,
    and the flux came out 0.5-7.5 % low, median 2.5 %), the median against 1 % of the
    total, and the largest deviation from the total against the window loss plus the
    same 0.3 % tolerance.
    """
    from webbcal.extract.engine import build_aperture

    model, truth = mos_nodded
    pipe, _, _ = mos_saved
    targets = _targets(pipe.calibrated)
    x1d = _run(model, extraction_type="optimal")
    assert len(x1d.spec) == len(truth["slits"])
    for spec in x1d.spec:
        name = str(spec.name)
        window = build_aperture(targets[name], None, {}).src > 0
        trace = next(s for s in truth["slits"] if s["slit"] == name)["trace_y"]
        source = sm._gauss_profile(window.shape[0], np.where(np.isfinite(trace), trace, -100.0), 1.0)
        held = (source * window).sum(axis=0)  # injected flux fraction inside the window
        table = spec.spec_table
        wl, flux = np.asarray(table["WAVELENGTH"]), np.asarray(table["FLUX"])
        good = np.isfinite(wl) & np.isfinite(flux) & (wl > 0.7) & (wl < 5.2)
        assert good.sum() > 300
        assert np.array_equal(np.asarray(table["NPIXELS"])[good], window.sum(axis=0)[good])  # the step's window
        ratio = flux[good] / truth["flux"](wl[good])
        assert 0.9875 < held[good].min() and held[good].max() < 0.9975
        assert np.max(np.abs(ratio / held[good] - 1)) < 3e-3, (name, np.max(np.abs(ratio / held[good] - 1)))
        assert abs(np.median(ratio) - 1) < 0.01, (name, np.median(ratio))
        assert np.max(np.abs(ratio - 1)) < 1 - held[good].min() + 3e-3, (name, np.max(np.abs(ratio - 1)))


def test_box_background_regions_exclude_negative_traces(fs_nodded):
    from webbcal.refs import RefSet
    from webbcal.extract.engine import extract_target
    from webbcal.steps.flat_field import apply_flat
    from webbcal.steps.photom import apply_photom
    from webbcal_nirspec import plugin

    model, truth = fs_nodded
    host = get_host()
    mode = host.modes.find("NIRSPEC", "NRS_FIXEDSLIT")

    def refs(step):
        return RefSet.resolve(host.reftypes, model, mode, mode.reftypes_for(step))

    ms = plugin.webbcal_extract_2d(plugin.webbcal_assign_wcs(model, mode, refs("assign_wcs"), {}), mode,
                                   refs("extract_2d"), {})
    for s, f in zip(ms.slits, plugin.webbcal_flat_field(ms, mode, refs("flat_field"), {})):
        apply_flat(s, f)
    for s, c in zip(ms.slits, plugin.webbcal_photom(ms, mode, refs("photom"), {})):
        apply_photom(s, c)
    (target,) = plugin.webbcal_extract_targets(ms, mode, refs("extract_1d"), {})
    mid = (np.shape(target.model.data)[-2] - 1) / 2
    # background 6-20 px either side of the source (they move with it): the lower one
    # holds the negative trace 16.6 px below the source
    params = {"bkg_coeff": [[mid - 20], [mid - 6], [mid + 6], [mid + 20]], "bkg_fit": "poly", "bkg_order": 0}
    spec = extract_target(target, None, params)
    wl = np.atleast_2d(spec.columns["WAVELENGTH"])[0]
    flux = np.atleast_2d(spec.columns["FLUX"])[0]
    good = np.isfinite(wl) & np.isfinite(flux) & (wl > 0.7) & (wl < 5.2)
    ratio = flux[good] / truth["flux"](wl[good])
    assert np.max(np.abs(ratio - 1)) < 1e-3, np.median(ratio)


# --------------------------------------------------------------------------------------
# a cal file written and read back extracts exactly like the model that made it
# --------------------------------------------------------------------------------------
#
# Before the fix a NIRSpec cal read back lost every slit's source position and trace
# (the gwcs read from the ASDF extension does not carry the WCS's wavelength range) and
# the MOS nod positions (held only on the in-memory aperture description): re-extracting
# the nodded MOS cal gave 0.54-0.74 of the injected flux (negative traces summed into a
# default box, and the box off the source), the nodded FS cal ~0, even a plain FS cal
# 0.22.  extract_2d now records the MOS nod positions per slit (NODYPOSn) and the trace
# uses the slit's WAVSTART/WAVEND; a MOS cal without NODYPOSn has its MSA metadata file
# re-read (as extract_2d found it: MSAMETFL, MSAMETID, PATT_NUM).


def _spec2_saved(model, outdir):
    """(pipeline, cal path) of spec2 run on ``model`` with its products written to ``outdir``."""
    from webbcal.pipeline import get_step_class

    pipe = get_step_class("spec2")(output_dir=str(outdir), save_results=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pipe.run(model)
    (cal,) = sorted(outdir.glob("*_cal.fits"))
    return pipe, cal


def _extract(cal, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return webbcal.run("extract_1d", cal, **params)


def _flux(x1d):
    return {str(s.name): np.asarray(s.spec_table["FLUX"], float) for s in x1d.spec}


def _assert_same_flux(a, b, rtol=1e-6):
    fa, fb = _flux(a), _flux(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        assert np.array_equal(np.isfinite(fa[name]), np.isfinite(fb[name])), name
        good = np.isfinite(fa[name])
        scale = np.nanmax(np.abs(fa[name]))
        assert np.max(np.abs(fa[name][good] - fb[name][good])) <= rtol * scale, name


def _targets(cal_model):
    from webbcal_nirspec import plugin

    mode = get_host().modes.for_model(cal_model, None)
    return {t.name: t for t in plugin.webbcal_extract_targets(cal_model, mode, None, {})}


@pytest.fixture(scope="module")
def mos_saved(mos_nodded, tmp_path_factory):
    model, truth = mos_nodded
    pipe, cal = _spec2_saved(model, tmp_path_factory.mktemp("mos_cal"))
    return pipe, cal, truth


def test_nodded_mos_cal_file_keeps_the_nod_positions(mos_saved):
    pipe, cal, truth = mos_saved
    memory = _targets(pipe.calibrated)
    with webbcal.open(cal) as disk_model:
        for slit in disk_model.slits:
            header = slit.header("SCI")
            nods = (header["NODYPOS1"], header["NODYPOS2"])
            assert nods == pytest.approx(truth["negative_ypos"][str(slit.name)], abs=1e-12)
        disk = _targets(disk_model)
    assert memory.keys() == disk.keys() and len(disk) == len(truth["slits"]) >= 1
    for name, target in memory.items():
        assert len(target.negative_positions) == 2
        assert disk[name].source_position == pytest.approx(target.source_position, abs=1e-9)
        assert disk[name].negative_positions == pytest.approx(target.negative_positions, abs=1e-9)
        assert disk[name].aperture_defaults == pytest.approx(target.aperture_defaults)


@pytest.mark.parametrize("kind", ["box", "optimal"])
def test_nodded_mos_cal_file_extracts_like_memory(mos_saved, kind):
    pipe, cal, truth = mos_saved
    memory = _extract(pipe.calibrated, extraction_type=kind)
    disk = _extract(str(cal), extraction_type=kind)
    _assert_same_flux(memory, disk)
    # and the negative traces are out: the narrowed box keeps ~0.97 of the source
    # (test above); summing a half-weight negative trace would remove ~50 %
    for ratio in _ratios(disk, truth).values():
        assert np.median(ratio) > 0.94


def _rewrite_cal(cal, outdir, keep_msa_file, msa_path):
    """Copy of ``cal`` in ``outdir`` as another pipeline would write it: no NODYPOSn,
    MSAMETFL a bare file name; the MSA metadata file copied next to it or not."""
    import shutil

    from astropy.io import fits

    outdir.mkdir()
    with fits.open(cal) as hdul:
        for hdu in hdul:
            for key in [k for k in hdu.header if k.startswith("NODYPOS")]:
                del hdu.header[key]
        hdul[0].header["MSAMETFL"] = msa_path.name
        hdul.writeto(outdir / cal.name)
    if keep_msa_file:
        shutil.copy(msa_path, outdir / msa_path.name)
    return outdir / cal.name


def test_mos_cal_without_nod_keywords_rereads_the_msa_file(mos_saved, tmp_path):
    from pathlib import Path

    pipe, cal, _ = mos_saved
    msa_path = Path(cal).parent / pipe.calibrated.get_keyword("MSAMETFL")  # saved beside the cal
    assert msa_path.is_file()
    other = _rewrite_cal(cal, tmp_path / "other", True, msa_path)
    with webbcal.open(other) as model:
        assert all(slit.header("SCI").get("NODYPOS1") is None for slit in model.slits)
    _assert_same_flux(_extract(pipe.calibrated), _extract(str(other)))


def test_mos_cal_without_nod_positions_or_msa_file_warns(mos_saved, tmp_path, caplog):
    import logging
    from pathlib import Path

    pipe, cal, truth = mos_saved
    msa_path = Path(cal).parent / pipe.calibrated.get_keyword("MSAMETFL")  # saved beside the cal
    assert msa_path.is_file()
    lost = _rewrite_cal(cal, tmp_path / "lost", False, msa_path)
    with caplog.at_level(logging.WARNING, logger="webbcal.nirspec"):
        with webbcal.open(lost) as model:
            targets = _targets(model)
    assert "negative traces of the nod-subtracted data are not located" in caplog.text
    assert all(t.negative_positions == () for t in targets.values())


def test_nodded_fixed_slit_cal_file_extracts_like_memory(fs_nodded, tmp_path):
    model, truth = fs_nodded
    pipe, cal = _spec2_saved(model, tmp_path)
    _assert_same_flux(pipe.products["extract_1d"], _extract(str(cal)))
    ratio = _ratios(_extract(str(cal)), truth)["S200A1"]
    assert np.max(np.abs(ratio - 1)) < 5e-4


def test_gaussian_profile_in_a_narrow_window_keeps_the_spectrum_ends(tmp_path):
    # a 5-px window around a sigma = 1 px source holds 98.8-99.7 % of its light, and the
    # optimal flux is the flux in the window: every bin between 0.985 and 1.  Two faults
    # this catches: the Gaussian fitted on the window alone (its constant background
    # absorbed the wings: first bins 13.7 % low), and a trace fit that depended on the
    # data's unit (slices of 1e-9 MJy stopped 0.13 px off: median 0.987)
    plain, truth = _mos(None, tmp_path / "plain")
    for ratio in _ratios(_run(plain, extraction_type="optimal", profile_type="gaussian", extract_width=5.0),
                         truth).values():
        assert np.all((ratio > 0.985) & (ratio < 1.001)), (ratio.min(), ratio.max())
        assert np.median(ratio) > 0.993
