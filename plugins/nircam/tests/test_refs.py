"""NIRCam reference readers against the real files: the grism PHOTOM table, the imaging
PHOTOM layout and the grism SPECWCS; malformed files get one clear error."""
import asdf
import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling import models

from webbcal.errors import ReferenceFileError
from webbcal_nircam import grism, refs


def test_grism_photom_rows(real_ref):
    """The row grism's order-1 rows of the real table: PHOTMJSR as in the file, the
    relative response read over NELEM wavelengths (sorted; of order 1 in the filter's
    band), PIXAR_SR from the header."""
    path = real_ref("jwst_nircam_photom_0064.fits")
    table = refs.read_photom(path)
    with fits.open(path) as h:
        t = h["PHOTOM"].data
        i = [k for k in range(len(t)) if t["filter"][k].strip() == "F444W" and t["pupil"][k].strip() == "GRISMR"
             and t["order"][k] == 1][0]
        want, n = float(t["photmjsr"][i]), int(t["nelem"][i])
    row = table.select("F444W", "GRISMR", 1)
    assert row.factor == pytest.approx(want) and row.per_steradian
    assert row.wavelength.size == n and np.all(np.diff(row.wavelength) >= 0)
    # within the F444W band the relative response is of order 1 (this ground file holds
    # meaningless large values far outside the band, read as they are)
    band = (row.wavelength > 3.9) & (row.wavelength < 4.9)
    assert band.sum() > 100 and np.all((row.relresponse[band] > 0.5) & (row.relresponse[band] < 3.0))
    assert table.pixar_sr == pytest.approx(9.30711286318865e-14)
    with pytest.raises(ReferenceFileError, match=r"jwst_nircam_photom_0064.fits.*no PHOTOM row for F999W/GRISMR order 1"):
        table.select("F999W", "GRISMR", 1)


def test_imaging_photom_layout_and_its_missing_pixel_area(real_ref):
    """The imaging layout (PUPIL CLEAR, order 0) is read; this test file has PIXAR_SR = 0,
    which imaging photom refuses by name (a pixel solid angle is needed)."""
    from webbcal.datamodels import ImageModel
    from webbcal.plugin_api import imaging_conversion

    table = refs.read_photom(real_ref("nircam_photom.fits"))
    assert table.imaging_row("F444W", "CLEAR").factor == pytest.approx(1e-15)
    m = ImageModel(data=np.zeros((4, 4), np.float32))
    m.meta.instrument.filter, m.meta.instrument.pupil = "F444W", "CLEAR"
    with pytest.raises(ReferenceFileError, match=r"nircam_photom.fits.*no PIXAR_SR"):
        imaging_conversion(m, table, None, (1, 1, 4, 4))


def test_real_dhs_specwcs(real_ref):
    """The DHS SPECWCS lists its polynomials per stripe and filter: stripe 9 of F444W has
    the wavelength 1 + 1.4 t and the offsets the file's polynomials give."""
    sp = grism.read_specwcs(real_ref("nircam_nrca1_specwcs.asdf"))
    assert sp.orders == [1] and sp.stripes == [7, 8, 9, 10, 7, 8, 9, 10]
    i = sp.index(1, "F444W", 9)
    t = np.array([0.0, 0.5, 1.0])
    dx, dy, lam = sp.trace(i, t)
    np.testing.assert_allclose(lam, 1.0 + 1.4 * t)
    with asdf.open(real_ref("nircam_nrca1_specwcs.asdf")) as af:
        np.testing.assert_allclose(dx, af.tree["dispx"][i][0][0](t))
        np.testing.assert_allclose(dy, af.tree["dispy"][i][0][0](t))
    with pytest.raises(ReferenceFileError, match="no DHS entry for filter F200W"):
        sp.index(1, "F200W", 9)


def test_field_dependent_dispersion_is_evaluated():
    """dispx given as 2-D polynomials of the source position (x0, y0), the coefficients of
    t**0, t**1: dx = C0(x0, y0) + C1(x0, y0) t."""
    entry = [models.Polynomial2D(1, c0_0=-100.0, c1_0=0.5, c0_1=0.25), models.Polynomial2D(1, c0_0=1000.0, c0_1=-1.0)]
    t = np.array([0.0, 0.3, 1.0])
    got = grism.evaluate_dispersion(entry, t, x0=40.0, y0=8.0)
    np.testing.assert_allclose(got, (-100 + 20 + 2) + (1000 - 8) * t)


def test_malformed_specwcs(tmp_path):
    asdf.AsdfFile({"orders": [1], "displ": [models.Polynomial1D(1)]}).write_to(tmp_path / "short.asdf")
    with pytest.raises(ReferenceFileError, match=r"short.asdf.*lacks dispx, dispy"):
        grism.read_specwcs(tmp_path / "short.asdf")
    p1 = models.Polynomial1D(1, c0=1, c1=1)
    asdf.AsdfFile({"orders": [1, 2], "displ": [p1], "dispx": [p1], "dispy": [p1]}).write_to(tmp_path / "count.asdf")
    with pytest.raises(ReferenceFileError, match=r"count.asdf.*1 displ, 1 dispx, 1 dispy entries for 2 orders"):
        grism.read_specwcs(tmp_path / "count.asdf")
    (tmp_path / "cut.asdf").write_bytes(refs.default_path("specwcs").read_bytes()[:500])
    with pytest.raises(ReferenceFileError, match="cut.asdf"):
        grism.read_specwcs(tmp_path / "cut.asdf")
