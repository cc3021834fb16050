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
        if reftypes[0] != "flat":
            return {reftypes[0]: "NOT FOUND n/a"}
        asked.update(params=params, reftypes=reftypes, observatory=observatory)
        return {reftypes[0]: str(crds_file)}

    monkeypatch.setitem(sys.modules, "crds", types.SimpleNamespace(getreferences=getreferences,
                                                                   get_default_context=lambda obs: "jwst_1322.pmap"))
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds_cache"))
    rt = toy_host.reftypes.get("TOYSPEC", "flat")
    path, origin = resolve_reference(rt, model, toy.MODE)
    assert (path, origin) == (crds_file, "crds")
    assert asked["observatory"] == "jwst" and asked["reftypes"] == ["flat"]
    assert asked["params"]["META.INSTRUMENT.NAME"] == "TOYSPEC"
    assert asked["params"]["META.EXPOSURE.TYPE"] == "TOY_SPEC"
    # a step that used a CRDS file records the context (CRDS_CTX), as the official ones do
    import webbcal
    from astropy.io import fits

    rate = tmp_path / "toy_rate.fits"
    model.save(rate)
    webbcal.run("spec2", str(rate), output_dir=str(tmp_path / "out"), save_results=True)
    assert fits.getval(tmp_path / "out" / "toy_cal.fits", "CRDS_CTX") == "jwst_1322.pmap"
    # a WEBBCAL_REFS directory still comes first
    refdir = tmp_path / "refs"
    refdir.mkdir()
    toy.write_flat(refdir / "dir_flat.fits", value=4.0)
    monkeypatch.setenv("WEBBCAL_REFS", str(refdir))
    assert resolve_reference(rt, model, toy.MODE)[1] == "WEBBCAL_REFS"


def _fatal_crds(monkeypatch, calls):
    """A stand-in CRDS client that behaves as the real one does when it cannot reach a
    server: it logs FATAL and ends the process (SystemExit 255)."""
    import sys
    import types

    def getreferences(params, reftypes, observatory):
        calls.append(reftypes)
        raise SystemExit(255)

    monkeypatch.setitem(sys.modules, "crds", types.SimpleNamespace(getreferences=getreferences))


@pytest.mark.parametrize("configured", [False, True])
def test_crds_installed_but_unusable_falls_back_with_one_warning(toy_host, monkeypatch, caplog, tmp_path, configured):
    """Installed beside the official pipeline, CRDS is often not configured, or configured
    for a server that cannot be reached: the run goes on with the embedded default and
    says so once, instead of dying with CRDS's exit 255."""
    from toy_plugin import toy

    from webbcal.refs import resolve

    monkeypatch.setattr(resolve, "_CRDS_WARNED", set())
    monkeypatch.delenv("CRDS_PATH", raising=False)
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    if configured:
        monkeypatch.setenv("CRDS_SERVER_URL", "https://crds.invalid")
    calls = []
    _fatal_crds(monkeypatch, calls)
    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    rt = toy_host.reftypes.get("TOYSPEC", "flat")
    with caplog.at_level("WARNING", logger="webbcal.refs"):
        for _ in range(3):
            path, origin = resolve_reference(rt, model, toy.MODE)
            assert origin == "embedded default" and path is not None
    warnings = [r for r in caplog.records if "CRDS" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert ("not configured" in warnings[0].getMessage()) is (not configured)
    assert len(calls) == (3 if configured else 0)


def test_crds_fatal_does_not_end_a_command_line_run(toy_host, monkeypatch, tmp_path):
    from toy_plugin import toy

    from webbcal.cli import main
    from webbcal.refs import resolve

    monkeypatch.setattr(resolve, "_CRDS_WARNED", set())
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "cache"))
    _fatal_crds(monkeypatch, [])
    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    rate = tmp_path / "toy_rate.fits"
    model.save(rate)
    assert main(["run", "spec2", str(rate), "--output-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "toy_x1d.fits").is_file()


def _counting_reader(calls):
    def read(path):
        calls.append(path)
        with fits.open(path) as hdul:
            return {"value": float(hdul[0].header["VALUE"]), "array": [1.0, 2.0]}

    return read


def _write_value(path, value):
    fits.PrimaryHDU(header=fits.Header({"REFTYPE": "PHOTOM", "INSTRUME": "TOYSPEC", "VALUE": value})).writeto(
        path, overwrite=True)


def test_a_reference_file_is_read_once_per_process_and_again_when_rewritten(tmp_path, monkeypatch):
    import os

    from webbcal.refs.resolve import _READ_CACHE, RefSet

    monkeypatch.delenv("WEBBCAL_REF_CACHE", raising=False)
    calls = []
    rt = ReferenceType("photom", "TOYSPEC", reader=_counting_reader(calls))
    path = tmp_path / "p.fits"
    _write_value(path, 1.5)

    def load():
        refs = RefSet(paths={"photom": path}, types={"photom": rt})
        return refs.load("photom")

    first = load()
    first["array"].append(99.0)  # a caller changing its object ...
    second = load()
    assert len(calls) == 1
    assert second == {"value": 1.5, "array": [1.0, 2.0]}  # ... reaches no other caller
    _write_value(path, 2.5)  # rewritten in place: read again
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert load()["value"] == 2.5 and len(calls) == 2
    monkeypatch.setenv("WEBBCAL_REF_CACHE", "0")
    assert load()["value"] == 2.5 and len(calls) == 3
    _READ_CACHE.clear()


def test_a_malformed_reference_file_is_not_remembered(tmp_path, monkeypatch):
    from webbcal.errors import ReferenceFileError
    from webbcal.refs.resolve import RefSet

    monkeypatch.delenv("WEBBCAL_REF_CACHE", raising=False)
    calls = []
    rt = ReferenceType("photom", "TOYSPEC", reader=_counting_reader(calls))
    path = tmp_path / "bad.fits"
    path.write_bytes(b"not a FITS file at all" * 10)
    for _ in range(2):
        with pytest.raises(ReferenceFileError, match="bad.fits"):
            RefSet(paths={"photom": path}, types={"photom": rt}).load("photom")
    assert len(calls) == 2
