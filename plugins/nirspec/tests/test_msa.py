"""NIRSpec MSA metadata file: open slitlets, sources, source positions, nods."""
import numpy as np
import pytest

from webbcal.errors import InputFileError
from webbcal_nirspec import msa


def _write(tmp_path):
    slitlets = [
        # 3-shutter slitlet, 3-point nod: the source moves column 11 -> 10 -> 12
        dict(slitlet_id=2, quadrant=2, row=40, columns=[10, 11, 12], source_id=42,
             dithers=[(11, 0.40, 0.70), (10, 0.41, 0.71), (12, 0.39, 0.72)]),
        # a galaxy (low stellarity)
        dict(slitlet_id=5, quadrant=1, row=100, columns=[20, 21, 22], source_id=1001,
             dithers=[(21, 0.5, 0.5), (20, 0.5, 0.5), (22, 0.5, 0.5)]),
        # background only
        dict(slitlet_id=7, quadrant=3, row=60, columns=[5, 6, 7], dithers=[(None, 0, 0)] * 3),
    ]
    sources = [dict(source_id=42, source_name="1_42", ra=53.1, dec=-27.7, stellarity=1.0),
               dict(source_id=1001, source_name="1_1001", ra=53.2, dec=-27.8, stellarity=0.1)]
    return msa.write_msa_metadata(tmp_path / "x_msa.fits", slitlets, sources, msa_metadata_id=1)


def test_slitlets_of_one_dither_point(tmp_path):
    path = _write(tmp_path)
    slits = {s.slitlet_id: s for s in msa.read_msa_metadata(path, 1, dither_point=1)}
    assert sorted(slits) == [2, 5, 7]
    s2 = slits[2]
    assert (s2.quadrant, s2.row, s2.column) == (2, 40, 11)
    assert s2.shutter_id == (11 - 1) * 365 + 40
    assert s2.shutter_offsets == (-1, 0, 1)
    assert s2.source_id == 42 and s2.source_type == "POINT" and s2.source_name == "1_42"
    # 0..1 in the shutter -> -0.5..0.5 slit units
    assert s2.source_xpos == pytest.approx(-0.10, abs=1e-6) and s2.source_ypos == pytest.approx(0.20, abs=1e-6)
    # the same source at dither points 2 and 3, in shutter pitches from the primary shutter
    assert s2.nod_offsets == pytest.approx((-1 + 0.21, 1 + 0.22), abs=1e-6)
    assert s2.shutter_state == "1x1"
    assert slits[5].source_type == "EXTENDED"
    bkg = slits[7]
    assert bkg.is_background and bkg.source_id > 1001 and bkg.column == 6
    ymin, ymax = s2.slit_extent(pitch=1.0)
    assert ymin == pytest.approx(-1.55) and ymax == pytest.approx(1.55)


def test_other_dither_point_moves_the_primary_shutter(tmp_path):
    path = _write(tmp_path)
    s2 = {s.slitlet_id: s for s in msa.read_msa_metadata(path, 1, dither_point=2)}[2]
    assert s2.column == 10 and s2.shutter_offsets == (0, 1, 2)
    ymin, ymax = s2.slit_extent(pitch=1.2)
    assert ymin == pytest.approx(-0.55) and ymax == pytest.approx(2.4 + 0.55)


def test_stellarity_threshold():
    assert msa.source_type_from_stellarity(0.9) == "POINT"
    assert msa.source_type_from_stellarity(0.5) == "EXTENDED"
    assert msa.source_type_from_stellarity(-1) == "POINT"
    assert msa.source_type_from_stellarity(np.nan) == "POINT"


def test_missing_rows_and_files_are_clear_errors(tmp_path):
    path = _write(tmp_path)
    with pytest.raises(InputFileError, match="msa_metadata_id=9"):
        msa.read_msa_metadata(path, 9, 1)
    with pytest.raises(InputFileError, match="MSAMETFL"):
        msa.read_msa_metadata(tmp_path / "absent_msa.fits", 1, 1)
    from astropy.io import fits

    bad = tmp_path / "bad_msa.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("slitlet_id", "I", array=[1])], name="SHUTTER_INFO"),
                  fits.BinTableHDU.from_columns([fits.Column("source_id", "J", array=[1])], name="SOURCE_INFO")]).writeto(bad)
    with pytest.raises(InputFileError, match="msa_metadata_id"):
        msa.read_msa_metadata(bad, 1, 1)


def test_simulated_mos_exposure_is_self_contained(tmp_path):
    """MSAMETFL names the file alone (no temporary absolute path) and saving the exposure
    puts the MSA file beside it: the folder can be moved and still calibrates."""
    import shutil

    import webbcal
    from webbcal.plugins import get_host
    from webbcal_nirspec import simulate as sm

    mode = get_host().modes.find("NIRSPEC", "NRS_MSASPEC")
    model, _ = sm.simulate(mode, {"seed": 1})
    name = model.get_keyword("MSAMETFL")
    assert "/" not in name and name.endswith("_msa.fits")
    first = tmp_path / "first"
    model.save(first / "mos_rate.fits")
    assert (first / name).is_file()
    moved = tmp_path / "elsewhere"
    shutil.move(str(first), str(moved))
    x1d = webbcal.run("spec2", str(moved / "mos_rate.fits"))
    assert len(x1d.spec) == 3
