"""Build the gwcs WCS of one NIRSpec fixed slit / MOS slitlet.

Frames, from the detector to the sky (the IDT instrument model)::

    detector   subarray pixels, 0-based (x along dispersion)
    sca        full-frame pixels of the SCA (NRS2 is read rotated by 180 deg)
    gwa        direction cosines of the ray at the grating wheel, in the GWA
               frame, travelling from the detector towards the sky
    slit_frame (x_slit, y_slit) relative to the aperture (-0.5..0.5 spans it)
               and wavelength in metres
    msa_frame  position in the MSA plane (metres) and wavelength (m)
    oteip      OTE image plane (deg) and wavelength (m)
    v2v3       telescope V2, V3 (arcsec) and wavelength (micron)
    world      ICRS RA, Dec (deg) and barycentric wavelength (micron)

From the detector the wavelength follows from the dispersion law once the ray
is traced back to the slit: the spatial position along the slit ``y_slit`` is
found from ``beta`` at the GWA (``beta_in = -beta_out`` for gratings and the
prism), the ray is assumed to cross the slit centre line (``x_slit = 0``), and
the incoming direction at the GWA then gives the wavelength through the
grating equation or the prism refraction index.  The inverse (world ->
detector) goes forward through the optics exactly.

Public entry point: :func:`build_slit_wcs`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models as am

from . import readers
from .transforms import (
    AngleFromGratingEquation, DirCos2Unitless, Logical, NewtonInverse2D,
    RefractionIndexFromPrism,
    Rotation3DToGWA, Snell, Unitless2DirCos, WavelengthFromGratingEquation,
    prism_wavelength_table,
)

__all__ = ["NirspecSlit", "FIXED_SLITS", "fixed_slit", "build_slit_wcs", "slit_wcs_parts",
           "compute_bounding_box", "SPEED_OF_LIGHT"]

SPEED_OF_LIGHT = 299792458.0  # m/s
FIXED_SLITS = ("S200A1", "S200A2", "S400A1", "S1600A1", "S200B1")
_DETECTOR_SIZE = 2048


@dataclass
class NirspecSlit:
    """One open aperture.

    ``xcen, ycen, xsize, ysize`` are the aperture centre and size in the MSA
    quadrant frame (metres); when left as ``None`` they are taken from the MSA
    reference file row of ``(quadrant, shutter_id)``.  ``quadrant`` 5 holds the
    fixed slits (``shutter_id`` 0..4 = S200A1, S200A2, S400A1, S1600A1, S200B1).
    ``ymin, ymax`` bound the illuminated part along the slit in slit units
    (an aperture spans -0.5..0.5; the default adds the usual 0.05 margin).
    ``source_xpos, source_ypos`` is the source position in slit units.
    """

    name: str
    shutter_id: int
    xcen: float | None = None
    ycen: float | None = None
    xsize: float | None = None
    ysize: float | None = None
    quadrant: int = 5
    source_id: int = 0
    source_xpos: float = 0.0
    source_ypos: float = 0.0
    ymin: float = -0.55
    ymax: float = 0.55


def fixed_slit(name: str, **kwargs) -> NirspecSlit:
    """The :class:`NirspecSlit` of a named fixed slit (geometry from the MSA file)."""
    key = str(name).strip().upper()
    if key not in readers.FIXED_SLIT_INDEX:
        raise ValueError(f"unknown fixed slit {name!r}; expected one of {FIXED_SLITS}")
    return NirspecSlit(name=key, shutter_id=readers.FIXED_SLIT_INDEX[key], quadrant=5, **kwargs)


# ---------------------------------------------------------------------------
# reference loading
# ---------------------------------------------------------------------------

_REQUIRED = ("fpa", "camera", "collimator", "disperser", "msa", "fore", "ote",
             "wavelengthrange")


@lru_cache(maxsize=64)
def _read_cached(reftype: str, path: str, mtime: float):
    return readers.read_reference(reftype, path)


def _load(refs: dict, reftype: str):
    value = refs.get(reftype)
    if value is None:
        raise ValueError(f"NIRSpec WCS needs a {reftype.upper()} reference file; none was given")
    if isinstance(value, (str, Path)):
        path = Path(value)
        mtime = path.stat().st_mtime if path.exists() else 0.0
        return _read_cached(reftype, str(path), mtime)
    return value  # already read


def _meta_get(meta: dict, key: str, default=None, required=False):
    for k in (key, key.upper(), key.lower()):
        if k in meta and meta[k] is not None:
            return meta[k]
    if required:
        raise ValueError(f"NIRSpec WCS needs header keyword {key} in the exposure metadata")
    return default


# ---------------------------------------------------------------------------
# transform pieces
# ---------------------------------------------------------------------------


def _dms_to_sca(detector: str, substrt1: int, substrt2: int):
    model = am.Shift(substrt1 - 1) & am.Shift(substrt2 - 1)
    if detector == "NRS2":
        model = model | (am.Shift(-(_DETECTOR_SIZE - 1)) & am.Shift(-(_DETECTOR_SIZE - 1))
                         | am.Scale(-1) & am.Scale(-1))
    elif detector != "NRS1":
        raise ValueError(f"DETECTOR must be NRS1 or NRS2, got {detector!r}")
    return model


def _gwa_rotation(disperser: readers.DisperserRef) -> Rotation3DToGWA:
    return Rotation3DToGWA(disperser.gwa_angles(), "xyzy", name="rotation")


def _sca_to_gwa(fpa_model, camera_model, rotation):
    fwd = fpa_model | camera_model | Unitless2DirCos(name="unitless2directional_cosines") \
        | rotation
    camera_inverse = NewtonInverse2D(camera_model, camera_model.inverse, name="camera_inverse")
    fwd.inverse = rotation.inverse | DirCos2Unitless(name="directional_cosines2unitless") \
        | camera_inverse | fpa_model.inverse
    return fwd


def _slit_location(row) -> am.Shift:
    _, xcen, ycen, xsize, ysize = [float(v) for v in row]
    return am.Scale(xsize) & am.Scale(ysize) | am.Shift(xcen) & am.Shift(ycen)


def _disperser_models(disperser, order, temperature, velosys):
    """(wavelength model: (alpha_in, beta_in, alpha_out) -> lam_bary,
        angle model: (lam_bary, alpha_in, beta_in, gamma_in) -> out cosines)."""
    vel = 1.0 + (velosys or 0.0) / SPEED_OF_LIGHT
    if disperser.is_prism:
        if temperature is None:
            raise ValueError("NIRSpec PRISM WCS needs the GWA temperature (keyword GWA_TILT, K)")
        pressure = disperser.pref
        n, lam = prism_wavelength_table(temperature, disperser.tref, disperser.pref, pressure,
                                        disperser.kcoef, disperser.lcoef, disperser.tcoef)
        lam_model = RefractionIndexFromPrism(disperser.prism_angle, name="n_prism") | \
            am.Tabular1D(points=(n,), lookup_table=lam, bounds_error=False,
                         fill_value=np.nan, name="lambda_from_index")
        angle_model = Snell(disperser.prism_angle, disperser.kcoef, disperser.lcoef,
                            disperser.tcoef, disperser.tref, disperser.pref, temperature,
                            pressure, name="snell_law")
    else:
        lam_model = WavelengthFromGratingEquation(disperser.groove_density, order,
                                                  name="lambda_from_gratingeq")
        angle_model = AngleFromGratingEquation(disperser.groove_density, order,
                                               name="alpha_from_greq")
    if vel != 1.0:
        lam_model = lam_model | am.Scale(1.0 / vel, name="velocity_correction")
        angle_model = (am.Scale(vel, name="inverse_velocity_correction") & am.Identity(3)) \
            | angle_model
    return lam_model, angle_model


def _slit_mask(ymin, ymax):
    """(x, y, lam) -> same values, all NaN where y is outside [ymin, ymax]."""
    flag = Logical("GT", ymax, np.nan) | Logical("LT", ymin, np.nan) | am.Scale(0.0)
    add = am.Mapping((0,), n_inputs=2) + am.Mapping((1,))
    model = am.Mapping((0, 1, 2, 1)) | am.Identity(3) & flag | \
        am.Mapping((0, 3, 1, 3, 2, 3)) | add & add & add
    model.inverse = am.Identity(3)
    return model


def _gwa_to_slit(msa2gwa, slit: NirspecSlit, lam_model, angle_model):
    """GWA cosines (detector->sky) -> (x_slit, y_slit, lam); inverse exact."""
    ymin, ymax = slit.ymin, slit.ymax
    y_grid = np.linspace(ymin - 0.05, ymax + 0.05, 2001)
    beta_in = msa2gwa(np.zeros_like(y_grid), y_grid)[1]
    order = np.argsort(beta_in)
    y_from_beta = am.Tabular1D(points=(beta_in[order],), lookup_table=y_grid[order],
                               bounds_error=False, fill_value=np.nan, name="y_slit_from_beta")
    zero_x = am.Scale(0.0) & am.Identity(1)
    fwd = (am.Mapping((0, 1), n_inputs=3)
           | am.Identity(1) & (am.Scale(-1.0) | y_from_beta)          # (a_out, y)
           | am.Mapping((0, 1, 1, 1))
           | am.Identity(2) & (zero_x | msa2gwa)                       # (a_out, y, a, b, g)
           | am.Mapping((1, 1, 2, 3, 0), n_inputs=5)
           | am.Scale(0.0) & am.Identity(1) & lam_model                # (0, y, lam)
           | _slit_mask(ymin, ymax))
    fwd.inverse = (msa2gwa & am.Identity(1)) | am.Mapping((3, 0, 1, 2)) | angle_model
    return fwd


def _v23_to_sky(v2_ref, v3_ref, roll_ref, ra_ref, dec_ref):
    """The core's pointing rotation (V2/V3 arcsec -> RA/Dec degrees)."""
    from webbcal.plugin_api import v2v3_to_sky

    return v2v3_to_sky(v2_ref, v3_ref, ra_ref, dec_ref, roll_ref)


# ---------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------


def _frames():
    from gwcs import coordinate_frames as cf

    det = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    sca = cf.Frame2D(name="sca", axes_order=(0, 1), unit=(u.pix, u.pix))
    gwa = cf.CoordinateFrame(naxes=3, axes_type=("SPATIAL", "SPATIAL", "SPATIAL"),
                             axes_order=(0, 1, 2), unit=(u.one, u.one, u.one),
                             axes_names=("alpha", "beta", "gamma"), name="gwa",
                             axis_physical_types=("custom:alpha", "custom:beta",
                                                  "custom:gamma"))

    def spec(unit, name="spectral"):
        return cf.SpectralFrame(name=name, axes_order=(2,), unit=(unit,),
                                axes_names=("wavelength",))

    slit_frame = cf.CompositeFrame(
        [cf.Frame2D(name="slit_spatial", axes_order=(0, 1), unit=(u.one, u.one),
                    axes_names=("x_slit", "y_slit")), spec(u.m)], name="slit_frame")
    msa_frame = cf.CompositeFrame(
        [cf.Frame2D(name="msa_spatial", axes_order=(0, 1), unit=(u.m, u.m),
                    axes_names=("x_msa", "y_msa")), spec(u.m)], name="msa_frame")
    oteip = cf.CompositeFrame(
        [cf.Frame2D(name="oteip_spatial", axes_order=(0, 1), unit=(u.deg, u.deg),
                    axes_names=("x_oteip", "y_oteip")), spec(u.m)], name="oteip")
    v2v3 = cf.CompositeFrame(
        [cf.Frame2D(name="v2v3_spatial", axes_order=(0, 1), unit=(u.arcsec, u.arcsec),
                    axes_names=("v2", "v3")), spec(u.um)], name="v2v3")
    world = cf.CompositeFrame(
        [cf.CelestialFrame(name="sky", axes_order=(0, 1), reference_frame=coord.ICRS(),
                           unit=(u.deg, u.deg)), spec(u.um)], name="world")
    return det, sca, gwa, slit_frame, msa_frame, oteip, v2v3, world


# ---------------------------------------------------------------------------
# bounding box
# ---------------------------------------------------------------------------


def compute_bounding_box(slit2detector, wavelength_range, ymin, ymax, detector_shape=None,
                         y_margin=1, n_lambda=2000):
    """Detector region lit by a slit for a wavelength range.

    ``slit2detector`` maps (x_slit, y_slit, lam [m]) to detector pixels.  The
    slit edges (and centre line) are traced over the wavelength range; the box
    holds every pixel the trace touches (plus ``y_margin`` pixels across the
    dispersion), clipped to the detector.  Returns ((x0, x1), (y0, y1)) in pixel
    edges (centres +- 0.5), or raises ValueError if nothing lands on the detector.
    """
    ny, nx = detector_shape or (_DETECTOR_SIZE, _DETECTOR_SIZE)
    lam = np.linspace(wavelength_range[0], wavelength_range[1], n_lambda)
    xs, ys = [], []
    for y_slit in np.linspace(ymin, ymax, 5):
        x, y = slit2detector(np.zeros_like(lam), np.full_like(lam, y_slit), lam)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    good = np.isfinite(x) & np.isfinite(y) & (x > -0.5) & (x < nx - 0.5) & \
        (y > -0.5 - y_margin) & (y < ny - 0.5 + y_margin)
    if not good.any():
        raise ValueError("slit does not project onto the detector for this wavelength range")
    x, y = x[good], y[good]
    x0 = max(0, int(np.floor(x.min() + 0.5)))
    x1 = min(nx - 1, int(np.ceil(x.max() - 0.5)))
    y0 = max(0, int(np.floor(y.min() + 0.5)) - y_margin)
    y1 = min(ny - 1, int(np.ceil(y.max() - 0.5)) + y_margin)
    return ((x0 - 0.5, x1 + 0.5), (y0 - 0.5, y1 + 0.5))


# ---------------------------------------------------------------------------
# the builder
# ---------------------------------------------------------------------------


def slit_wcs_parts(slit: NirspecSlit, meta: dict, refs: dict) -> dict:
    """All pieces of the slit WCS (transforms, frames, order, wavelength range)."""
    detector = str(_meta_get(meta, "DETECTOR", required=True)).strip().upper()
    grating = str(_meta_get(meta, "GRATING", required=True)).strip().upper()
    filt = str(_meta_get(meta, "FILTER", required=True)).strip().upper()

    fpa = _load(refs, "fpa")
    camera = _load(refs, "camera")
    collimator = _load(refs, "collimator")
    disperser = _load(refs, "disperser")
    msa = _load(refs, "msa")
    fore = _load(refs, "fore")
    ote = _load(refs, "ote")
    wrange_ref = _load(refs, "wavelengthrange")

    if disperser.grating and disperser.grating not in ("UNKNOWN", grating):
        raise ValueError(f"{Path(disperser.meta.path).name}: DISPERSER file describes "
                         f"{disperser.grating} but the exposure uses GRATING={grating}")
    disperser = disperser.with_tilt_correction(_meta_get(meta, "GWA_XTIL"),
                                               _meta_get(meta, "GWA_YTIL"))
    order, wrange = wrange_ref.lookup(filt, grating)
    order = int(_meta_get(meta, "SPORDER", order))
    if not disperser.is_prism and order == 0:
        raise ValueError(f"grating {grating} needs a non-zero spectral order")
    temperature = _meta_get(meta, "GWA_TILT")
    velosys = _meta_get(meta, "VELOSYS")
    lam_model, angle_model = _disperser_models(disperser, order, temperature, velosys)

    # aperture geometry
    row, quad_model = msa.aperture(slit.quadrant, slit.shutter_id)
    row = np.array(row, dtype=float)
    for i, attr in ((1, "xcen"), (2, "ycen"), (3, "xsize"), (4, "ysize")):
        value = getattr(slit, attr)
        if value is not None:
            row[i] = float(value)
    slit_loc = _slit_location(row)
    slit_to_msa2d = slit_loc | quad_model
    rotation = _gwa_rotation(disperser)
    msa2gwa = slit_to_msa2d | collimator.model.inverse | Unitless2DirCos() | rotation

    substrt1 = int(_meta_get(meta, "SUBSTRT1", 1))
    substrt2 = int(_meta_get(meta, "SUBSTRT2", 1))
    subsize1 = int(_meta_get(meta, "SUBSIZE1", _DETECTOR_SIZE))
    subsize2 = int(_meta_get(meta, "SUBSIZE2", _DETECTOR_SIZE))

    dms2sca = _dms_to_sca(detector, substrt1, substrt2)
    dms2sca.name = "dms2sca"
    sca2gwa = _sca_to_gwa(fpa.model_for(detector), camera.model, rotation)
    sca2gwa.name = "sca2gwa"
    gwa2slit = _gwa_to_slit(msa2gwa, slit, lam_model, angle_model)
    gwa2slit.name = "gwa2slit"

    slit2msa = slit_to_msa2d & am.Identity(1)
    slit2msa.inverse = slit_to_msa2d.inverse & am.Identity(1)
    slit2msa.name = "slit2msa"

    msa2oteip = am.Mapping((0, 1, 2, 2)) | fore.model & am.Identity(1)
    msa2oteip.inverse = am.Mapping((0, 1, 2, 2)) | fore.model.inverse & am.Identity(1)
    msa2oteip.name = "msa2oteip"
    oteip2v23 = ote.model & am.Scale(1e6)
    oteip2v23.name = "oteip2v23"

    v2v3_to_sky = _v23_to_sky(
        float(_meta_get(meta, "V2_REF", required=True)),
        float(_meta_get(meta, "V3_REF", required=True)),
        float(_meta_get(meta, "ROLL_REF", required=True)),
        float(_meta_get(meta, "RA_REF", required=True)),
        float(_meta_get(meta, "DEC_REF", required=True))) & am.Identity(1)
    v2v3_to_sky.name = "v2v3_to_sky"

    slit2det = gwa2slit.inverse | sca2gwa.inverse | dms2sca.inverse
    bbox = compute_bounding_box(slit2det, wrange, slit.ymin, slit.ymax,
                                detector_shape=(subsize2, subsize1))
    return dict(detector=detector, grating=grating, filter=filt, order=order,
                wavelength_range=wrange, disperser=disperser, slit=slit, row=row,
                dms2sca=dms2sca, sca2gwa=sca2gwa, gwa2slit=gwa2slit, slit2msa=slit2msa,
                msa2oteip=msa2oteip, oteip2v23=oteip2v23, v2v3_to_sky=v2v3_to_sky,
                slit2detector=slit2det, bounding_box=bbox)


def build_slit_wcs(slit: NirspecSlit, meta: dict, refs: dict):
    """gwcs WCS of one open slit: detector -> ... -> world (RA, Dec, micron).

    Parameters
    ----------
    slit : NirspecSlit
        The aperture (see :func:`fixed_slit` for the fixed slits).
    meta : dict
        Header keywords: GRATING, FILTER, DETECTOR, GWA_XTIL, GWA_YTIL, GWA_TILT
        (K, needed for the PRISM), RA_REF, DEC_REF, V2_REF, V3_REF, ROLL_REF;
        optional VELOSYS (m/s, barycentric correction), SUBSTRT1/2, SUBSIZE1/2,
        SPORDER. V3I_YANG and VPARITY are accepted and not needed here.
    refs : dict
        reftype -> path (or an already-read reference object) for fpa, camera,
        collimator, disperser, msa, fore, ote, wavelengthrange.

    The WCS has a bounding box covering the detector region the slit lights
    for the WAVELENGTHRANGE range of the filter/grating, and a backward
    transform (``wcs.invert(ra, dec, lam)``).  The spectral order and
    wavelength range used are stored in ``wcs.meta`` -like attributes
    ``wcs.nirspec_order`` and ``wcs.nirspec_wavelength_range`` (metres).
    """
    from gwcs import wcs as gwcs_wcs

    parts = slit_wcs_parts(slit, meta, refs)
    det, sca, gwa, slit_frame, msa_frame, oteip, v2v3, world = _frames()
    pipeline = [(det, parts["dms2sca"]), (sca, parts["sca2gwa"]), (gwa, parts["gwa2slit"]),
                (slit_frame, parts["slit2msa"]), (msa_frame, parts["msa2oteip"]),
                (oteip, parts["oteip2v23"]), (v2v3, parts["v2v3_to_sky"]), (world, None)]
    wcs = gwcs_wcs.WCS(pipeline, name=slit.name)
    wcs.bounding_box = parts["bounding_box"]
    wcs.nirspec_order = parts["order"]
    wcs.nirspec_wavelength_range = parts["wavelength_range"]
    wcs.nirspec_slit = replace(slit)
    return wcs
