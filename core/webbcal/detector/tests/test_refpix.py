"""The reference-pixel correction: per-amplifier, per-column-parity offsets from the top /
bottom reference rows and a slow row drift from the side columns are removed."""
import numpy as np

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
