"""The fast paths of opening a product: binary tables read straight into numpy, the
ASDF tree parsed only when needed, headers copied on card images, DQ bits tested
without converting the memory-mapped array."""
import warnings

import numpy as np
import pytest
from astropy.io import fits

from webbcal import datamodels as dm
from webbcal.datamodels.fitstable import read_table
from webbcal.datamodels.headers import _merge_header, clean_header


def _table_file(tmp_path, columns, name="T", keywords=()):
    hdu = fits.BinTableHDU.from_columns(columns, name=name)
    for key, value in keywords:
        hdu.header[key] = value
    path = tmp_path / "t.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def _astropy_values(path, name):
    with fits.open(path) as hdul:
        data = hdul[name].data
        return {c: np.array(data[c]) for c in data.columns.names}


def _same(ours, theirs):
    assert set(ours.dtype.names) == set(theirs)
    for name, ref in theirs.items():
        got = ours[name]
        if ref.dtype.kind in "SU":
            assert [str(np.char.decode(g) if isinstance(g, bytes) else g).rstrip() for g in got] == \
                [str(r).rstrip() for r in ref]
        else:
            np.testing.assert_array_equal(got, ref)
            assert got.dtype.isnative


def test_fixed_width_table_reads_as_astropy_does(tmp_path):
    rng = np.random.default_rng(1)
    n = 7
    cols = [
        fits.Column("int_number", "J", array=np.arange(n)),
        fits.Column("mid", "D", unit="d", array=rng.normal(size=n)),
        fits.Column("flux", "E", unit="Jy", array=rng.normal(size=n).astype(np.float32)),
        fits.Column("flag", "L", array=rng.random(n) > 0.5),
        fits.Column("name", "8A", array=np.array(["FULL", "SUB64", "A", "", "B", "SLITLESS", "x y"])),
        fits.Column("small", "I", array=np.arange(n, dtype=np.int16) - 3),
        fits.Column("byte", "B", array=np.arange(n, dtype=np.uint8)),
        fits.Column("big", "K", array=np.arange(n, dtype=np.int64) * 10**12),
        fits.Column("cube", "6E", dim="(3,2)", array=rng.normal(size=(n, 2, 3)).astype(np.float32)),
        fits.Column("vec", "4D", array=rng.normal(size=(n, 4))),
    ]
    path = _table_file(tmp_path, cols)
    with fits.open(path, memmap=True) as hdul:
        table, units = read_table(hdul["T"], units=True)
        assert "data" not in vars(hdul["T"])  # read without astropy's FITS_rec
    _same(table, _astropy_values(path, "T"))
    assert table["cube"].shape == (n, 2, 3) and table["flag"].dtype == bool
    assert units["mid"] == "d" and units["flux"] == "Jy" and units["int_number"] is None


@pytest.mark.parametrize("column", [
    fits.Column("scaled", "I", array=np.array([1, 2, 3], dtype=np.int16)),  # TSCAL1/TZERO1 added
    fits.Column("unsigned", "J", bzero=2**31, array=np.array([0, 1, 2**32 - 1], dtype=np.uint32)),
    fits.Column("varlen", "PE()", array=np.array([np.ones(2), np.ones(1), np.ones(3)], dtype=object)),
    fits.Column("bits", "8X", array=np.array([[True] * 8, [False] * 8, [True, False] * 4])),
])
def test_unusual_columns_go_through_astropy_with_the_same_values(tmp_path, column):
    scaling = (("TSCAL1", 0.5), ("TZERO1", 10.0)) if column.name == "scaled" else ()
    path = _table_file(tmp_path, [column, fits.Column("x", "D", array=np.arange(3.0))], keywords=scaling)
    with fits.open(path) as hdul:
        table = read_table(hdul["T"])
        if scaling:
            np.testing.assert_array_equal(table["scaled"], [10.5, 11.0, 11.5])
        expected = hdul["T"].data
        np.testing.assert_array_equal(table["x"], np.arange(3.0))
        if column.format.startswith("P"):
            assert len(table) == 3
        else:
            np.testing.assert_array_equal(np.asarray(table[column.name]), np.asarray(expected[column.name]))


def test_a_table_edited_in_memory_is_read_as_edited(tmp_path):
    path = _table_file(tmp_path, [fits.Column("x", "D", array=np.arange(3.0))])
    with fits.open(path) as hdul:
        hdul["T"].data["x"][1] = 42.0
        np.testing.assert_array_equal(read_table(hdul["T"])["x"], [0.0, 42.0, 2.0])


# ---------------------------------------------------------------------------- the ASDF tree

def _product_with_tree(tmp_path):
    """A calints whose ASDF tree holds a value no FITS keyword holds (meta.observation.
    visit_group is a keyword; meta.visit.internal_target is not one of ours)."""
    m = dm.CubeModel(data=np.ones((2, 5, 6), np.float32))
    m.meta.instrument.name = "MIRI"
    m.meta.exposure.type = "MIR_LRS-SLITLESS"
    m.meta.visit.internal_target = True
    m.meta.program.science_category = "Exoplanets"
    assert m.meta.keyword_for("program.science_category") is None  # values of the tree only
    path = tmp_path / "x_calints.fits"
    m.save(path)
    return path


def test_the_asdf_tree_is_parsed_only_when_a_value_from_it_is_read(tmp_path, monkeypatch):
    import asdf

    path = _product_with_tree(tmp_path)
    calls = []
    real = asdf.open
    monkeypatch.setattr(asdf, "open", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = dm.open(path, memmap=True)
    assert m.meta.instrument.name == "MIRI" and m.meta.exposure.type == "MIR_LRS-SLITLESS"
    m.meta.exposure.nints = 2  # setting a keyword does not parse the tree either
    assert calls == []
    assert m.meta.program.science_category == "Exoplanets"
    assert len(calls) == 1
    assert m.meta.visit.internal_target is True
    assert len(calls) == 1  # parsed once
    m.close()


def test_deferred_tree_values_never_override_what_was_set(tmp_path):
    path = _product_with_tree(tmp_path)
    m = dm.open(path)
    m.meta.program.science_category = "Stars"  # set before the tree is read
    assert m.meta.program.science_category == "Stars"
    m2 = dm.open(path)
    del m2._extras["program.science_category"]  # removed: the tree cannot bring it back
    assert m2.meta.program.science_category is None
    # a product built from another carries its tree values, read when first needed
    out = dm.CubeModel(data=np.zeros((1, 2, 2), np.float32))
    out.update(dm.open(path))
    assert out.meta.program.science_category == "Exoplanets"
    assert out.meta.visit.internal_target is True
    copy = dm.open(path).copy()
    assert copy.meta.program.science_category == "Exoplanets"


def test_a_corrupt_asdf_tree_is_still_reported(tmp_path):
    path = _product_with_tree(tmp_path)
    with fits.open(path) as hdul:
        raw = bytearray(np.asarray(hdul["ASDF"].data["ASDF_METADATA"][0], dtype=np.uint8).tobytes())
        raw[len(raw) // 3: len(raw) // 3 + 40] = b"\x00" * 40  # garbage in the YAML
        col = fits.Column("ASDF_METADATA", f"{len(raw)}B", array=np.frombuffer(bytes(raw), np.uint8)[None])
        hdul["ASDF"] = fits.BinTableHDU.from_columns([col], name="ASDF")
        hdul.writeto(tmp_path / "bad.fits")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = dm.open(tmp_path / "bad.fits")
        assert m.meta.exposure.type == "MIR_LRS-SLITLESS"
        assert m.meta.program.science_category is None
        assert m.meta.wcs is None
    ours = [w for w in caught if issubclass(w.category, dm.WcsUnavailableWarning)]
    assert ours and "bad.fits" in str(ours[0].message)


# ---------------------------------------------------------------------------- headers

def test_cleaned_and_merged_headers_share_no_card():
    source = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("TARGNAME", "WASP-39"),
                          ("HISTORY", "made"), ("DATE-OBS", "2022-07-10"), ("LONGSTR", "x" * 100)])
    clean = clean_header(source)
    assert list(clean.keys()) == ["TARGNAME", "HISTORY", "DATE-OBS", "LONGSTR"]
    assert clean["LONGSTR"] == "x" * 100  # a CONTINUE card stays with its keyword
    target = fits.Header([("TARGNAME", "old", "kept comment"), ("OTHER", 1)])
    _merge_header(target, clean)
    assert target["TARGNAME"] == "WASP-39" and target["OTHER"] == 1 and target["DATE-OBS"] == "2022-07-10"
    target["DATE-OBS"] = "changed"
    assert clean["DATE-OBS"] == "2022-07-10" and source["DATE-OBS"] == "2022-07-10"


# ---------------------------------------------------------------------------- DQ bits

def test_any_bits_of_a_memory_mapped_dq_equals_the_converted_test(tmp_path):
    rng = np.random.default_rng(3)
    dq = rng.integers(0, 2**32, size=(4, 6, 5), dtype=np.uint64).astype(np.uint32)
    dq[0, 0, 0] = 2**31 + 1  # sign bit and bit 0
    m = dm.CubeModel(data=np.zeros(dq.shape, np.float32), dq=dq)
    m.save(tmp_path / "dq.fits")
    mm = dm.open(tmp_path / "dq.fits", memmap=True)
    lazy = mm.dq
    assert hasattr(lazy, "any_bits")
    for bits in (1, 4, 1 | 2**30):
        for key in ((slice(None),), (slice(1, 3), slice(2, 5)), (slice(None), np.array([0, 4]))):
            expected = (dq[key] & bits) != 0
            np.testing.assert_array_equal(lazy.any_bits(key, bits), expected)
            np.testing.assert_array_equal(np.swapaxes(lazy, 1, 2).any_bits(key, bits),
                                          (np.swapaxes(dq, 1, 2)[key] & bits) != 0)
    with pytest.raises(ValueError, match="sign bit"):
        lazy.any_bits((slice(None),), 2**31)
    mm.close()


# ---------------------------------------------------------------------------- pread of sealed arrays

def _cube_file(tmp_path, name="m_calints.fits"):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(9, 11, 13)).astype(np.float32)
    dq = rng.integers(0, 2**32, size=data.shape, dtype=np.uint64).astype(np.uint32)
    m = dm.CubeModel(data=data, dq=dq, var_poisson=np.abs(data) + 1)
    m.save(tmp_path / name)
    return tmp_path / name, data, dq


def test_views_of_sealed_arrays_read_from_the_file_equal_the_mapped_values(tmp_path, monkeypatch):
    from webbcal.datamodels import mapped

    path, data, dq = _cube_file(tmp_path)
    monkeypatch.setattr(mapped, "BLOCK_BYTES", 1000)  # many blocks
    m = dm.open(path, memmap=True)
    assert mapped.seal(m, path) >= 3
    views = [m.data, m.data[2:7], np.swapaxes(m.data, 1, 2)[:, 3:9], m.data[:, 4:5, 2:11],
             np.swapaxes(m.var_poisson, 1, 2)[1:2], m.data[3]]
    for v in views:
        assert mapped.source_of(v) is not None
        got = mapped.read(v)
        assert got.dtype.isnative
        np.testing.assert_array_equal(got, np.asarray(v))
    for key in ((slice(None),), (slice(1, 8), slice(2, 9)), (slice(None), slice(None), slice(5, 6))):
        np.testing.assert_array_equal(m.dq.any_bits(key, 1), (dq[key] & 1) != 0)
    with pytest.raises(ValueError, match="read-only"):
        m.data[0, 0, 0] = 1.0  # the step only reads: a write is a bug, not a silent divergence
    # neither fancy-indexed copies nor broadcasts come from the file, but they read right
    for v in (m.data[:, [1, 5]], np.broadcast_to(m.data[:1], (4,) + m.data.shape[1:])):
        assert mapped.source_of(v) is None
        np.testing.assert_array_equal(mapped.read(v), np.asarray(v))
    m.close()


def test_unsealed_models_keep_their_writable_copy_on_write_arrays(tmp_path):
    from webbcal.datamodels import mapped

    path, data, _ = _cube_file(tmp_path)
    m = dm.open(path, memmap=True)
    m.data[0, 0, 0] = 123.0  # a user's model: copy on write, the file is untouched
    assert mapped.source_of(m.data) is None
    assert mapped.read(m.data)[0, 0, 0] == 123.0
    m.close()
    assert dm.open(path).data[0, 0, 0] == data[0, 0, 0]


def test_a_file_replaced_after_opening_is_not_read_behind_the_map(tmp_path):
    import os

    from webbcal.datamodels import mapped

    path, data, _ = _cube_file(tmp_path)
    m = dm.open(path, memmap=True)
    other, _, _ = _cube_file(tmp_path, "other.fits")
    os.replace(other, path)  # a new file under the same name
    assert mapped.seal(m, path) == 0
    np.testing.assert_array_equal(mapped.read(m.data), data)
    m.close()


def test_a_step_seals_the_file_it_opens_and_the_result_is_the_in_memory_one(tmp_path):
    import webbcal

    src = "tests/data/miri/ERS_NGTS10_2022_new_drift_041_calints.fits"
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    path = root / src
    from_file = webbcal.run("extract_1d", path, save_results=False)
    in_memory = webbcal.run("extract_1d", dm.open(path), save_results=False)
    a, b = from_file.spec[0].spec_table, in_memory.spec[0].spec_table
    for name in ("FLUX", "FLUX_ERROR", "SURF_BRIGHT", "NPIXELS", "DQ"):
        np.testing.assert_array_equal(a[name], b[name])


def test_slit_items_are_untagged_in_place_so_only_their_wcs_is_converted():
    """Official multi-slit trees tag each slit ``!core/asdf-1.1.0`` and hold its arrays
    as ``source: fits:SCI,1``; converting a tagged slit resolves those (asdf 5.4:
    'Resolved to relative URL').  The tag is blanked out, same length, blocks intact."""
    import io

    import asdf

    from webbcal.datamodels.asdf_io import _untag_list_items

    af = asdf.AsdfFile({"slits": [asdf.AsdfFile({"meta": {"name": "S200A1"}}).tree], "x": np.arange(5.0)})
    buf = io.BytesIO()
    af.write_to(buf)
    raw = buf.getvalue()
    assert b"\n- !core/asdf-1.1.0" in raw
    out = _untag_list_items(raw)
    assert len(out) == len(raw) and b"\n- !core/asdf-1.1.0" not in out
    assert b"--- !core/asdf-1.1.0" in out  # the root keeps its tag
    with asdf.open(io.BytesIO(out), lazy_load=False) as back:
        assert back.tree["slits"][0]["meta"]["name"] == "S200A1"
        np.testing.assert_array_equal(back.tree["x"], np.arange(5.0))  # the binary block still found


def test_one_column_helper_for_every_table_kind(tmp_path):
    from astropy.table import Table

    from webbcal.datamodels.fitstable import column
    from webbcal.errors import InputFileError, ReferenceFileError

    path = _table_file(tmp_path, [fits.Column("Wavelength", "D", array=np.arange(3.0))])
    with fits.open(path) as hdul:
        for table in (hdul["T"].data, read_table(hdul["T"]), Table(hdul["T"].data)):
            np.testing.assert_array_equal(column(table, "WAVELENGTH"), np.arange(3.0))
            assert column(table, "flux", required=False) is None
            with pytest.raises(KeyError):
                column(table, "flux")
            with pytest.raises(InputFileError, match=r"t.fits: extension T has no column FLUX \(columns: Wavelength\)"):
                column(table, "FLUX", path, "T")
            with pytest.raises(ReferenceFileError, match="it needs WAVELENGTH, FLUX"):
                column(table, "FLUX", path, "T", error=ReferenceFileError, expected=("WAVELENGTH", "FLUX"))
