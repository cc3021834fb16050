"""NIRCam grism time series (NRC_TSGRISM, GRISMR): dispersion, wavelengths, photom and the
extraction target.

The SPECWCS reference (ASDF, the layout of the official ``NIRCAMGrismModel``) holds per
spectral order three polynomials of the trace parameter ``t`` (0 to 1 along the
spectrum): ``displ`` the wavelength, ``dispx`` and ``dispy`` the offset of the trace from
the source's direct-image position (x0, y0). Each is either a polynomial of ``t`` or a
list of 2-D polynomials of (x0, y0), the coefficients of ``t**0, t**1, ...`` (the field
dependence of the trace). Files for the dispersed Hartmann sensor list their entries per
stripe (``stripes``) and filter (``fieldpoints``) instead of per order.

For a time series the source sits at the aperture's reference point, XREF_SCI /
YREF_SCI (1-based, in the exposure's subarray, as written by the official pipeline's
products). A column X (full frame, 0-based) of the row grism then has the wavelength
``displ(t)`` where ``dispx(x0, y0, t) = X - x0``, solved for ``t`` on a fine grid (the
official pipeline interpolates 40 samples), and the trace centre ``y0 + dispy(x0, y0, t)``.

photom multiplies every pixel by PHOTMJSR x RELRESPONSE(wavelength) of the PHOTOM row of
the FILTER, PUPIL=GRISMR and the order (MJy/sr), NaN and DO_NOT_USE outside the
response; extract_1d sums a box along the trace and gives FLUX in Jy with PIXAR_SR.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webbcal.plugin_api import (
    Conversion,
    ExtractionTarget,
    InputFileError,
    ReferenceFileError,
)

from .imaging import window_of

#: samples of the trace parameter t the wavelength of a column is interpolated from
T_SAMPLES = 4001
#: default box width (pixels) of the grism extraction
BOX_WIDTH = 8.0


def _unwrap(entry):
    while isinstance(entry, (list, tuple)) and len(entry) == 1 and isinstance(entry[0], (list, tuple)):
        entry = entry[0]
    return entry


def _n_inputs(m):
    return int(getattr(m, "n_inputs", 0))


def evaluate_dispersion(entry, t, x0=0.0, y0=0.0):
    """One dispersion polynomial of the SPECWCS at trace parameters ``t`` for a source at
    (x0, y0): a polynomial of ``t``, or 2-D polynomials of (x0, y0) as the coefficients of
    the powers of ``t``."""
    e = _unwrap(entry)
    t = np.asarray(t, dtype=np.float64)
    if not isinstance(e, (list, tuple)):
        return np.asarray(e(t), dtype=np.float64)
    if all(_n_inputs(m) == 2 for m in e):
        return sum(float(m(x0, y0)) * t ** k for k, m in enumerate(e))
    if _n_inputs(e[0]) == 1:
        return np.asarray(e[0](t), dtype=np.float64)
    raise ValueError(f"a dispersion entry of {len(e)} models with {[_n_inputs(m) for m in e]} inputs")


@dataclass
class GrismSpecwcs:
    """A NIRCam grism SPECWCS: the dispersion polynomials per order (or per DHS stripe)."""

    path: str
    orders: list
    displ: list
    dispx: list
    dispy: list
    stripes: list | None = None
    fieldpoints: list | None = None
    meta: dict = field(default_factory=dict)

    def index(self, order, filter_name=None, stripe=None):
        """The entry of ``order`` (per-order files) or of ``filter_name`` / ``stripe`` (DHS).

        Raises
        ------
        ReferenceFileError
            No such entry.
        """
        if self.stripes is None:
            if int(order) not in self.orders:
                raise ReferenceFileError(self.path, f"SPECWCS has no order {order} (orders: {self.orders})")
            return self.orders.index(int(order))
        for i, (s, f) in enumerate(zip(self.stripes, self.fieldpoints)):
            if (stripe is None or int(s) == int(stripe)) and (filter_name is None or str(f).upper() == str(filter_name).upper()):
                return i
        raise ReferenceFileError(self.path, f"SPECWCS has no DHS entry for filter {filter_name} stripe {stripe} "
                                            f"(stripes {self.stripes}, filters {self.fieldpoints})")

    def trace(self, i, t, x0=0.0, y0=0.0):
        """``(dx, dy, wavelength)`` of entry ``i`` at trace parameters ``t``."""
        return (evaluate_dispersion(self.dispx[i], t, x0, y0), evaluate_dispersion(self.dispy[i], t, x0, y0),
                evaluate_dispersion(self.displ[i], t, x0, y0))


def read_specwcs(path):
    """Read a NIRCam grism SPECWCS (ASDF: ``orders``, ``displ``, ``dispx``, ``dispy``; DHS
    files also ``stripes`` and ``fieldpoints``).

    Raises
    ------
    ReferenceFileError
        Not ASDF, a key missing, lists of different lengths, or polynomials that cannot be
        evaluated.
    """
    import asdf

    path = Path(path)
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            tree = af.tree
            missing = [k for k in ("orders", "displ", "dispx", "dispy") if k not in tree]
            if missing:
                raise ReferenceFileError(path, f"SPECWCS lacks {', '.join(missing)} (expected the NIRCAMGrismModel "
                                               "layout: orders, displ, dispx, dispy)")
            ref = GrismSpecwcs(str(path), [int(o) for o in tree["orders"]], list(tree["displ"]), list(tree["dispx"]),
                               list(tree["dispy"]), list(tree["stripes"]) if "stripes" in tree else None,
                               [str(f) for f in tree["fieldpoints"]] if "fieldpoints" in tree else None,
                               dict(tree.get("meta") or {}))
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an ASDF grism SPECWCS ({exc})") from None
    n = len(ref.displ)
    expected = len(ref.stripes) if ref.stripes is not None else len(ref.orders)
    if not (len(ref.dispx) == len(ref.dispy) == n == expected):
        raise ReferenceFileError(path, f"SPECWCS has {len(ref.displ)} displ, {len(ref.dispx)} dispx, {len(ref.dispy)} "
                                       f"dispy entries for {expected} {'stripes' if ref.stripes else 'orders'}")
    try:
        for i in range(n):
            ref.trace(i, np.array([0.0, 0.5, 1.0]))
    except Exception as exc:
        raise ReferenceFileError(path, f"SPECWCS entry {i}: the dispersion polynomials cannot be evaluated ({exc})") from None
    return ref


# --------------------------------------------------------------------------------------
# geometry of one exposure
# --------------------------------------------------------------------------------------
@dataclass
class GrismGeometry:
    """The trace of one order on the exposure (0-based subarray pixels)."""

    order: int
    x0: float              # source, full frame
    y0: float
    centre: np.ndarray     # (nx,) trace row per column, NaN off the trace
    wavelength: np.ndarray  # (nx,) micron per column, NaN off the trace

    def trace(self, x):
        """Trace row at columns ``x`` (NaN off the trace)."""
        return np.interp(np.asarray(x, float), np.arange(self.centre.size), self.centre, left=np.nan, right=np.nan)


def source_position(model):
    """The source's full-frame 0-based (x0, y0) from XREF_SCI / YREF_SCI.

    Raises
    ------
    InputFileError
        XREF_SCI or YREF_SCI missing.
    """
    where = str(getattr(model, "path", None) or "NRC_TSGRISM exposure")
    xref, yref = model.get_keyword("XREF_SCI"), model.get_keyword("YREF_SCI")
    if xref is None or yref is None:
        raise InputFileError(where, "a grism time series needs the source position XREF_SCI / YREF_SCI (the "
                                    "aperture's reference point) to place the trace; the header has none")
    xs, ys, _, _ = window_of(model)
    return float(xref) - 1.0 + (xs - 1), float(yref) - 1.0 + (ys - 1)


def geometry(model, specwcs, order=1):
    """The :class:`GrismGeometry` of ``order`` on the exposure."""
    ny, nx = model.data.shape[-2:]
    xs, ys, _, _ = window_of(model)
    x0, y0 = source_position(model)
    i = specwcs.index(order, model.get_keyword("FILTER"))
    t = np.linspace(0.0, 1.0, T_SAMPLES)
    dx, dy, lam = specwcs.trace(i, t, x0, y0)
    X = x0 + dx - (xs - 1)           # subarray columns along t
    Y = y0 + dy - (ys - 1)
    srt = np.argsort(X, kind="stable")
    cols = np.arange(nx, dtype=np.float64)
    centre = np.interp(cols, X[srt], Y[srt], left=np.nan, right=np.nan)
    wave = np.interp(cols, X[srt], lam[srt], left=np.nan, right=np.nan)
    on = np.isfinite(centre) & (centre >= -0.5) & (centre <= ny - 0.5)
    return GrismGeometry(int(order), x0, y0, np.where(on, centre, np.nan), np.where(on, wave, np.nan))


def assign_wcs(model, refs):
    """Attach the WAVELENGTH array (the wavelength of each column along the trace) and a
    gwcs ``detector -> world`` (the source's RA, Dec; wavelength of the column).

    Raises
    ------
    ReferenceFileError
        SPECWCS set to N/A.
    InputFileError
        No source position, or no column of the trace on the subarray.
    """
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import coordinate_frames as cf
    from gwcs.wcs import WCS

    specwcs = refs.load("specwcs")
    if specwcs is None:
        raise ReferenceFileError("specwcs", "NIRCam grism assign_wcs needs a SPECWCS reference file (it was set to N/A)")
    g = geometry(model, specwcs)
    ny, nx = model.data.shape[-2:]
    ok = np.isfinite(g.wavelength)
    if ok.sum() < 2:
        raise InputFileError(str(getattr(model, "path", None) or "NRC_TSGRISM exposure"),
                             f"the order-1 trace of the source at ({g.x0 + 1:.1f}, {g.y0 + 1:.1f}) (full frame, 1-based) "
                             "does not cross the subarray")
    model.wavelength = np.broadcast_to(g.wavelength[None, :], (ny, nx)).astype(np.float32)
    cols = np.flatnonzero(ok)
    lam = models.Tabular1D(points=cols.astype(float), lookup_table=g.wavelength[ok], method="linear",
                           bounds_error=False, fill_value=np.nan, name="wavelength_of_column")
    ra = model.meta.target.ra if getattr(model.meta.target, "ra", None) is not None else 0.0
    dec = model.meta.target.dec if getattr(model.meta.target, "dec", None) is not None else 0.0
    forward = models.Mapping((0, 0, 0), n_inputs=2) | (models.Const1D(float(ra)) & models.Const1D(float(dec)) & lam)
    det = cf.Frame2D(name="detector", axes_order=(0, 1), axes_names=("x", "y"), unit=(u.pix, u.pix))
    sky = cf.CelestialFrame(name="sky", axes_order=(0, 1), reference_frame=coord.ICRS(), unit=(u.deg, u.deg),
                            axes_names=("lon", "lat"))
    spec = cf.SpectralFrame(name="spectral", axes_order=(2,), unit=(u.micron,), axes_names=("wavelength",))
    wcs = WCS([(det, forward), (cf.CompositeFrame([sky, spec], name="world"), None)])
    wcs.bounding_box = ((float(cols[0]) - 0.5, float(cols[-1]) + 0.5), (-0.5, ny - 0.5))
    model.meta.wcs = wcs
    wi = model.meta.wcsinfo
    wi.dispersion_direction = 1
    wi.specsys = "BARYCENT"
    return model


def _wavelength(model):
    wave = getattr(model, "wavelength", None)
    if wave is None or not np.any(np.isfinite(wave) & (np.asarray(wave) > 0)):
        raise InputFileError(str(getattr(model, "path", None) or "NRC_TSGRISM exposure"),
                             "grism photom and extraction need the WAVELENGTH array: run assign_wcs first")
    return np.where(np.asarray(wave) > 0, np.asarray(wave, dtype=np.float64), np.nan)


def conversion_for(model, refs):
    """PHOTMJSR x RELRESPONSE(wavelength) of the FILTER / GRISMR / order-1 row, per pixel."""
    photom = refs.load("photom")
    inst = model.meta.instrument
    filt, pupil = str(inst.filter or "").upper(), str(getattr(inst, "pupil", None) or "GRISMR").upper()
    row = photom.select(filt, pupil, 1)
    if not row.per_steradian:
        raise ReferenceFileError(photom.path, "grism photom needs PHOTMJSR (MJy/sr per DN/s)")
    lam = _wavelength(model)
    rel = np.interp(lam, row.wavelength, row.relresponse, left=np.nan, right=np.nan) if row.wavelength.size \
        else np.ones_like(lam)
    if not photom.pixar_sr:
        raise ReferenceFileError(photom.path, "no PIXAR_SR in the PHOTOM header: needed to give FLUX in Jy")
    return Conversion(factor=row.factor * rel, bunit="MJy/sr", photmjsr=row.factor, pixar_sr=photom.pixar_sr,
                      pixar_a2=photom.pixar_a2, name=f"{row.filter}/{row.pupil} order 1")


def extraction_targets(model, mode, refs, params):
    """One target: order 1, a box of :data:`BOX_WIDTH` pixels following its trace (the
    trace bends by ~1 pixel along the spectrum; a box fixed in rows, as the official
    EXTRACT1D reference gives, loses up to 1e-3 of the light at the ends)."""
    g = geometry(model, refs.load("specwcs"))
    wave = _wavelength(model)
    cols = np.flatnonzero(np.isfinite(g.centre) & np.isfinite(g.wavelength))
    if cols.size < 2:
        raise InputFileError(str(getattr(model, "path", None) or "NRC_TSGRISM exposure"),
                             "no column of the order-1 trace on the subarray")
    mid = float(np.nanmedian(g.centre))
    pixar = getattr(model.meta.photometry, "pixelarea_steradians", None)
    return [ExtractionTarget(
        name="ORDER1", model=model, dispersion_axis=1, wavelength=wave, spectral_order=1, source_type="POINT",
        pixel_area_sr=None if not pixar else float(pixar), trace=g.trace,
        aperture_defaults={"ystart": mid - 0.5 * (BOX_WIDTH - 1), "ystop": mid + 0.5 * (BOX_WIDTH - 1),
                           "extract_width": BOX_WIDTH, "xstart": int(cols[0]), "xstop": int(cols[-1]),
                           "use_source_posn": True})]
