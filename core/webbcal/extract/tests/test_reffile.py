"""EXTRACT1D JSON reference files: validation errors name the file and key; selection."""
import json

import pytest

from webbcal.errors import ReferenceFileError
from webbcal.extract.reffile import read_extract1d


def write(tmp_path, tree, name="ref_extract1d.json"):
    path = tmp_path / name
    path.write_text(tree if isinstance(tree, str) else json.dumps(tree))
    return path


GOOD = {
    "reftype": "EXTRACT1D",
    "instrument": "ANY",
    "apertures": [
        {"id": "S200A1", "region_type": "target", "dispersion_direction": 1, "xstart": 10, "xstop": 400,
         "ystart": 20.5, "ystop": 26, "bkg_coeff": [[3.5], [8.5], [36.5], [40.5]], "bkg_fit": "Median",
         "bkg_order": 0, "smoothing_length": 5, "independent_var": "PIXEL", "use_source_posn": False},
        {"id": "S200A1", "spectral_order": 2, "src_coeff": [[5.5, 0.01], [9.5, 0.01]]},
        {"id": "ANY", "extract_width": 7, "bkg_coeff": None},
    ],
}


def test_reads_and_normalises_a_jwst_style_file(tmp_path):
    ref = read_extract1d(write(tmp_path, GOOD))
    assert ref.ids() == ["S200A1", "S200A1", "ANY"]
    first = ref.apertures[0]
    assert first["dispaxis"] == 1 and first["bkg_fit"] == "median" and first["independent_var"] == "pixel"
    assert first["ystart"] == 20.5 and first["bkg_coeff"] == [[3.5], [8.5], [36.5], [40.5]]
    assert "bkg_coeff" not in ref.apertures[2]  # null values dropped
    assert ref.header["reftype"] == "EXTRACT1D"


def test_select_prefers_exact_id_and_order_then_wildcards(tmp_path):
    ref = read_extract1d(write(tmp_path, GOOD))
    assert ref.select("s200a1", 1)["xstart"] == 10
    assert "src_coeff" in ref.select("S200A1", 2)
    assert ref.select("S1600A1", 1)["extract_width"] == 7  # ANY
    only_exact = read_extract1d(write(tmp_path, {"apertures": [{"id": "A", "spectral_order": 1}]}, "b.json"))
    assert only_exact.select("A", 2) is None and only_exact.select("B", 1) is None


@pytest.mark.parametrize(
    "text, key",
    [
        ("{not json", "not valid JSON"),
        (json.dumps([1, 2]), "JSON object"),
        (json.dumps({"apertures": []}), "apertures"),
        (json.dumps({"reftype": "FLAT", "apertures": [{"id": "A"}]}), "reftype"),
        (json.dumps({"apertures": [{"xstart": 3}]}), "'id'"),
        (json.dumps({"apertures": [{"id": "A", "xstart": "ten"}]}), "xstart"),
        (json.dumps({"apertures": [{"id": "A", "src_coeff": [[1.0]]}]}), "src_coeff"),
        (json.dumps({"apertures": [{"id": "A", "bkg_coeff": [[1.0], ["x"]]}]}), "bkg_coeff[1]"),
        (json.dumps({"apertures": [{"id": "A", "bkg_fit": "spline"}]}), "bkg_fit"),
        (json.dumps({"apertures": [{"id": "A", "smoothing_length": 4}]}), "smoothing_length"),
        (json.dumps({"apertures": [{"id": "A", "dispaxis": 3}]}), "dispaxis"),
        (json.dumps({"apertures": [{"id": "A", "use_source_posn": "yes"}]}), "use_source_posn"),
        (json.dumps({"apertures": [{"id": "A", "independent_var": "time"}]}), "independent_var"),
        (json.dumps({"apertures": [{"id": "A", "extract_width": -2}]}), "extract_width"),
    ],
)
def test_malformed_files_raise_reference_file_error_naming_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text, "bad_extract1d.json")
    with pytest.raises(ReferenceFileError) as exc:
        read_extract1d(path)
    msg = str(exc.value)
    assert "bad_extract1d.json" in msg
    assert key in msg


def test_missing_file_is_a_reference_file_error(tmp_path):
    with pytest.raises(ReferenceFileError, match="nope.json"):
        read_extract1d(tmp_path / "nope.json")


def test_the_step_spec_is_derived_from_the_typed_parameter_dataclass():
    import dataclasses

    import pytest

    from webbcal.errors import ParameterError
    from webbcal.extract.params import EXTRACT_1D_PARAMETERS, ExtractionParams, extraction_defaults
    from webbcal.steps.extract_1d import Extract1dStep

    assert Extract1dStep.spec is EXTRACT_1D_PARAMETERS
    names = [f.name for f in dataclasses.fields(ExtractionParams)]
    assert list(EXTRACT_1D_PARAMETERS) == names
    assert extraction_defaults() == {n: EXTRACT_1D_PARAMETERS[n].default for n in names}
    assert EXTRACT_1D_PARAMETERS["bkg_order"].type is int and EXTRACT_1D_PARAMETERS["bkg_order"].low == 0
    p = ExtractionParams(extraction_type="optimal", bkg_order="2").checked()
    assert p.extraction_type == "optimal" and p.bkg_order == 2
    with pytest.raises(ParameterError, match="bkg_order=-1 is out of range"):
        ExtractionParams(bkg_order=-1).checked()
