"""The group-level corrections and the stage-1 reference readers: saturation flags, bias,
linearity and dark, on synthetic ramps and on the real NIRSpec DARK and SUPERBIAS."""
from pathlib import Path

import numpy as np
import pytest

from webbcal.datamodels.dqflags import DQ
from webbcal.detector import corrections
from webbcal.detector.simulate import invert_polynomial, raw_ramps
from webbcal.errors import ReferenceFileError
from webbcal.refs.detector import dark_frames_for, read_dark, read_linearity, read_saturation, read_superbias

DATA = Path(__file__).resolve().parents[4] / "tests" / "data" / "nirspec" / "ref"


def test_saturation_flags_the_group_and_all_after_and_grows():
    data = np.zeros((1, 5, 7, 7), np.float32) + 100
    data[0, 3:, 3, 3] = 70000          # saturates from group 3
    data[0, 1, 0, 0] = 0               # A/D floor
    level = np.full((7, 7), 60000.0)
    level[6, 6] = np.nan               # no saturation check here
    gdq, pdq = corrections.flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((7, 7), np.uint32),
                                           level, np.zeros((7, 7), np.uint32), n_pix_grow_sat=1)
    sat = (gdq & DQ.SATURATED) != 0
    assert sat[0, 3:, 2:5, 2:5].all() and not sat[0, :3].any() and sat.sum() == 2 * 9
    assert gdq[0, 1, 0, 0] & DQ.AD_FLOOR and gdq[0, 1, 0, 0] & DQ.DO_NOT_USE
    assert pdq[6, 6] & DQ.NO_SAT_CHECK and not pdq[0, 0]
    gdq0, _ = corrections.flag_saturation(data, np.zeros(data.shape, np.uint8), np.zeros((7, 7), np.uint32),
                                          level, np.zeros((7, 7), np.uint32), n_pix_grow_sat=0)
    assert ((gdq0 & DQ.SATURATED) != 0).sum() == 2


def test_linearity_inverts_the_simulated_non_linearity():
    """The correction applied to ramps made non-linear by inverting the same polynomial
    returns the linear signal to 1e-6 DN; saturated groups and NO_LIN_CORR pixels are left."""
    coeffs = np.zeros((3, 4, 4))
    coeffs[1], coeffs[2] = 1.0, 2e-6
    coeffs[:, 0, 0] = np.nan
    linear = np.linspace(0, 50000, 4 * 4 * 6).reshape(1, 6, 4, 4)
    measured = invert_polynomial(np.where(np.isfinite(coeffs), coeffs, 0.0), linear)
    gdq = np.zeros(linear.shape, np.uint8)
    gdq[0, 5, 1, 1] = DQ.SATURATED
    out, pdq = corrections.correct_linearity(measured, gdq, np.zeros((4, 4), np.uint32), coeffs,
                                             np.zeros((4, 4), np.uint32))
    ok = np.ones(linear.shape, bool)
    ok[..., 0, 0] = False
    ok[0, 5, 1, 1] = False
    np.testing.assert_allclose(out[ok], linear[ok], atol=1e-2, rtol=1e-6)
    assert out[0, 5, 1, 1] == pytest.approx(measured[0, 5, 1, 1], rel=1e-6)
    assert pdq[0, 0] & DQ.NO_LIN_CORR and np.all(out[0, :, 0, 0] == measured[0, :, 0, 0].astype(np.float32))


def test_dark_frames_are_averaged_to_the_readout():
    from webbcal.refs.detector import StackReference

    frames = np.arange(1, 31, dtype=np.float32)[:, None, None] * np.ones((30, 2, 2), np.float32)
    ref = StackReference("dark.fits", "DARK", frames.shape, np.zeros((2, 2), np.uint32), keywords={"NFRAMES": 1,
                                                                                                "GROUPGAP": 0})
    same = dark_frames_for(ref, frames, 1, 0, 5)
    np.testing.assert_array_equal(same[:, 0, 0], [1, 2, 3, 4, 5])
    avg = dark_frames_for(ref, frames, 4, 1, 5)          # groups of 4 frames, 1 dropped between
    np.testing.assert_allclose(avg[:, 0, 0], [2.5, 7.5, 12.5, 17.5, 22.5])
    with pytest.raises(ReferenceFileError, match="averaging 10 groups"):
        dark_frames_for(ref, frames, 4, 1, 10)
    ref.keywords = {"NFRAMES": 4, "GROUPGAP": 0}
    with pytest.raises(ReferenceFileError, match="cannot be averaged"):
        dark_frames_for(ref, frames, 2, 0, 5)


def test_real_nirspec_dark_and_superbias_placed_and_subtracted():
    """The real SUB512 NRS1 DARK (10 frames) and SUPERBIAS, cut to a window inside them by
    SUBSTRT1/2 and subtracted: what remains is exactly the ramp minus those values."""
    dark, bias = read_dark(DATA / "jwst_nirspec_dark_0046.fits"), read_superbias(DATA / "jwst_nirspec_superbias_0075.fits")
    assert dark.shape == (10, 32, 512) and (dark.xstart, dark.ystart) == (1025, 957) and dark.keywords["NFRAMES"] == 1
    assert bias.shape == (32, 512) and 1000 < float(np.nanmedian(bias.planes)) < 30000

    class Exposure:
        data = np.zeros((1, 6, 16, 100), np.float32)

    window = (1025 + 200, 957 + 8, 100, 16)
    dplanes, ddq = dark.for_exposure(Exposure, window)
    bplane, bdq = bias.for_exposure(Exposure, window)
    np.testing.assert_array_equal(dplanes, dark.planes[:, 8:24, 200:300])
    ramps = np.full((1, 6, 16, 100), 20000.0, np.float32)
    out, pdq = corrections.subtract_superbias(ramps, np.zeros((16, 100), np.uint32), bplane, bdq)
    groups = dark_frames_for(dark, dplanes, 1, 0, 6)
    out, pdq = corrections.subtract_dark(out, pdq, groups, ddq)
    expect = 20000.0 - np.nan_to_num(bplane)[None, None] - np.nan_to_num(dplanes[:6])[None]
    np.testing.assert_allclose(out, expect.astype(np.float32), rtol=1e-6, atol=1e-2)
    assert (pdq & ddq).tolist() == ddq.tolist()                 # the dark's flags are carried
    with pytest.raises(ReferenceFileError, match="does not cover"):
        dark.for_exposure(Exposure, (1, 1, 100, 16))


def test_readers_refuse_malformed_files(tmp_path):
    from astropy.io import fits

    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(tmp_path / "a.fits")
    with pytest.raises(ReferenceFileError, match="a.fits.*no COEFFS"):
        read_linearity(tmp_path / "a.fits")
    with pytest.raises(ReferenceFileError, match="DARK SCI must be 3-D or 4-D"):
        read_dark(tmp_path / "a.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI"),
                  fits.ImageHDU(np.zeros((3, 3), np.uint32), name="DQ")]).writeto(tmp_path / "b.fits")
    with pytest.raises(ReferenceFileError, match="DQ of shape"):
        read_saturation(tmp_path / "b.fits")
    (tmp_path / "c.fits").write_bytes((DATA / "jwst_nirspec_superbias_0075.fits").read_bytes()[:8000])
    with pytest.raises(ReferenceFileError):
        read_superbias(tmp_path / "c.fits")


def test_raw_ramps_put_in_what_the_corrections_take_out():
    """raw_ramps with a bias, dark, non-linearity and no noise: the corrections in the
    official order return rate x time to 1e-3 DN."""
    coeffs = np.zeros((3, 6, 6))
    coeffs[1], coeffs[2] = 1.0, 2e-6
    raw = raw_ramps(np.full((6, 6), 200.0), 5, 10.0, 1e9, 1e-9, np.full((6, 6), 12000.0), coeffs,
                    np.full((6, 6), 65000.0), dark_per_frame=0.5, seed=1)
    d, _ = corrections.subtract_superbias(raw.data, np.zeros((6, 6), np.uint32), np.full((6, 6), 12000.0),
                                          np.zeros((6, 6), np.uint32))
    d, _ = corrections.correct_linearity(d, np.zeros(d.shape, np.uint8), np.zeros((6, 6), np.uint32), coeffs,
                                         np.zeros((6, 6), np.uint32))
    dark = (np.arange(1, 6) * 0.5)[:, None, None] * np.ones((5, 6, 6))
    d, _ = corrections.subtract_dark(d, np.zeros((6, 6), np.uint32), dark, np.zeros((6, 6), np.uint32))
    expect = (np.arange(1, 6) * 10.0 * 200.0)[None, :, None, None]
    np.testing.assert_allclose(d, np.broadcast_to(expect, d.shape), atol=0.6)   # rounding to whole DN


@pytest.mark.parametrize("nframes", [1, 4, 5])
def test_saturation_with_the_read_pattern_equals_the_official(nframes):
    """Frame-averaged ramps (``nframes`` frames a group) over a bias, pixels saturating
    part-way through groups, some in the second group, a NO_SAT_CHECK pixel: the
    GROUPDQ and PIXELDQ equal stcal's flag_saturated_pixels with the read pattern and
    the superbias (the official step's use_readpatt, a test-only dependency); and groups
    that saturated part-way are found (DO_NOT_USE)."""
    sat_mod = pytest.importorskip("stcal.saturation.saturation", reason="stcal is part of the test extra")
    rng = np.random.default_rng(nframes)
    nints, ngroups, ny, nx = 2, 6, 24, 24
    bias = rng.uniform(8000, 12000, (ny, nx))
    level = np.full((ny, nx), 60000.0)
    rate = rng.uniform(0, 3000, (ny, nx))                      # DN per frame, many saturate
    rate[:4] = rng.uniform(15000, 30000, (4, nx))              # fast ones: within the first groups
    frames = np.arange(1, ngroups * nframes + 1)
    signal = np.minimum(bias[None] + rate[None] * frames[:, None, None], 65535.0)   # the ADC's ceiling
    data = signal.reshape(ngroups, nframes, ny, nx).mean(axis=1)
    data = np.stack([data, data * 0.98])
    ref_dq = np.zeros((ny, nx), np.uint32)
    ref_dq[5, 5] = DQ.NO_SAT_CHECK
    gdq = np.zeros(data.shape, np.uint8)
    pdq = np.zeros((ny, nx), np.uint32)
    ours_g, ours_p = corrections.flag_saturation(data, gdq, pdq, level, ref_dq, 1, nframes=nframes, bias=bias)
    flags = {"DO_NOT_USE": 1, "SATURATED": 2, "AD_FLOOR": 64, "NO_SAT_CHECK": 2**21}
    pattern = [[x + 1 + g * nframes for x in range(nframes)] for g in range(ngroups)]
    their_g, their_p, _ = sat_mod.flag_saturated_pixels(
        data.astype(np.float32), gdq.copy().astype(np.uint32), pdq.copy(), level.astype(np.float32).copy(),
        ref_dq.copy(), 65535, flags, n_pix_grow_sat=1, read_pattern=pattern, bias=bias.astype(np.float32))
    np.testing.assert_array_equal(ours_g, their_g)
    np.testing.assert_array_equal(ours_p, their_p)
    partial = (ours_g & DQ.DO_NOT_USE) != 0
    if nframes > 1:
        assert partial.sum() > 20          # groups that saturated part-way, left out of the fit
    else:
        assert not partial.any()           # nothing is diluted with one frame a group
