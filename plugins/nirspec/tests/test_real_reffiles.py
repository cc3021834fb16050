"""Every real reference file in tests/data/nirspec/ref/ whose type the plugin declares
loads through the plugin's declared ReferenceType reader, chosen by the file's own
REFTYPE (FITS primary header) or meta.reftype (ASDF) - not by its name."""
from pathlib import Path

import pytest

from webbcal.errors import ReferenceFileError
from webbcal_nirspec.refs import reference_types

REF = Path(__file__).resolve().parents[3] / "tests" / "data" / "nirspec" / "ref"

#: real files that are deliberately not read through a reader, and why (only the D-flat
#: cut-out is kept in tests/data: test_flat reads it directly)
SKIPPED = {
    "jwst_nirspec_prism_disp.fits": "not a CRDS reference file (no REFTYPE): a PRISM dispersion/resolution table",
    "jwst_nirspec_wavelengthrange_test.asdf": "not a CRDS delivery: a test copy of WAVELENGTHRANGE",
    "dflat_PRISM_32x512.fits": "not a CRDS reference file (no REFTYPE, FLAT1 image): a cut-out of a D-flat",
}


def _reftype(path):
    if path.suffix == ".asdf":
        import asdf

        with asdf.open(path, lazy_load=True, memmap=False) as af:
            return str(af.tree.get("meta", {}).get("reftype", "") or "").strip().lower()
    from astropy.io import fits

    return str(fits.getval(path, "REFTYPE", 0) if "REFTYPE" in fits.getheader(path, 0) else "").strip().lower()


def _files():
    return sorted(p for p in REF.iterdir() if p.suffix in (".fits", ".asdf") and p.name not in SKIPPED)


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_real_file_loads_through_the_declared_reader(path):
    declared = {rt.name: rt for rt in reference_types()}
    reftype = _reftype(path)
    assert reftype in declared, f"{path.name} has REFTYPE {reftype!r}, which the plugin does not declare; " \
                                f"declare it or list it in SKIPPED with the reason"
    obj = declared[reftype].reader(path)
    assert obj is not None


def test_skipped_files_are_outside_the_declared_types_or_not_crds_files():
    declared = {rt.name for rt in reference_types()}
    present = [name for name in SKIPPED if (REF / name).is_file()]
    assert present, "no deliberately unread file left in tests/data: drop this test or the SKIPPED entries"
    for name in present:
        if not name.endswith("_test.asdf"):  # the test copy does say WAVELENGTHRANGE
            assert _reftype(REF / name) not in declared, name


def test_readers_raise_reference_file_errors_naming_the_file(tmp_path):
    bad = tmp_path / "garbage_ref.fits"
    bad.write_bytes(b"not a reference file at all")
    for rt in reference_types():
        with pytest.raises(ReferenceFileError, match="garbage_ref"):
            rt.reader(bad)
