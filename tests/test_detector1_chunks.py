"""detector1 in chunks of bounded memory (webbcal.pipeline.detector1): the answers do not
depend on the chunking. A multi-integration exposure with cosmic rays (some on the
borders of the blocks), saturation and bad pixels, run with working memory small enough
for one integration per chunk, bands of a few rows, or pieces of one row (the scratch
arrays then on disk), gives flag for flag and value for value what the steps give run
one after another on the whole exposure in memory; the scratch files are gone
afterwards and the input file is untouched."""
import hashlib

import numpy as np
import pytest

import webbcal
from webbcal.pipeline import get_step_class
from webbcal.plugins import get_host


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    host = get_host()
    mode = host.modes.find("NIRCAM", "NRC_TSGRISM")
    model, truth = host.call_for_mode("webbcal_simulate", mode,
                                      params={"nints": 6, "level": "uncal", "seed": 11, "cosmic_rays": 40})
    data = np.array(model.data)
    # cosmic rays on rows a band edge may cut, and next to them (neighbour flagging
    # across blocks): strong steps from group 4 on
    for i, y, x in ((0, 20, 300), (1, 21, 301), (2, 31, 700), (3, 32, 700), (4, 0, 1000), (5, 63, 1500)):
        data[i, 4:, y, x] = np.minimum(data[i, 4:, y, x].astype(np.int64) + 3000, 65535).astype(data.dtype)
    model.data = data
    path = tmp_path_factory.mktemp("chunks") / "chunk_uncal.fits"
    model.save(path)
    return path, mode


def _whole(path, mode):
    """The recipe's steps one after another on the whole exposure in memory."""
    host = get_host()
    model = webbcal.open(str(path))
    for name in mode.detector1:
        step = get_step_class(name, host)(save_results=False)
        model = step.run_model(model, mode)
        if name == "ramp_fit":
            ints = step.side_products["rateints"]
    return model, ints


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def whole(raw):
    return _whole(*raw)


@pytest.mark.parametrize("chunk_mb", [16, 256, 1024])   # tiles, bands of rows, whole
def test_chunked_run_equals_the_whole_exposure(raw, whole, chunk_mb, tmp_path):
    path, mode = raw
    before = _digest(path)
    rate_w, ints_w = whole
    pipe = get_step_class("detector1")(output_dir=str(tmp_path), save_results=True, chunk_mb=chunk_mb)
    rate = pipe.run(str(path))
    ints = webbcal.open(tmp_path / "chunk_rateints.fits")
    for name in ("data", "err", "var_poisson", "var_rnoise"):
        np.testing.assert_array_equal(getattr(rate, name), getattr(rate_w, name), err_msg=name)
        np.testing.assert_array_equal(getattr(ints, name), getattr(ints_w, name), err_msg=name)
    np.testing.assert_array_equal(rate.dq, rate_w.dq)
    np.testing.assert_array_equal(ints.dq, ints_w.dq)
    # the injected steps and their neighbours flagged, whatever block they fell in
    for i, y, x in ((0, 20, 300), (1, 21, 301), (2, 31, 700), (3, 32, 700), (4, 0, 1000), (5, 63, 1500)):
        assert ints.dq[i, y, x] & 4
        for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= yy < 64:
                assert ints.dq[i, yy, xx] & 4, (i, yy, xx)
    assert rate.meta.cal_step.jump == "COMPLETE" and ints.meta.cal_step.ramp_fit == "COMPLETE"
    # nothing left behind but the two products; the input as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk_rate.fits", "chunk_rateints.fits"]
    assert _digest(path) == before


def test_scratch_goes_to_disk_only_beyond_the_budget(raw, tmp_path, caplog):
    import logging

    path, _ = raw
    with caplog.at_level(logging.INFO, logger="webbcal.pipeline"):
        get_step_class("detector1")(output_dir=str(tmp_path / "small"), chunk_mb=16).run(str(path))
    assert any("kept in" in r.getMessage() for r in caplog.records)      # 6 x 10 x 64 x 2048 float32 = 31 MB
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="webbcal.pipeline"):
        get_step_class("detector1")(output_dir=str(tmp_path / "large"), chunk_mb=1024).run(str(path))
    assert not any("kept in" in r.getMessage() for r in caplog.records)


def test_blocks_cover_the_detector_once():
    from webbcal.pipeline.detector1 import MIN_BLOCK, _blocks

    for ny, nx, budget, per_pixel, halo in ((64, 2048, 16 * 2 ** 20, 5760, 1), (64, 2048, 2 ** 20, 5760, 1),
                                            (100, 300, 10 ** 9, 100, 0), (7, 11, 500, 50, 2),
                                            (64, 2048, 2 ** 30, 960, 402), (2048, 2048, 2 ** 28, 960, 402),
                                            (2048, 2048, 2 ** 28, 960, 1), (64, 2048, 2 ** 28, 288000, 1)):
        seen = np.zeros((ny, nx), int)
        for (r0, r1), (c0, c1) in _blocks(ny, nx, budget, per_pixel, halo):
            seen[r0:r1, c0:c1] += 1
            rows, cols = min(ny, r1 + halo) - max(0, r0 - halo), min(nx, c1 + halo) - max(0, c0 - halo)
            # within the budget, unless the smallest block allowed (with its margin) is larger
            side = MIN_BLOCK if halo > 1 else 1
            smallest = min(ny, side + 2 * halo) * min(nx, side + 2 * halo) * per_pixel
            assert rows * cols * per_pixel <= max(budget, smallest)
        assert np.all(seen == 1)


@pytest.fixture(scope="module")
def snowball(tmp_path_factory):
    """Raw ramps with a snowball: from group 5 of integration 1, a 3 x 3 core at the
    saturation plateau, a 400 DN halo out to 4 pixels (found by the two-point
    difference) and a faint 25 DN halo out to 8 pixels (below its threshold); the same
    event 600 columns to the left in integration 0."""
    host = get_host()
    mode = host.modes.find("NIRCAM", "NRC_TSGRISM")
    model, truth = host.call_for_mode("webbcal_simulate", mode,
                                      params={"nints": 2, "level": "uncal", "seed": 4, "cosmic_rays": 0})
    data = np.array(model.data).astype(np.int64)
    cy, cx = 32, 1200
    yy, xx = np.mgrid[0:64, 0:2048]
    d = np.hypot(yy - cy, xx - cx)
    core = (np.abs(yy - cy) <= 1) & (np.abs(xx - cx) <= 1)
    data[1, 5:][:, (d <= 4) & ~core] += 400
    data[1, 5:][:, (d > 4) & (d <= 8)] += 25
    data[1, 5:][:, core] = 65535
    for dy, dx in ((0, -600),):
        ds = np.hypot(yy - cy - dy, xx - cx - dx)
        cs = (np.abs(yy - cy - dy) <= 1) & (np.abs(xx - cx - dx) <= 1)
        data[0, 5:][:, (ds <= 4) & ~cs] += 400
        data[0, 5:][:, cs] = 65535
    model.data = np.clip(data, 0, 65535).astype(np.uint16)
    path = tmp_path_factory.mktemp("snow") / "snow_uncal.fits"
    model.save(path)
    return path, mode, d


def test_snowball_halo_flagged_only_with_large_events(snowball, tmp_path):
    path, mode, d = snowball
    plain = get_step_class("detector1")(output_dir=str(tmp_path / "a"), save_results=True).run(str(path))
    pipe = get_step_class("detector1")(output_dir=str(tmp_path / "b"), save_results=True,
                                       steps={"jump": {"expand_large_events": True}})
    large = pipe.run(str(path))
    a = webbcal.open(tmp_path / "a" / "snow_rateints.fits").dq[1]
    b = webbcal.open(tmp_path / "b" / "snow_rateints.fits").dq[1]
    faint = (d > 5) & (d <= 8)
    assert np.mean(a[faint] & 4 != 0) < 0.2            # the faint halo escapes the two-point test ...
    assert np.all(b[faint] & 4)                          # ... and is caught as part of the snowball
    # nothing new beyond the expanded disc: twice the enclosing radius of the flagged
    # region, which lies within the 8-pixel halo (+ half a pixel)
    c0 = np.hypot(*np.mgrid[0:64, 0:2048] - np.array([32, 600])[:, None, None])   # integration 0's core
    far = (d > 17.01) & (c0 > 3.5)
    assert not np.any(b[far] & 4 & ~a[far])
    assert np.any(b[(d > 9) & (d < 17)] & 4 & ~a[(d > 9) & (d < 17)])
    assert np.all(b[d <= 1.5] & 2)                       # the core stays saturated
    assert large.meta.cal_step.jump == plain.meta.cal_step.jump == "COMPLETE"
    # the core of integration 0's snowball (3 x 3, 5 x 5 with the saturation step's
    # one-pixel growth) is flagged in integration 1 (its persisting charge:
    # mask_snowball_core_next_int, on by default with large events), not around it
    assert np.all(b[c0 <= 2.5] & 4) and np.mean(a[c0 <= 2.5] & 4 != 0) < 0.2    # (a noise flag or two)
    ring = (c0 > 3.5) & (c0 < 20)
    assert not np.any(b[ring] & 4 & ~a[ring])
    off = get_step_class("detector1")(output_dir=str(tmp_path / "c"), save_results=True, steps={
        "jump": {"expand_large_events": True, "mask_snowball_core_next_int": False}}).run(str(path))
    assert np.mean(webbcal.open(tmp_path / "c" / "snow_rateints.fits").dq[1][c0 <= 2.5] & 4 != 0) < 0.2
    assert off.meta.cal_step.jump == "COMPLETE"


def test_snowballs_are_the_same_in_chunks(snowball, tmp_path):
    path, mode, _ = snowball
    outs = []
    for mb in (16, 1024):
        get_step_class("detector1")(output_dir=str(tmp_path / str(mb)), save_results=True, chunk_mb=mb,
                                    steps={"jump": {"expand_large_events": True, "find_showers": True,
                                                    "max_extended_radius": 20, "after_jump_flag_dn1": 300,
                                                    "after_jump_flag_time1": 100.0}}).run(str(path))
        outs.append(webbcal.open(tmp_path / str(mb) / "snow_rateints.fits"))
    np.testing.assert_array_equal(outs[0].dq, outs[1].dq)
    np.testing.assert_array_equal(outs[0].data, outs[1].data)
