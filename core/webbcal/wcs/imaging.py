"""Imaging WCS shared by every instrument: detector -> V2/V3 -> sky.

An imaging DISTORTION reference holds an astropy model from full-frame detector pixels
(0-based) to the telescope's V2/V3 (arcsec); the pointing keywords place V2/V3 on the
sky. :func:`imaging_wcs` builds the gwcs ``detector -> v2v3 -> world`` (ICRS RA, Dec in
degrees) for a subarray exposure, with inverses, so plugins call it with their distortion
model instead of each building its own.

V2/V3 -> sky is the standard pointing rotation: the reference point (V2_REF, V3_REF) goes
to (RA_REF, DEC_REF) with the V3 axis at position angle ROLL_REF (east of north), the
rotation sequence z(V2_REF), y(-V3_REF), x(ROLL_REF), y(DEC_REF), z(-RA_REF) applied to
the unit vector of (V2, V3).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models

log = logging.getLogger("webbcal.wcs")

__all__ = ["v2v3_to_sky", "pointing", "imaging_frames", "imaging_wcs", "attach_imaging_wcs", "synthetic_distortion"]


def v2v3_to_sky(v2_ref, v3_ref, ra_ref, dec_ref, roll_ref):
    """(V2, V3) in arcsec -> (RA, Dec) in degrees, with an exact inverse.

    Parameters
    ----------
    v2_ref, v3_ref : float
        The reference point (arcsec).
    ra_ref, dec_ref, roll_ref : float
        Where it points and the position angle of V3 (degrees).

    Returns
    -------
    astropy.modeling.Model
    """
    from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

    angles = [v2_ref / 3600.0, -v3_ref / 3600.0, roll_ref, dec_ref, -ra_ref]
    rotation = models.RotationSequence3D(angles, axes_order="zyxyz", name="v23tosky")
    model = (
        (models.Scale(1 / 3600.0) & models.Scale(1 / 3600.0))
        | SphericalToCartesian(wrap_lon_at=180)
        | rotation
        | CartesianToSpherical(wrap_lon_at=360)
    )
    model.name = "v2v3_to_sky"
    return model


def pointing(model, distortion, reference_pixel):
    """The (V2_REF, V3_REF, RA_REF, DEC_REF, ROLL_REF) of ``model``.

    Missing keywords are filled (and written back to ``meta.wcsinfo``), each with a
    warning: V2/V3_REF from ``distortion`` at ``reference_pixel`` (full-frame), RA/DEC_REF
    from TARG_RA/TARG_DEC, ROLL_REF from PA_V3, else 0.

    Parameters
    ----------
    model : DataModel
        The exposure.
    distortion : astropy.modeling.Model
        Full-frame pixels -> (V2, V3) arcsec.
    reference_pixel : tuple of float
        Full-frame pixel whose V2/V3 stands in for missing V2_REF/V3_REF.

    Returns
    -------
    tuple of float
    """
    wi = model.meta.wcsinfo
    v2, v3 = getattr(wi, "v2_ref", None), getattr(wi, "v3_ref", None)
    if v2 is None or v3 is None:
        v2, v3 = (float(a) for a in distortion(*reference_pixel))
        log.warning("assign_wcs: no V2_REF/V3_REF in the exposure; using the distortion at pixel %s: %.3f, %.3f",
                    reference_pixel, v2, v3)
        wi.v2_ref, wi.v3_ref = v2, v3
    ra, dec = getattr(wi, "ra_ref", None), getattr(wi, "dec_ref", None)
    if ra is None or dec is None:
        ra = getattr(model.meta.target, "ra", None) or 0.0
        dec = getattr(model.meta.target, "dec", None) or 0.0
        log.warning("assign_wcs: no RA_REF/DEC_REF in the exposure; using TARG_RA/TARG_DEC %.6f %.6f", ra, dec)
        wi.ra_ref, wi.dec_ref = ra, dec
    roll = getattr(wi, "roll_ref", None)
    if roll is None:
        roll = getattr(getattr(model.meta, "pointing", None), "pa_v3", None) or 0.0
        log.warning("assign_wcs: no ROLL_REF in the exposure; using PA_V3 = %.4f", roll)
        wi.roll_ref = roll
    return float(v2), float(v3), float(ra), float(dec), float(roll)


def imaging_frames():
    """The ``detector``, ``v2v3`` and ``world`` frames of an imaging gwcs."""
    from gwcs import coordinate_frames as cf

    det = cf.Frame2D(name="detector", axes_order=(0, 1), axes_names=("x", "y"), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(name="world", axes_order=(0, 1), reference_frame=coord.ICRS(), unit=(u.deg, u.deg),
                              axes_names=("lon", "lat"))
    return det, v2v3, world


def imaging_wcs(model, distortion, origin=(1, 1), offset=(0.0, 0.0)):
    """The gwcs of an image: subarray pixels -> V2/V3 (through ``distortion`` on full-frame
    pixels) -> sky (the pointing keywords).

    Parameters
    ----------
    model : DataModel
        The exposure (its data shape and pointing keywords).
    distortion : astropy.modeling.Model
        Full-frame 0-based pixels -> (V2, V3) arcsec, with an inverse for world -> pixel.
    origin : tuple of int
        1-based (SUBSTRT1, SUBSTRT2) of the subarray.
    offset : tuple of float
        The filter's (column, row) offset of a FILTEROFFSET reference, full-frame pixels
        added before the distortion (as the official imaging WCS does).

    Returns
    -------
    gwcs.WCS
        With a bounding box over the subarray and ``pixel_shape``.
    """
    from gwcs.wcs import WCS

    xs, ys = float(origin[0] - 1), float(origin[1] - 1)
    ny, nx = model.data.shape[-2:]
    v2, v3, ra, dec, roll = pointing(model, distortion, (xs + (nx - 1) / 2.0, ys + (ny - 1) / 2.0))
    shift = models.Shift(xs + float(offset[0])) & models.Shift(ys + float(offset[1]))
    shift.name = "subarray_to_full" if not any(offset) else "subarray_to_full_with_filter_offset"
    det, v2v3, world = imaging_frames()
    wcs = WCS([(det, shift | distortion), (v2v3, v2v3_to_sky(v2, v3, ra, dec, roll)), (world, None)])
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    wcs.pixel_shape = (nx, ny)
    return wcs


def attach_imaging_wcs(model, distortion, origin, what="imaging", filteroffset=None):
    """assign_wcs of an imaging mode: the gwcs of :func:`imaging_wcs` from a DISTORTION
    reference (``None`` when it was set to N/A) set on ``model``, VPARITY -1 where unset.

    Parameters
    ----------
    model : DataModel
        The exposure.
    distortion : DistortionReference or None
        The reference read by :func:`webbcal.refs.imaging.read_distortion`.
    origin : tuple of int
        1-based (SUBSTRT1, SUBSTRT2) of the exposure.
    what : str
        The mode, for the error message.
    filteroffset : FilterOffsetReference, optional
        Its row for the exposure's FILTER / PUPIL shifts the pixels before the
        distortion; no row: no offset (logged).

    Returns
    -------
    DataModel

    Raises
    ------
    ReferenceFileError
        No DISTORTION (set to N/A).
    """
    from ..errors import ReferenceFileError

    if distortion is None:
        raise ReferenceFileError("distortion", f"{what} assign_wcs needs a DISTORTION reference file (it was set to N/A)")
    offset = (0.0, 0.0)
    if filteroffset is not None:
        inst = model.meta.instrument
        found = filteroffset.offset(getattr(inst, "filter", None), getattr(inst, "pupil", None))
        if found is None:
            log.info("assign_wcs: no FILTEROFFSET row for %s/%s in %s: no filter offset",
                     getattr(inst, "filter", None), getattr(inst, "pupil", None), filteroffset.path)
        else:
            offset = found
            log.info("assign_wcs: filter offset (column, row) = (%.4f, %.4f) px from %s", offset[0], offset[1],
                     filteroffset.path)
    model.meta.wcs = imaging_wcs(model, distortion.model, (int(origin[0]), int(origin[1])), offset)
    if getattr(model.meta.wcsinfo, "vparity", None) is None:
        model.meta.wcsinfo.vparity = -1
    return model


def synthetic_distortion(reference_pixel: tuple[float, float], v2v3_ref: tuple[float, float], scale: float,
                         angle: float, shape: tuple[int, int], quad: float = 0.0, name: str = "distortion") -> Any:
    """An imaging distortion model shaped like the flight ones, with a fitted inverse: for
    the synthetic embedded defaults (PEDIGREE DUMMY) of the plugins, never a calibration.

    Full-frame 0-based pixels (x, y) -> (V2, V3) arcsec: ``reference_pixel`` goes to
    ``v2v3_ref``; the detector axes are rotated by ``angle`` (degrees) from V2/V3 with V2
    running opposite to x (VPARITY = -1); ``scale`` arcsec per pixel; a gentle quadratic
    term ``quad`` (arcsec per pixel^2). The inverse is a 4th-order polynomial fitted on a
    grid covering the detector plus 40 pixels, good to 1e-3 pixel (checked).

    Parameters
    ----------
    reference_pixel : tuple of float
        0-based full-frame (x, y) of the reference point.
    v2v3_ref : tuple of float
        Its V2, V3 (arcsec).
    scale : float
        Arcsec per pixel.
    angle : float
        Rotation of the detector axes relative to V2/V3 (degrees).
    shape : tuple of int
        Full-frame (rows, columns).
    quad : float
        Quadratic distortion coefficient.
    name : str
        The model's name.

    Returns
    -------
    astropy.modeling.CompoundModel
    """
    from astropy.modeling import fitting

    xref, yref = reference_pixel
    v2ref, v3ref = v2v3_ref
    theta = np.deg2rad(angle)
    c, s = np.cos(theta), np.sin(theta)
    v2 = models.Polynomial2D(2, c0_0=v2ref, c1_0=-scale * c, c0_1=scale * s, c2_0=quad, c0_2=-quad, name="v2_poly")
    v3 = models.Polynomial2D(2, c0_0=v3ref, c1_0=scale * s, c0_1=scale * c, c1_1=quad, name="v3_poly")
    forward = (models.Shift(-xref) & models.Shift(-yref)) | models.Mapping((0, 1, 0, 1)) | (v2 & v3)
    ny, nx = shape
    yy, xx = np.mgrid[-40:ny + 40:8, -40:nx + 40:8].astype(float)
    a2, a3 = forward(xx, yy)
    fitter = fitting.LinearLSQFitter()
    inv_x = fitter(models.Polynomial2D(4), a2 - v2ref, a3 - v3ref, xx - xref)
    inv_y = fitter(models.Polynomial2D(4), a2 - v2ref, a3 - v3ref, yy - yref)
    forward.inverse = ((models.Shift(-v2ref) & models.Shift(-v3ref)) | models.Mapping((0, 1, 0, 1))
                       | (inv_x & inv_y) | (models.Shift(xref) & models.Shift(yref)))
    bx, by = forward.inverse(*forward(xx, yy))
    err = max(np.abs(bx - xx).max(), np.abs(by - yy).max())
    if err > 1e-3:
        raise ValueError(f"synthetic distortion: the fitted inverse is off by {err:.2g} pixel")
    forward.name = name
    return forward
