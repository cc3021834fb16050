"""Reference-file selection from a WEBBCAL_REFS directory."""
import pytest
from astropy.io import fits

from webbcal.refs import ReferenceType
from webbcal.refs.resolve import resolve_reference, select_from_directory


class Model:
    def __init__(self, **kw):
        self.kw = {k.upper(): v for k, v in kw.items()}

    def get_keyword(self, key):
        return self.kw.get(key)


def _ref(path, **kw):
    hdr = fits.Header({"REFTYPE": "PHOTOM", "INSTRUME": "TOYSPEC", **{k.upper().replace("P_EXP_TY", "P_EXP_TY"): v for k, v in kw.items()}})
    fits.PrimaryHDU(header=hdr).writeto(path)
    return path


RT = ReferenceType("photom", "TOYSPEC", reader=lambda p: p, selectors=("EXP_TYPE", "FILTER"))


def test_pattern_keywords_and_specificity(tmp_path):
    _ref(tmp_path / "generic.fits", FILTER="ANY")
    _ref(tmp_path / "clear_pattern.fits", EXP_TYPE="TOY_A", P_EXP_TY="TOY_A|TOY_B|", FILTER="CLEAR")
    _ref(tmp_path / "other_filter.fits", FILTER="F999W")
    model_b = Model(EXP_TYPE="TOY_B", FILTER="CLEAR")
    assert select_from_directory(tmp_path, RT, model_b).name == "clear_pattern.fits"
    model_c = Model(EXP_TYPE="TOY_C", FILTER="CLEAR")
    assert select_from_directory(tmp_path, RT, model_c).name == "generic.fits"


def test_override_and_na(tmp_path):
    from webbcal.errors import ReferenceFileError

    f = _ref(tmp_path / "x.fits")
    assert resolve_reference(RT, Model(), None, override=str(f)) == (f, "override")
    assert resolve_reference(RT, Model(), None, override="N/A") == (None, "N/A")
    with pytest.raises(ReferenceFileError, match="does not exist"):
        resolve_reference(RT, Model(), None, override=str(tmp_path / "missing.fits"))


def test_crds_comes_between_directory_and_embedded_default(toy_host, tmp_path, monkeypatch):
    """With the optional CRDS client importable, its answer beats the embedded default
    (a stand-in module records what it was asked)."""
    import sys
    import types

    from toy_plugin import toy

    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    crds_file = toy.write_flat(tmp_path / "crds_cache_flat.fits", value=5.0)
    asked = {}

    def getreferences(params, reftypes, observatory):
        asked.update(params=params, reftypes=reftypes, observatory=observatory)
        return {reftypes[0]: str(crds_file)}

    monkeypatch.setitem(sys.modules, "crds", types.SimpleNamespace(getreferences=getreferences))
    rt = toy_host.reftypes.get("TOYSPEC", "flat")
    path, origin = resolve_reference(rt, model, toy.MODE)
    assert (path, origin) == (crds_file, "crds")
    assert asked["observatory"] == "jwst" and asked["reftypes"] == ["flat"]
    assert asked["params"]["META.INSTRUMENT.NAME"] == "TOYSPEC"
    assert asked["params"]["META.EXPOSURE.TYPE"] == "TOY_SPEC"
    # a WEBBCAL_REFS directory still comes first
    refdir = tmp_path / "refs"
    refdir.mkdir()
    toy.write_flat(refdir / "dir_flat.fits", value=4.0)
    monkeypatch.setenv("WEBBCAL_REFS", str(refdir))
    assert resolve_reference(rt, model, toy.MODE)[1] == "WEBBCAL_REFS"
