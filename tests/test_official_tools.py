"""Our products in the official tools (test-only dependencies, the ``test`` extra):
every demo product opens in stdatamodels with strict validation, each slit's gwcs
included, also without webbcal's own ASDF converters (a user with only the official
packages); x1d products read in specutils; the provenance keywords users look for are
there; NIRSpec WCS read with either package's converters give the same numbers."""
import warnings
from pathlib import Path

import asdf
import numpy as np
import pytest
from astropy.io import fits

import webbcal

stdatamodels = pytest.importorskip("stdatamodels.jwst.datamodels", reason="the test extra installs stdatamodels")


@pytest.fixture(scope="module")
def demo_products(demo_output):
    files = sorted(Path(demo_output).glob("demo_*.fits"))  # (the MOS MSA metadata file sits beside them)
    assert len(files) >= 15
    return files


def _strict_open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # ValidationWarning is a UserWarning
        model = stdatamodels.open(str(path), strict_validation=True)
        model.validate()
    return model


def _evaluate_wcs(model):
    holders = list(model.slits) if hasattr(model, "slits") else [model]
    n = 0
    for h in holders:
        wcs = h.meta.wcs
        if wcs is None:
            continue
        ny, nx = h.data.shape[-2:]
        out = wcs(*np.meshgrid(np.arange(nx, dtype=float), np.arange(ny, dtype=float)))
        assert np.isfinite(np.asarray(out[-1])).any(), h
        n += 1
    return n


def test_every_demo_product_validates_strictly_in_stdatamodels(demo_products):
    with_wcs = 0
    for path in demo_products:
        model = _strict_open(path)
        assert type(model).__name__ == fits.getval(path, "DATAMODL"), path.name
        with_wcs += _evaluate_wcs(model)
    assert with_wcs >= 8  # every cal / calints carries a gwcs that evaluates


def test_nirspec_products_open_without_webbcal_converters(demo_products):
    """A user with only the official packages: webbcal-nirspec's ASDF extension removed,
    every NIRSpec product and its slit WCS still load (no webbcal-only tag is written)."""
    nirspec = [p for p in demo_products if "nirspec" in p.name]
    assert nirspec
    with asdf.config_context() as cfg:
        for ext in list(cfg.extensions):
            if "webbcal" in (ext.extension_uri or ""):
                cfg.remove_extension(ext)
        assert not any("webbcal" in (e.extension_uri or "") for e in cfg.extensions)
        for path in nirspec:
            _evaluate_wcs(_strict_open(path))
    for path in nirspec:
        assert b"webbcal.org/nirspec/tags" not in path.read_bytes(), path.name  # (the history may name the extension)


def test_x1d_products_read_in_specutils(demo_products):
    from specutils import Spectrum1D, SpectrumList

    x1d = [p for p in demo_products if p.name.endswith("_x1d.fits")]
    assert len(x1d) >= 3
    for path in x1d:
        n = len(fits.open(path)) - 2  # primary + ASDF
        spectra = SpectrumList.read(path, format="JWST x1d multi") if n > 1 else [Spectrum1D.read(path, format="JWST x1d")]
        assert len(spectra) == n
        for s in spectra:
            assert s.spectral_axis.unit.physical_type == "length" and s.flux.unit.to_string() == "Jy"
            assert np.isfinite(s.flux.value).mean() > 0.9


def test_products_carry_provenance_keywords(demo_products):
    for path in demo_products:
        h = fits.getheader(path, 0)
        assert h["CAL_VER"] == webbcal.__version__, path.name
        assert h["CAL_SOFT"] == "webbcal"
        assert "DATE" in h and len(h["DATE"]) >= 19, path.name
        assert h["TELESCOP"] == "JWST"


def test_each_official_transform_tag_is_registered_once_and_read_the_same_either_way():
    """With stdatamodels installed (the test extra) the jwst_pipeline transform tags are
    defined and read by its extensions alone: webbcal-nirspec registers none of them
    (it writes its models under those tags without registering them), so which package
    reads a tag does not depend on load order.  webbcal's own reader, added by hand,
    gives the same numbers on the archive stub's slit WCS."""
    from webbcal_nirspec.wcs.asdf_ext import JWST_TAG_PREFIX, official_transforms_installed, reader_extension

    assert official_transforms_installed()
    owners = {}
    for ext in asdf.get_config().extensions:
        for tag in ext.tags:
            uri = getattr(tag, "tag_uri", tag)
            if uri.startswith(JWST_TAG_PREFIX):
                owners.setdefault(uri, set()).add(ext.package_name)
    assert owners and all(names == {"stdatamodels"} for names in owners.values()), \
        {t: n for t, n in owners.items() if n != {"stdatamodels"}}

    stub = Path(__file__).parent / "data" / "nirspec" / "nrs_fs_multislit_header_stub_cal.fits"
    x, y = np.meshgrid(np.linspace(0, 4, 5), np.linspace(0, 1, 2))

    def evaluate(with_ours):
        with asdf.config_context() as cfg:
            if with_ours:
                cfg.add_extension(reader_extension())  # takes precedence
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = webbcal.open(stub)
                wcs = model.slits[0].meta.wcs
                kinds = {type(s.transform).__module__.split(".")[0] for s in wcs.pipeline if s.transform is not None}
                return np.array(wcs.get_transform("detector", "slit_frame")(x, y)), kinds

    ours, our_kinds = evaluate(True)
    theirs, their_kinds = evaluate(False)
    assert "webbcal_nirspec" not in their_kinds
    assert np.isfinite(ours).sum() == np.isfinite(theirs).sum() > 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, equal_nan=True)


def test_webbcal_reads_its_own_nirspec_products_where_no_official_package_is_installed():
    """Without stdatamodels the entry point registers webbcal's reader: a NIRSpec cal file
    webbcal wrote (official tags, no webbcal tag) reads back into webbcal's models."""
    import io

    from webbcal_nirspec.wcs import asdf_ext, transforms

    with asdf.config_context() as cfg:
        for ext in list(cfg.extensions):
            if ext.package_name in ("stdatamodels", "webbcal-nirspec"):
                cfg.remove_extension(ext)
        original = asdf_ext.official_transforms_installed
        asdf_ext.official_transforms_installed = lambda: False
        try:
            for ext in asdf_ext.get_extensions():
                cfg.add_extension(ext)
        finally:
            asdf_ext.official_transforms_installed = original
        model = transforms.Rotation3DToGWA([1.0, -2.0, 0.5, 0.25], "xyzy")
        buf = io.BytesIO()
        asdf.AsdfFile({"m": model}).write_to(buf)
        assert b"jwst_pipeline/rotation_sequence-1.2.0" in buf.getvalue()
        assert b"webbcal" not in buf.getvalue()  # no webbcal tag, no webbcal extension in the history
        buf.seek(0)
        with asdf.open(buf) as af:
            back = af["m"]
            assert type(back) is transforms.Rotation3DToGWA
            np.testing.assert_allclose(back(0.1, 0.2, 0.9), model(0.1, 0.2, 0.9), rtol=1e-14)


def test_slit_keywords_are_the_official_ones():
    """Every slit attribute is stored under the keyword the official slit schema uses
    (webbcal 0.1 wrote QUADRANT / SLIT_XSC / SLIT_YSC: still read)."""
    import yaml
    from importlib.resources import files

    from webbcal import datamodels as dm

    schema = files("stdatamodels.jwst.datamodels") / "schemas" / "slitmeta.schema.yaml"
    official = set()

    def walk(node):
        if isinstance(node, dict):
            if "fits_keyword" in node:
                official.add(node["fits_keyword"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(schema.read_text()))
    assert {"MSAQUAD", "SLTXSCL", "SLITID", "STLARITY"} <= official
    ours = {k if isinstance(k, str) else k[0] for k in dm.SLIT_KEYWORDS.values()}
    wcsinfo = {"DISPAXIS", "SPORDER"}  # the official slit keeps these in its wcsinfo (SCI header)
    assert ours - wcsinfo <= official, sorted(ours - wcsinfo - official)
    slit = dm.SlitModel(np.zeros((2, 3), np.float32))
    slit._headers["SCI"]["QUADRANT"] = 3   # an older webbcal file
    assert slit.quadrant == 3
    slit.quadrant = 4
    assert slit._headers["SCI"]["MSAQUAD"] == 4


def test_guider_product_validates_as_the_official_guider_cal_model(tmp_path):
    """The guider pipeline on the real FGS ACQ1 file writes a product stdatamodels opens
    as a GuiderCalModel with strict validation, its rates those webbcal computed."""
    from webbcal.pipeline import get_step_class

    src = Path(__file__).resolve().parent / "data" / "fgs" / "add_wcs_default_acq1.fits"
    pipe = get_step_class("guider")(output_dir=str(tmp_path), save_results=True)
    ours = pipe.run(str(src))
    (path,) = tmp_path.glob("*_cal.fits")
    model = _strict_open(path)
    assert type(model).__name__ == "GuiderCalModel"
    np.testing.assert_array_equal(np.asarray(model.data), np.asarray(ours.data))


def test_combined_spectrum_validates_as_the_official_model(tmp_path):
    """spec3's c1d of two demo-like x1d spectra opens in stdatamodels (strict validation)
    as the MultiCombinedSpecModel its DATAMODL names, the COMBINE1D columns those we wrote."""
    from webbcal.plugins import get_host

    mode = get_host().modes.find("MIRI", "MIR_LRS-FIXEDSLIT")
    x1ds = []
    for seed in (1, 2):
        model, _ = get_host().call_for_mode("webbcal_simulate", mode, params={"noise": True, "seed": seed})
        x1ds.append(webbcal.run("spec2", model))
    ours = webbcal.run("combine_1d", x1ds)
    ours.save(tmp_path / "both_c1d.fits")
    model = _strict_open(tmp_path / "both_c1d.fits")
    assert type(model).__name__ == "MultiCombinedSpecModel" == fits.getval(tmp_path / "both_c1d.fits", "DATAMODL")
    table = model.spec[0].spec_table
    for name in ("WAVELENGTH", "FLUX", "ERROR", "SURF_BRIGHT", "SB_ERROR", "WEIGHT", "N_INPUT"):
        np.testing.assert_array_equal(np.asarray(table[name]), ours.spec[0].spec_table[name])
    assert model.spec[0].spectral_order == 1
