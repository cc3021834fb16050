"""The reference-pixel correction: per-amplifier, per-column-parity offsets from the top /
bottom reference rows and a slow row drift from the side columns are removed."""
import numpy as np
import pytest

from webbcal.detector.corrections import refpix_correct


def _frame(n=256, border=4, seed=0):
    rng = np.random.default_rng(seed)
    ref = np.zeros((n, n), bool)
    ref[:border] = ref[-border:] = True
    ref[:, :border] = ref[:, -border:] = True
    nints, ngroups = 2, 3
    signal = rng.normal(0, 2.0, (nints, ngroups, n, n))
    signal[..., ~ref] += 500.0                       # light on the science pixels only
    offsets = rng.uniform(-50, 50, (nints, ngroups, 4, 2))   # amplifier x column parity
    cols = np.arange(n)
    amp = np.minimum(cols // (n // 4), 3)
    pattern = offsets[:, :, amp, cols % 2]           # (nints, ngroups, n)
    drift = 20.0 * np.sin(np.arange(n) / 40.0)       # a slow drift along the rows
    data = signal + pattern[:, :, None, :] + drift[None, None, :, None]
    return data.astype(np.float32), ref, signal


def test_offsets_and_row_drift_are_removed():
    data, ref, signal = _frame()
    out, applied = refpix_correct(data, ref, noutputs=4)
    assert applied
    sci = ~ref
    residual = (out - signal)[..., sci]
    # what is left: the noise of the means (2 / sqrt(~100) per amplifier-parity, the
    # smoothed side rows) -- far below the 50 DN offsets and 20 DN drift put in
    assert np.abs(np.mean(residual)) < 0.2 and np.std(residual) < 1.0
    before = (data - signal)[..., sci]
    assert np.std(before) > 15


def test_no_reference_pixels_leaves_the_data():
    data, ref, _ = _frame()
    out, applied = refpix_correct(data[..., 10:50, 10:50], ref[10:50, 10:50], noutputs=1)
    assert not applied and np.array_equal(out, data[..., 10:50, 10:50])


def test_one_output_subarray_with_its_top_rows():
    """A full-width subarray at the top of the detector (grism time series): the top rows
    and the side columns are there, one offset per parity over the whole width."""
    data, ref, signal = _frame()
    sub = slice(192, 256)
    # the same offset on every column (one output)
    out, applied = refpix_correct(data[..., sub, :], ref[sub], noutputs=4)
    assert applied
    residual = (out - signal[..., sub, :])[..., ~ref[sub]]
    assert np.std(residual) < 2.0


def test_clipped_mean_is_scipy_sigmaclip():
    """The clipped mean is that of scipy.stats.sigmaclip (3 sigma about the mean,
    iterated) -- the official step's -- per row, NaN left out."""
    from scipy.stats import sigmaclip

    from webbcal.detector.corrections import clipped_mean

    rng = np.random.default_rng(3)
    x = rng.normal(10, 2, (20, 300))
    x[:, :5] += rng.uniform(30, 300, (20, 5))          # outliers
    x[3, 7] = np.nan
    got = clipped_mean(x)
    for i in range(20):
        row = x[i][np.isfinite(x[i])]
        assert got[i] == pytest.approx(sigmaclip(row, 3.0, 3.0).clipped.mean(), rel=1e-12)
    assert np.isnan(clipped_mean(np.full((2, 4), np.nan))).all()


def test_transposed_readout_is_corrected_in_its_own_frame():
    """A detector read along the exposure's rows (NIRSpec, NIRISS): the amplifier bands
    and the side drift are those of the transposed frame; corrected with
    readout_transposed, left wrong without."""
    data, ref, signal = _frame(seed=4)
    dms = np.swapaxes(data, -1, -2).copy()
    out, applied = refpix_correct(dms, ref.T, noutputs=4, transposed=True)
    assert applied
    res = (np.swapaxes(out, -1, -2) - signal)[..., ~ref]
    assert np.std(res) < 1.0
    wrong, _ = refpix_correct(dms, ref.T, noutputs=4, transposed=False)
    assert np.std((np.swapaxes(wrong, -1, -2) - signal)[..., ~ref]) > 5 * np.std(res)


def test_unusable_reference_pixels_are_left_out():
    """Reference pixels flagged DO_NOT_USE (hot ones here, 5000 DN) do not enter the
    means: the result equals that of the clean frame's."""
    data, ref, signal = _frame(seed=5)
    bad = np.zeros_like(ref)
    bad[:2, 40:60] = bad[100:140, 1] = True
    hot = data.copy()
    hot[..., bad] += 5000.0
    clean, _ = refpix_correct(data, ref, noutputs=4, usable=~bad)
    out, _ = refpix_correct(hot, ref, noutputs=4, usable=~bad)
    np.testing.assert_array_equal(out[..., ~ref], clean[..., ~ref])
    pulled, _ = refpix_correct(hot, ref, noutputs=4)         # without the flags they pull the offsets
    assert np.abs(pulled[..., ~ref] - clean[..., ~ref]).max() > 1.0


def test_one_output_subarray_pools_its_reference_pixels_by_parity():
    """A subarray read through one output with reference columns on one side: one clipped
    mean per column parity over all its reference pixels, subtracted from every pixel."""
    rng = np.random.default_rng(6)
    ny, nx = 64, 200
    ref = np.zeros((ny, nx), bool)
    ref[:, :4] = True
    signal = rng.normal(0, 2.0, (1, 4, ny, nx))
    signal[..., ~ref] += 300.0
    par = rng.uniform(-40, 40, (1, 4, 2))
    data = signal + par[:, :, None, np.arange(nx) % 2]
    out, applied = refpix_correct(data, ref, noutputs=1, subarray=True)
    assert applied
    res = (out - signal)[..., ~ref]
    assert np.abs(res.mean()) < 0.5 and np.std(res) < 1.0


def test_interleaved_amplifiers_offsets_removed_from_the_second_group_on():
    """Interleaved amplifiers (MIRI): amplifier k reads columns k, k+4, ...; offsets that
    change from group to group (per amplifier and row parity) relative to the first group
    are removed using the left and right reference columns; the first group is left as
    it is (offsets common to every group stay, as in the official step)."""
    from webbcal.detector.corrections import refpix_interleaved

    rng = np.random.default_rng(8)
    ny, nx, nints, ngroups = 128, 48, 2, 5
    ref = np.zeros((ny, nx), bool)
    ref[:, :4] = ref[:, -4:] = True
    signal = rng.normal(0, 1.0, (nints, ngroups, ny, nx))
    signal[..., ~ref] += np.arange(ngroups)[None, :, None] * 100.0       # ramps on the science pixels
    off = rng.uniform(-30, 30, (nints, ngroups, 4, 2))                     # amplifier x row parity
    pattern = off[:, :, np.arange(nx) % 4][:, :, None, :, :]               # (nints, ngroups, 1, nx, 2)
    rowpar = np.arange(ny) % 2
    data = signal + np.take_along_axis(np.broadcast_to(pattern, (nints, ngroups, ny, nx, 2)),
                                       rowpar[None, None, :, None, None].repeat(nx, 3), axis=4)[..., 0]
    out, applied = refpix_interleaved(data, ref)
    assert applied
    np.testing.assert_array_equal(out[:, 0], data[:, 0].astype(np.float32))
    # what remains of the offsets: that of the first group, everywhere
    expect = signal + np.take_along_axis(np.broadcast_to(pattern[:, :1], (nints, ngroups, ny, nx, 2)),
                                         rowpar[None, None, :, None, None].repeat(nx, 3), axis=4)[..., 0]
    res = (out - expect)[..., ~ref]
    assert np.std(res) < 0.3 and np.std((data - expect)[..., ~ref]) > 10
    # no reference column on one side: nothing done
    same, applied = refpix_interleaved(data[..., :40], ref[:, :40])
    assert not applied and np.array_equal(same, data[..., :40].astype(np.float32))
