"""Aperture geometry: JWST EXTRACT1D edge conventions, shifts, off-detector errors."""
import numpy as np
import pytest

from webbcal.errors import ExtractionError
from webbcal.extract.aperture import Aperture, pixel_overlap
from webbcal.extract.orient import orient, orient_plane


def test_inclusive_limits_with_fractional_edges_give_analytic_overlap():
    ap = Aperture(name="S", cross_start=10.3, cross_stop=20.6)
    src, bkg = ap.weights(32, 5)
    assert bkg is None
    col = src[:, 2]
    # edges at 9.8 and 21.1: pixel 10 is 0.7 inside, pixel 21 is 0.6 inside
    assert col[9] == 0 and col[22] == 0
    assert col[10] == pytest.approx(0.7)
    assert col[21] == pytest.approx(0.6)
    assert np.all(col[11:21] == 1.0)
    assert src.sum(axis=0) == pytest.approx(np.full(5, 21.1 - 9.8))


def test_src_coeff_half_pixel_edges_cover_whole_pixels_and_whole_number_edge_splits():
    ap = Aperture(src_coeff=[[4.5], [9.5]])
    src, _ = ap.weights(15, 3)
    assert np.array_equal(np.flatnonzero(src[:, 0]), np.arange(5, 10))
    assert np.all(src[5:10] == 1.0)
    ap = Aperture(src_coeff=[[5.0], [9.0]])
    src, _ = ap.weights(15, 3)
    assert src[5, 0] == 0.5 and src[9, 0] == 0.5 and src[4, 0] == 0 and src.sum(axis=0)[0] == 4.0


def test_detector_names_map_to_cross_dispersion_by_dispaxis():
    ref = {"xstart": 3, "xstop": 6, "ystart": 10, "ystop": 40}
    a1 = Aperture.from_parameters("a", 1, ref)
    assert (a1.cross_start, a1.cross_stop, a1.disp_start, a1.disp_stop) == (10, 40, 3, 6)
    a2 = Aperture.from_parameters("a", 2, ref)
    assert (a2.cross_start, a2.cross_stop, a2.disp_start, a2.disp_stop) == (3, 6, 10, 40)
    src, _ = a2.weights(12, 50)
    assert np.array_equal(np.flatnonzero(src.sum(axis=1)), np.arange(3, 7))  # cross pixels
    assert np.array_equal(np.flatnonzero(src.sum(axis=0)), np.arange(10, 41))  # dispersion columns
    assert a2.limits(12, 50) == {"xstart": 3.0, "xstop": 6.0, "ystart": 10.0, "ystop": 40.0}


def test_precedence_plugin_defaults_then_reference_then_step():
    ap = Aperture.from_parameters(
        "a", 1, {"ystart": 1, "ystop": 5, "bkg_order": 2}, {"ystart": 2, "bkg_order": 1}, {"ystart": 3, "ystop": None}
    )
    assert ap.cross_start == 3 and ap.cross_stop == 5 and ap.bkg_order == 1


def test_extract_width_is_centred_on_the_limits():
    ap = Aperture(cross_start=10, cross_stop=20, extract_width=4)
    src, _ = ap.weights(30, 2)
    # centre 15, edges 13 and 17: pixels 13 and 17 half in
    assert src[:, 0].sum() == pytest.approx(4.0)
    assert src[13, 0] == 0.5 and src[17, 0] == 0.5 and np.all(src[14:17, 0] == 1)


def test_use_source_posn_moves_source_and_background_together():
    ref = {"src_coeff": [[9.5], [14.5]], "bkg_coeff": [[0.5], [4.5], [19.5], [23.5]], "use_source_posn": True}
    ap = Aperture.from_parameters("a", 1, ref, source_position=17.0)
    src, bkg = ap.weights(40, 4)
    # nominal centre 12 -> shifted by +5
    assert np.array_equal(np.flatnonzero(src[:, 0]), np.arange(15, 20))
    assert np.array_equal(np.flatnonzero(bkg[:, 0]), np.r_[6:10, 25:29])
    ap_fixed = Aperture.from_parameters("a", 1, dict(ref, use_source_posn=False), source_position=17.0)
    assert np.array_equal(np.flatnonzero(ap_fixed.weights(40, 4)[0][:, 0]), np.arange(10, 15))


def test_aperture_follows_a_curved_trace():
    trace = lambda x: 20.0 + 0.002 * (x - 50.0) ** 2  # noqa: E731
    ap = Aperture(src_coeff=[[17.5], [22.5]], use_source_posn=True, trace=trace)
    src, _ = ap.weights(60, 101)
    centroid = (src * np.arange(60)[:, None]).sum(0) / src.sum(0)
    assert centroid == pytest.approx(trace(np.arange(101.0)), abs=1e-9)
    assert src.sum(0) == pytest.approx(np.full(101, 5.0))


def test_polynomial_edges_in_wavelength_taper():
    wl = np.linspace(5.0, 10.0, 20)
    ap = Aperture(src_coeff=[[20.0, -1.0], [20.0, 1.0]], independent_var="wavelength")
    src, _ = ap.weights(50, 20, wl)
    assert src.sum(0) == pytest.approx(2 * wl)
    with pytest.raises(ExtractionError, match="wavelength"):
        ap.weights(50, 20, None)


def test_aperture_off_the_detector_is_a_clear_error():
    ap = Aperture(name="S200A1", cross_start=80, cross_stop=90)
    with pytest.raises(ExtractionError) as exc:
        ap.weights(32, 100)
    msg = str(exc.value)
    assert "S200A1" in msg and "80.00 to 90.00" in msg and "0 to 31" in msg and "0 to 99" in msg
    # dispersion limits off the array are also "entirely off"
    with pytest.raises(ExtractionError):
        Aperture(name="x", disp_start=200, disp_stop=300).weights(32, 100)


def test_partially_off_detector_aperture_is_clipped_not_an_error():
    src, _ = Aperture(cross_start=-3, cross_stop=2).weights(10, 4)
    assert src[:, 0].sum() == 3.0


def test_pixel_overlap_is_exact_for_random_edges():
    rng = np.random.default_rng(0)
    lo = rng.uniform(-2, 12, 50)
    hi = lo + rng.uniform(0, 8, 50)
    w = pixel_overlap(lo, hi, 10)
    expected = np.clip(np.minimum(hi, 9.5) - np.maximum(lo, -0.5), 0, None)
    assert w.sum(0) == pytest.approx(expected)


def test_orient_returns_views_with_dispersion_last():
    cube = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    o = orient(cube, 2)
    assert o.shape == (2, 4, 3) and np.shares_memory(o, cube)
    assert o[1, 3, 2] == cube[1, 2, 3]
    assert orient(cube[0], 1).shape == (1, 3, 4)
    assert orient_plane(cube[0], 2).shape == (4, 3)


def test_off_data_aperture_is_not_moved_onto_the_source():
    """An aperture wholly outside the data is an error even when use_source_posn could
    move it onto the trace (it used to be moved silently)."""
    ap = Aperture(name="A", cross_start=80, cross_stop=90, use_source_posn=True, source_position=15.0)
    with pytest.raises(ExtractionError, match="entirely off the data"):
        ap.weights(32, 100)
    ap = Aperture(name="B", src_coeff=[[-20.0], [-10.0]], use_source_posn=True, trace=lambda x: 0 * x + 15.0)
    with pytest.raises(ExtractionError, match="entirely off the data"):
        ap.weights(32, 100)


def test_a_move_of_more_than_one_pixel_is_a_warning_with_from_and_to(caplog):
    with caplog.at_level("WARNING", logger="webbcal.extract"):
        Aperture(name="A", cross_start=10, cross_stop=14, use_source_posn=True, source_position=12.5).weights(32, 50)
    assert not caplog.records  # 0.5 px: silent
    with caplog.at_level("WARNING", logger="webbcal.extract"):
        Aperture(name="A", cross_start=10, cross_stop=14, use_source_posn=True, source_position=20.0).weights(32, 50)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "12.00 -> 20.00" in msgs[0] and "+8.00" in msgs[0]


@pytest.mark.parametrize("params,match", [
    ({"ystart": 20, "ystop": 10}, "ystart=20 is beyond ystop=10"),
    ({"xstart": 50, "xstop": 5}, "xstart=50 is beyond xstop=5"),
    ({"ystop": float("inf")}, "ystop must be finite"),
    ({"extract_width": float("nan")}, "extract_width must be finite"),
    ({"ystart": "low"}, "ystart must be a number"),
    ({"src_coeff": [1, 2, 3]}, "even number"),
])
def test_invalid_aperture_values_are_rejected(params, match):
    with pytest.raises(ExtractionError, match=match):
        Aperture.from_parameters("A", 1, params)


def test_step_limits_beat_a_plugin_default_width():
    """The plugin's default extract_width does not override ystart/ystop the user gives
    (NIRSpec ignored --ystart/--ystop); a width given at the same level still wins."""
    ap = Aperture.from_parameters("A", 1, {"extract_width": 5.0}, None, {"ystart": 2, "ystop": 20})
    assert ap.extract_width is None and (ap.cross_start, ap.cross_stop) == (2.0, 20.0)
    ap = Aperture.from_parameters("A", 1, {"ystart": 2, "ystop": 20}, None, {"extract_width": 5.0})
    assert ap.extract_width == 5.0
