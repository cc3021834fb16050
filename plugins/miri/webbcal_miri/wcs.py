"""assign_wcs for MIRI: gwcs pipelines for imaging and the LRS prism.

Frames (all transforms have inverses, so world -> detector works too):

- imaging: ``detector`` (subarray pixels, 0-based) -> ``v2v3`` (arcsec, through the
  DISTORTION model on full-frame pixels) -> ``world`` (ICRS RA, Dec in degrees);
- LRS: ``detector`` -> ``v2v3_spectral`` (V2, V3 in arcsec and wavelength in micron)
  -> ``world`` (RA, Dec, wavelength).

LRS geometry (SPECWCS table, rows relative to the zero point (x0, y0) of the slit or
of the slitless position): the row offset ``dy = Y - y0`` gives the wavelength
``WAVELENGTH(dy)`` and the trace centre ``x0 + X_CENTER(dy)`` by linear interpolation
in the table; the cross-dispersion offset from the trace, ``dx = X - x0 - X_CENTER(dy)``,
is placed on the zero-point row, ``(x0 + dx, y0)``, and sent through the imager
distortion to V2/V3.  (X, Y) are full-frame pixels: subarray pixels + (SUBSTRT - 1).

V2/V3 -> sky is the standard telescope pointing rotation: the reference point
(V2_REF, V3_REF) goes to (RA_REF, DEC_REF) with the V3 axis at position angle ROLL_REF
(east of north), i.e. the rotation sequence z(V2_REF), y(-V3_REF), x(ROLL_REF),
y(DEC_REF), z(-RA_REF) applied to the unit vector of (V2, V3).
"""
from __future__ import annotations

import logging

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models

from webbcal.plugin_api import imaging_wcs as core_imaging_wcs
from webbcal.plugin_api import pointing, v2v3_to_sky

from . import detector

__all__ = ["v2v3_to_sky", "pointing", "imaging_wcs", "LrsGeometry", "lrs_wcs", "write_wcsinfo", "assign_wcs"]

log = logging.getLogger("webbcal.miri")


# --------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------


def _frames(spectral):
    from gwcs import coordinate_frames as cf

    det = cf.Frame2D(name="detector", axes_order=(0, 1), axes_names=("x", "y"), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    sky = cf.CelestialFrame(name="sky", axes_order=(0, 1), reference_frame=coord.ICRS(), unit=(u.deg, u.deg),
                            axes_names=("lon", "lat"))
    if not spectral:
        sky.name = "world"
        return det, v2v3, sky
    spec = cf.SpectralFrame(name="spectral", axes_order=(2,), unit=(u.micron,), axes_names=("wavelength",))
    spec_v = cf.SpectralFrame(name="spectral_v2v3", axes_order=(2,), unit=(u.micron,), axes_names=("wavelength",))
    v2v3s = cf.CompositeFrame([v2v3, spec_v], name="v2v3_spectral")
    world = cf.CompositeFrame([sky, spec], name="world")
    return det, v2v3s, world


def _subarray_offsets(model):
    xstart, ystart, _, _ = detector.subarray_of(model)
    return float(xstart - 1), float(ystart - 1)


def _subarray_shift(xs, ys):
    m = models.Shift(xs) & models.Shift(ys)
    m.name = "subarray_to_full"
    return m


# --------------------------------------------------------------------------------------
# imaging
# --------------------------------------------------------------------------------------


def imaging_wcs(model, distortion):
    """gwcs of a MIRI image: the core imaging WCS with the DISTORTION model."""
    xstart, ystart, _, _ = detector.subarray_of(model)
    return core_imaging_wcs(model, distortion.model, (int(xstart), int(ystart)))


# --------------------------------------------------------------------------------------
# LRS
# --------------------------------------------------------------------------------------


def _tabular(points, values, name):
    o = np.argsort(points)
    return models.Tabular1D(points=np.asarray(points, float)[o], lookup_table=np.asarray(values, float)[o],
                            method="linear", bounds_error=False, fill_value=np.nan, name=name)


class LrsGeometry:
    """The LRS trace and wavelength solution on the full frame for one exposure type."""

    def __init__(self, specwcs, slitless):
        self.specwcs = specwcs
        self.slitless = bool(slitless)
        self.x0, self.y0 = specwcs.zero_point(self.slitless)
        self.dy = specwcs.y_center
        self.wave_of_dy = _tabular(self.dy, specwcs.wavelength, "wavelength_of_row")
        self.dy_of_wave = _tabular(specwcs.wavelength, self.dy, "row_of_wavelength")
        self.xc_of_dy = _tabular(self.dy, specwcs.x_center, "trace_x_of_row")

    def wavelength_of_row(self, Y):
        """Wavelength (micron) at full-frame row ``Y``; NaN outside the table."""
        return self.wave_of_dy(np.asarray(Y, float) - self.y0)

    def trace_x(self, Y):
        """Full-frame column of the trace centre at full-frame row ``Y``."""
        return self.x0 + self.xc_of_dy(np.asarray(Y, float) - self.y0)

    def row_range(self):
        """Full-frame rows (lo, hi) edges of the calibrated region."""
        ys = self.specwcs.corners[..., 1]
        return self.y0 + float(ys.min()), self.y0 + float(ys.max())

    def column_range(self):
        """First and last detector column (0-based, float) the LRS slit covers."""
        xs = self.specwcs.corners[..., 0]
        return self.x0 + float(xs.min()), self.x0 + float(xs.max())

    def transform(self, distortion, xs, ys):
        """Subarray (x, y) -> (V2, V3, wavelength), with its inverse."""
        x0, y0 = self.x0, self.y0
        dx = (models.Mapping((0,), n_inputs=2) | models.Shift(-x0)) - (
            models.Mapping((1,), n_inputs=2) | models.Shift(-y0) | self.xc_of_dy
        )
        dy = models.Mapping((1,), n_inputs=2) | models.Shift(-y0)
        to_offsets = _subarray_shift(xs, ys) | models.Mapping((0, 1, 0, 1)) | (dx & dy)
        spatial = (models.Shift(x0) & models.Const1D(y0)) | distortion
        from_offsets = models.Mapping((0, 0, 1)) | (spatial & self.wave_of_dy)
        forward = to_offsets | from_offsets

        # inverse: (V2, V3, wavelength) -> (x, y)
        x_of = (models.Mapping((0,), n_inputs=2) | models.Identity(1)) + (models.Mapping((1,), n_inputs=2) | self.xc_of_dy)
        y_of = models.Mapping((1,), n_inputs=2) | models.Shift(y0)
        inverse = (
            (distortion.inverse & self.dy_of_wave)
            | models.Mapping((0, 2))
            | models.Mapping((0, 1, 0, 1))
            | (x_of & y_of)
            | (models.Shift(-xs) & models.Shift(-ys))
        )
        forward.inverse = inverse
        forward.name = "lrs_detector_to_v2v3_wavelength"
        return forward


def lrs_wcs(model, distortion, specwcs, slitless):
    """gwcs of an LRS exposure and the 2-D wavelength map (NaN outside the bounding box)."""
    from gwcs.wcs import WCS

    geo = LrsGeometry(specwcs, slitless)
    dist = distortion.model
    xs, ys = _subarray_offsets(model)
    ny, nx = model.data.shape[-2:]
    v2, v3, ra, dec, roll = pointing(model, dist, (geo.x0, geo.y0))
    forward = geo.transform(dist, xs, ys)
    sky = v2v3_to_sky(v2, v3, ra, dec, roll) & models.Identity(1)
    det, v2v3s, world = _frames(spectral=True)
    wcs = WCS([(det, forward), (v2v3s, sky), (world, None)])

    ylo, yhi = geo.row_range()
    if geo.slitless:  # the whole subarray across the dispersion, minus reference columns
        xlo, xhi = detector.REFERENCE_COLUMNS - 0.5, detector.FULL_SHAPE[1] - detector.REFERENCE_COLUMNS - 0.5
    else:
        xlo, xhi = geo.column_range()
    bbox_x = (max(-0.5, xlo - xs), min(nx - 0.5, xhi - xs))
    bbox_y = (max(-0.5, ylo - ys), min(ny - 0.5, yhi - ys))
    if bbox_x[0] >= bbox_x[1] or bbox_y[0] >= bbox_y[1]:
        from webbcal.plugin_api import ReferenceFileError

        raise ReferenceFileError(
            specwcs.path, f"the LRS calibrated region (x {xlo:.1f}-{xhi:.1f}, y {ylo:.1f}-{yhi:.1f} full frame) "
            f"does not overlap the {nx}x{ny} subarray at ({xs + 1:.0f}, {ys + 1:.0f})"
        )
    wcs.bounding_box = (bbox_x, bbox_y)
    wcs.pixel_shape = (nx, ny)

    # wavelength depends on the row only: evaluate per row, broadcast, mask outside the box
    rows = np.arange(ny, dtype=np.float64)
    wave_row = geo.wavelength_of_row(rows + ys)
    cols = np.arange(nx, dtype=np.float64)
    inside_x = (cols >= bbox_x[0]) & (cols <= bbox_x[1])
    inside_y = (rows >= bbox_y[0]) & (rows <= bbox_y[1])
    wave = np.where(inside_y[:, None] & inside_x[None, :], wave_row[:, None], np.nan).astype(np.float32)
    return wcs, wave, geo


def write_wcsinfo(model, spectral):
    """Keywords the JWST products carry next to the gwcs."""
    wi = model.meta.wcsinfo
    try:
        if getattr(wi, "vparity", None) is None:
            wi.vparity = -1
        if spectral:
            wi.dispersion_direction = 2
            wi.specsys = "BARYCENT"
    except AttributeError:  # pragma: no cover - models without these fields
        pass


def assign_wcs(model, mode, refs):
    """Attach the gwcs of a MIRI exposure: LRS (fixed slit or slitless) from the
    DISTORTION and SPECWCS references, with the WAVELENGTH array; imaging from DISTORTION,
    the FILTEROFFSET of the filter (when given) and the pointing keywords. Writes the
    WCSINFO keywords used.

    Raises
    ------
    ReferenceFileError
        A reference the mode needs was set to N/A.
    """
    from webbcal.plugin_api import ReferenceFileError

    from .modes import is_lrs

    distortion = refs.load("distortion")
    if distortion is None:
        raise ReferenceFileError("distortion", "MIRI assign_wcs needs a DISTORTION reference file (it was set to N/A)")
    if is_lrs(mode):
        specwcs = refs.load("specwcs")
        if specwcs is None:
            raise ReferenceFileError("specwcs", "MIRI LRS assign_wcs needs a SPECWCS reference file (it was set to N/A)")
        slitless = str(model.meta.exposure.type).upper() == "MIR_LRS-SLITLESS"
        gw, wave, _ = lrs_wcs(model, distortion, specwcs, slitless)
        model.meta.wcs = gw
        model.wavelength = wave
        write_wcsinfo(model, spectral=True)
    else:
        from webbcal.plugin_api import attach_imaging_wcs

        xstart, ystart, _, _ = detector.subarray_of(model)
        offsets = refs.load("filteroffset") if "filteroffset" in refs else None
        attach_imaging_wcs(model, distortion, (xstart, ystart), "MIRI imaging", offsets)
        write_wcsinfo(model, spectral=False)
    return model
