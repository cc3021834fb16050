"""The NIRSpec spectroscopic flat field: FFLAT x SFLAT x DFLAT at every pixel's wavelength.

NIRSpec has no single flat reference file.  Each of the three sections of the
instrument -- the fore optics (FFLAT), the spectrograph (SFLAT) and the detector
(DFLAT) -- has its own file, made of up to two parts:

* a *slow* part, an image (2-D) or a cube of images at the wavelengths listed in the
  WAVELENGTH table (3-D).  Its pixels are detector pixels (full frame, DMS
  orientation) for SFLAT and DFLAT, and MSA shutters (one 365 x 171 grid per
  quadrant, EXTVER = quadrant) for the MOS FFLAT;
* a *fast* part, the FAST_VARIATION table: one row per fixed slit (``slit_name``) or
  a single row ``ANY``, with ``nelem`` valid (``wavelength`` [micron], ``data``)
  pairs.  It varies faster than a pixel's wavelength width, so it is averaged over
  each pixel's wavelength interval ``[lam - dlam/2, lam + dlam/2]`` (``dlam`` from
  the neighbouring pixels along the dispersion) -- the exact integral of the
  linearly interpolated table, divided by ``dlam``.

The flat of a slit is the product of the six parts; its relative error is the
quadrature sum of the components' relative errors; DQ is the OR of the files' DQ.
Pixels without a wavelength, or outside a component's wavelength coverage, get NaN
(the core then flags them DO_NOT_USE | NO_FLAT_FIELD and leaves them undivided).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webbcal.plugin_api import ReferenceFileError

log = logging.getLogger("webbcal.nirspec")

__all__ = [
    "FastVariation", "FlatComponent", "read_flat_component", "read_fflat", "read_sflat", "read_dflat",
    "pixel_wavelength_width", "fast_variation_average", "interpolate_planes", "synthesize_slit_flat",
    "write_interpolated_flat", "read_interpolated_flat",
]

_MSA_SHAPE = (171, 365)  # shutter columns x shutter rows of one quadrant grid


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


@dataclass
class FastVariation:
    """FAST_VARIATION rows: slit name -> (wavelength [micron], data), increasing wavelength."""

    rows: dict = field(default_factory=dict)

    def for_slit(self, name):
        """Row for ``name``, else the ``ANY`` row, else ``None`` (no fast variation)."""
        if name is not None and str(name).upper() in self.rows:
            return self.rows[str(name).upper()]
        for key in ("ANY", "N/A", "GENERIC", ""):
            if key in self.rows:
                return self.rows[key]
        return None


@dataclass
class FlatComponent:
    """One of FFLAT / SFLAT / DFLAT as read from its file.

    ``sci`` is ``None`` (fast table only), 2-D, or 3-D with ``wavelength`` [micron] per
    plane.  ``origin`` is the (x, y) full-frame pixel of ``sci[..., 0, 0]`` (0-based,
    from SUBSTRT1/2).  ``quadrants`` holds the per-quadrant components of a MOS FFLAT
    (their ``sci`` pixels are shutters, ``[plane, column - 1, row - 1]``).
    """

    reftype: str
    path: str
    sci: np.ndarray | None = None
    err: np.ndarray | None = None
    dq: np.ndarray | None = None
    wavelength: np.ndarray | None = None
    fast: FastVariation = field(default_factory=FastVariation)
    origin: tuple = (0, 0)
    quadrants: dict = field(default_factory=dict)
    pedigree: str = ""

    @property
    def is_quadrant_flat(self):
        """True for a flat stored per MSA quadrant (the fore-optics and MSA flats of MOS)."""
        return bool(self.quadrants)


def _fail(path, what):
    return ReferenceFileError(path, what)


def _micron(values, path, ext):
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() < 1e-3:  # metres
        values = values * 1e6
    return values


def _read_fast(hdu, path):
    table = hdu.data
    names = {n.lower(): n for n in table.columns.names}
    for col in ("wavelength", "data"):
        if col not in names:
            raise _fail(path, f"extension FAST_VARIATION has no column {col!r} (expected slit_name, nelem, wavelength, data)")
    rows = {}
    for i in range(len(table)):
        wl = np.atleast_1d(np.asarray(table[names["wavelength"]][i], dtype=np.float64))
        data = np.atleast_1d(np.asarray(table[names["data"]][i], dtype=np.float64))
        n = int(table[names["nelem"]][i]) if "nelem" in names else min(len(wl), len(data))
        if n < 1 or n > min(len(wl), len(data)):
            raise _fail(path, f"FAST_VARIATION row {i}: nelem={n} does not fit its {len(wl)}-element arrays")
        wl, data = _micron(wl[:n], path, "FAST_VARIATION"), data[:n]
        good = np.isfinite(wl) & np.isfinite(data)
        wl, data = wl[good], data[good]
        if wl.size and np.any(np.diff(wl) < 0):
            order = np.argsort(wl, kind="stable")
            wl, data = wl[order], data[order]
        name = str(table[names["slit_name"]][i]).strip().upper() if "slit_name" in names else "ANY"
        rows[name] = (wl, data)
    return FastVariation(rows)


def _read_wavelength_table(hdu, path):
    table = hdu.data
    names = {n.lower(): n for n in table.columns.names}
    if "wavelength" not in names:
        raise _fail(path, "extension WAVELENGTH has no column 'wavelength'")
    wl = np.asarray(table[names["wavelength"]], dtype=np.float64).ravel()
    return _micron(wl, path, "WAVELENGTH")


def _image_component(reftype, path, sci_hdu, err_hdu, dq_hdu, wl_hdu, fast_hdu, primary):
    sci = None if sci_hdu is None or sci_hdu.data is None else np.asarray(sci_hdu.data, dtype=np.float32)
    wl = None
    if sci is not None:
        if sci.ndim == 3:
            if wl_hdu is None:
                raise _fail(path, f"{sci_hdu.name} is a cube of {sci.shape[0]} planes but there is no WAVELENGTH table")
            wl = _read_wavelength_table(wl_hdu, path)
            if wl.size != sci.shape[0]:
                raise _fail(path, f"WAVELENGTH has {wl.size} rows for {sci.shape[0]} planes of {sci_hdu.name}")
            if np.any(np.diff(wl) <= 0):
                raise _fail(path, "WAVELENGTH values must increase from plane to plane")
        elif sci.ndim != 2:
            raise _fail(path, f"{sci_hdu.name} must be a 2-D image or a 3-D cube, got {sci.ndim} dimensions")
    err = None if err_hdu is None or err_hdu.data is None else np.asarray(err_hdu.data, dtype=np.float32)
    dq = None if dq_hdu is None or dq_hdu.data is None else np.asarray(dq_hdu.data).astype(np.uint32)
    fast = _read_fast(fast_hdu, path) if fast_hdu is not None else FastVariation()
    hdr = sci_hdu.header if sci_hdu is not None else {}
    origin = (int(hdr.get("SUBSTRT1", primary.get("SUBSTRT1", 1))) - 1,
              int(hdr.get("SUBSTRT2", primary.get("SUBSTRT2", 1))) - 1)
    return FlatComponent(reftype, str(path), sci, err, dq, wl, fast, origin, pedigree=str(primary.get("PEDIGREE", "")))


def read_flat_component(path, reftype):
    """Read an FFLAT, SFLAT or DFLAT in any of its CRDS forms.

    Accepted: FAST_VARIATION only (fixed-slit FFLAT); SCI image or cube (+ WAVELENGTH,
    ERR, DQ) with FAST_VARIATION (SFLAT, DFLAT); four quadrant sets SCI/ERR/DQ/
    WAVELENGTH/FAST_VARIATION with EXTVER 1..4 (MOS FFLAT); or a lone image
    extension (e.g. a cropped detector flat), used as a wavelength-independent plane.
    """
    from astropy.io import fits

    path = Path(path)
    try:
        hdul = fits.open(path, memmap=False)
    except Exception as exc:
        raise _fail(path, f"cannot be opened as a FITS {reftype.upper()} reference file ({exc})") from None
    with hdul:
        primary = hdul[0].header
        declared = str(primary.get("REFTYPE", reftype)).strip().lower()
        if declared and declared != reftype.lower():
            raise _fail(path, f"REFTYPE is {declared.upper()}, expected {reftype.upper()}")
        by_name = {}
        for hdu in hdul[1:]:
            by_name.setdefault(hdu.name.upper(), []).append(hdu)
        sci = by_name.get("SCI", [])
        if len(sci) > 1:  # MOS FFLAT: one set per quadrant
            quads = {}

            def ver(name, q):
                for h in by_name.get(name, []):
                    if int(h.header.get("EXTVER", h.ver)) == q:
                        return h
                return None

            for h in sci:
                q = int(h.header.get("EXTVER", h.ver))
                comp = _image_component(reftype, path, h, ver("ERR", q), ver("DQ", q), ver("WAVELENGTH", q),
                                        ver("FAST_VARIATION", q), primary)
                comp.origin = (0, 0)
                quads[q] = comp
            return FlatComponent(reftype, str(path), quadrants=quads, pedigree=str(primary.get("PEDIGREE", "")))
        first = lambda name: by_name.get(name, [None])[0]  # noqa: E731
        sci_hdu = first("SCI")
        if sci_hdu is None and first("FAST_VARIATION") is None:
            images = [h for h in hdul[1:] if h.is_image and h.data is not None and h.data.ndim == 2]
            if len(images) == 1:
                sci_hdu = images[0]
            else:
                raise _fail(path, f"has neither a SCI extension nor a FAST_VARIATION table ({reftype.upper()} format)")
        return _image_component(reftype, path, sci_hdu, first("ERR"), first("DQ"), first("WAVELENGTH"),
                                first("FAST_VARIATION"), primary)


def read_fflat(path):
    """Read a NIRSpec FFLAT (fore-optics flat) reference.

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    return read_flat_component(path, "fflat")


def read_sflat(path):
    """Read a NIRSpec SFLAT (spectrograph flat) reference.

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    return read_flat_component(path, "sflat")


def read_dflat(path):
    """Read a NIRSpec DFLAT (detector flat) reference.

    Raises
    ------
    ReferenceFileError
        A file that cannot be read or lacks what is expected (the message names the file).
    """
    return read_flat_component(path, "dflat")


# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------


def pixel_wavelength_width(wavelength, axis=-1):
    """Wavelength width of each pixel along the dispersion axis: half the difference of
    its two neighbours (one-sided at the ends and next to NaN); NaN where undefined."""
    wl = np.moveaxis(np.asarray(wavelength, dtype=np.float64), axis, -1)
    n = wl.shape[-1]
    if n < 2:
        return np.moveaxis(np.full(wl.shape, np.nan), -1, axis)
    fwd = np.full(wl.shape, np.nan)
    bwd = np.full(wl.shape, np.nan)
    fwd[..., :-1] = wl[..., 1:] - wl[..., :-1]
    bwd[..., 1:] = wl[..., 1:] - wl[..., :-1]
    both = np.isfinite(fwd) & np.isfinite(bwd)
    width = np.where(both, 0.5 * (fwd + bwd), np.where(np.isfinite(fwd), fwd, bwd))
    return np.moveaxis(np.abs(width), -1, axis)


def _cumulative(x, y):
    """Integral of the piecewise-linear (x, y) from x[0] to each x[k]."""
    c = np.zeros_like(x)
    c[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
    return c


def _integral_to(t, x, y, c):
    """Integral of the piecewise-linear (x, y) from x[0] to t (t within [x0, x-1])."""
    j = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    h = x[j + 1] - x[j]
    slope = np.where(h > 0, (y[j + 1] - y[j]) / np.where(h > 0, h, 1.0), 0.0)
    dt = t - x[j]
    return c[j] + y[j] * dt + 0.5 * slope * dt * dt


def fast_variation_average(table_wl, table_data, wavelength, width):
    """Mean of the linearly interpolated table over ``[wavelength -/+ width/2]``.

    Exact for a piecewise-linear table.  Where ``width`` is 0 or NaN the table is
    interpolated at ``wavelength``.  The interval is clipped to the table; pixels whose
    wavelength lies outside the table get NaN.
    """
    x = np.asarray(table_wl, dtype=np.float64)
    y = np.asarray(table_data, dtype=np.float64)
    lam = np.asarray(wavelength, dtype=np.float64)
    out = np.full(lam.shape, np.nan)
    if x.size == 0:
        return out
    if x.size == 1:
        return np.where(np.isfinite(lam), y[0], np.nan)
    inside = np.isfinite(lam) & (lam >= x[0]) & (lam <= x[-1])
    w = np.where(np.isfinite(width), np.abs(width), 0.0)
    a = np.clip(lam - 0.5 * w, x[0], x[-1])
    b = np.clip(lam + 0.5 * w, x[0], x[-1])
    c = _cumulative(x, y)
    lam_in = np.where(inside, lam, x[0])
    a, b = np.where(inside, a, x[0]), np.where(inside, b, x[0])
    span = b - a
    point = np.interp(lam_in, x, y)
    mean = np.where(span > 0, (_integral_to(b, x, y, c) - _integral_to(a, x, y, c)) / np.where(span > 0, span, 1.0), point)
    out[inside] = mean[inside]
    return out


def interpolate_planes(cube, plane_wl, wavelength, iy, ix):
    """Value of ``cube[plane, iy, ix]`` linearly interpolated in wavelength.

    ``wavelength``, ``iy``, ``ix`` are arrays of the same shape; NaN where the wavelength
    is undefined or outside the planes' range, or (iy, ix) lies off the cube.
    """
    cube = np.asarray(cube)
    wp = np.asarray(plane_wl, dtype=np.float64)
    lam = np.asarray(wavelength, dtype=np.float64)
    ny, nx = cube.shape[-2:]
    on = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx) & np.isfinite(lam)
    yy, xx = np.where(on, iy, 0), np.where(on, ix, 0)
    if len(wp) == 1:
        return np.where(on, cube[0][yy, xx].astype(np.float64), np.nan)
    inside = on & (lam >= wp[0]) & (lam <= wp[-1])
    k = np.clip(np.searchsorted(wp, np.where(inside, lam, wp[0]), side="right"), 1, len(wp) - 1)
    w = (np.where(inside, lam, wp[0]) - wp[k - 1]) / (wp[k] - wp[k - 1])
    lo = cube[k - 1, yy, xx].astype(np.float64)
    hi = cube[k, yy, xx].astype(np.float64)
    return np.where(inside, lo * (1 - w) + hi * w, np.nan)


def _slow(comp, wavelength, iy, ix):
    """(value, error or None, dq or None) of a component's image part at pixels (iy, ix)."""
    if comp.sci is None:
        return None, None, None
    y0, x0 = comp.origin[1], comp.origin[0]
    jy, jx = iy - y0, ix - x0
    ny, nx = comp.sci.shape[-2:]
    on = (jy >= 0) & (jy < ny) & (jx >= 0) & (jx < nx)
    sy, sx = np.where(on, jy, 0), np.where(on, jx, 0)
    if comp.sci.ndim == 3:
        value = interpolate_planes(comp.sci, comp.wavelength, wavelength, jy, jx)
    else:
        value = np.where(on, comp.sci[sy, sx], np.nan)
    err = None
    if comp.err is not None:
        if comp.err.ndim == 3 and comp.wavelength is not None:
            err = interpolate_planes(comp.err, comp.wavelength, wavelength, jy, jx)
        elif comp.err.ndim == 2 and comp.err.shape == (ny, nx):
            err = np.where(on, comp.err[sy, sx], np.nan)
    dq = None
    if comp.dq is not None:
        d = comp.dq if comp.dq.ndim == 2 else np.bitwise_or.reduce(comp.dq, axis=0)
        if d.shape == (ny, nx):
            dq = np.where(on, d[sy, sx], 0).astype(np.uint32)
    return value, err, dq


def _fast(comp, slit_name, wavelength, width):
    row = comp.fast.for_slit(slit_name)
    if row is None:
        return None
    return fast_variation_average(row[0], row[1], wavelength, width)


def synthesize_slit_flat(wavelength, iy, ix, slit_name, fflat=None, sflat=None, dflat=None,
                         quadrant=None, shutter_row=None, shutter_column=None, dispersion_axis=1):
    """The flat of one slit: FFLAT x SFLAT x DFLAT at each pixel's wavelength.

    Parameters
    ----------
    wavelength
        (ny, nx) micron, NaN off the slit.
    iy, ix
        (ny, nx) full-frame detector pixel of each pixel (0-based).
    slit_name
        SLTNAME, picks the fixed-slit rows of the FAST_VARIATION tables.
    quadrant, shutter_row, shutter_column
        The primary shutter of a MOS slitlet (picks the MOS FFLAT quadrant and its
        shutter pixel).

    Returns
    -------
    object
        (flat, err, dq) arrays shaped like ``wavelength``.
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    width = pixel_wavelength_width(wavelength, axis=-1 if dispersion_axis == 1 else -2)
    flat = np.ones(wavelength.shape)
    relvar = np.zeros(wavelength.shape)
    dq = np.zeros(wavelength.shape, np.uint32)
    undefined = ~np.isfinite(wavelength)
    for comp in (fflat, sflat, dflat):
        if comp is None:
            continue
        if comp.is_quadrant_flat:
            q = comp.quadrants.get(int(quadrant)) if quadrant is not None else None
            if q is None:
                if quadrant is not None and int(quadrant) in (1, 2, 3, 4):
                    raise ReferenceFileError(comp.path, f"has no quadrant {quadrant} (EXTVER) for this slitlet")
                continue  # e.g. a fixed slit in a MOS exposure: no MSA F-flat applies
            sy = np.full(wavelength.shape, int(shutter_column) - 1)
            sx = np.full(wavelength.shape, int(shutter_row) - 1)
            parts = [_slow(q, wavelength, sy, sx), (_fast(q, slit_name, wavelength, width), None, None)]
        else:
            parts = [_slow(comp, wavelength, iy, ix), (_fast(comp, slit_name, wavelength, width), None, None)]
        for value, err, pdq in parts:
            if value is None:
                continue
            flat = flat * value
            if err is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    relvar = relvar + np.where(value != 0, (err / value) ** 2, 0.0)
            if pdq is not None:
                dq |= pdq
    flat = np.where(undefined, np.nan, flat)
    err = np.abs(flat) * np.sqrt(np.where(np.isfinite(relvar), relvar, 0.0))
    return flat, err, dq


# --------------------------------------------------------------------------------------
# the synthesised flat on disk (save_interpolated_flat / user_supplied_flat)
# --------------------------------------------------------------------------------------


def write_interpolated_flat(path, flats, header=None):
    """Write per-slit synthesised flats: SCI/ERR/DQ per slit, EXTVER = slit index, SLTNAME."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header["INSTRUME"] = "NIRSPEC"
    primary.header["DATAMODL"] = "NirspecInterpolatedFlat"
    primary.header["DESCRIP"] = "NIRSpec flat synthesised per slit (FFLAT x SFLAT x DFLAT)"
    for k, v in (header or {}).items():
        primary.header[k] = v
    hdus = [primary]
    for i, f in enumerate(flats, start=1):
        for name, arr in (("SCI", f.data), ("ERR", f.err), ("DQ", f.dq)):
            if arr is None:
                continue
            h = fits.ImageHDU(np.asarray(arr, np.uint32 if name == "DQ" else np.float32), name=name, ver=i)
            h.header["SLTNAME"] = str(f.name)
            hdus.append(h)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path


def read_interpolated_flat(path):
    """slit name -> :class:`webbcal.steps.flat_field.Flat` from :func:`write_interpolated_flat`."""
    from astropy.io import fits

    from webbcal.plugin_api import Flat

    out = {}
    try:
        with fits.open(path, memmap=False) as hdul:
            if str(hdul[0].header.get("DATAMODL", "")) != "NirspecInterpolatedFlat":
                raise ReferenceFileError(path, "is not a NIRSpec interpolated flat (DATAMODL NirspecInterpolatedFlat)")
            parts = {}
            for h in hdul[1:]:
                parts.setdefault(str(h.header.get("SLTNAME")), {})[h.name] = np.asarray(h.data)
            for name, p in parts.items():
                if "SCI" not in p:
                    raise ReferenceFileError(path, f"slit {name} has no SCI extension")
                out[name] = Flat(p["SCI"], p.get("ERR"), p.get("DQ"), name=name)
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(path, f"cannot be read as an interpolated flat ({exc})") from None
    return out


# --------------------------------------------------------------------------------------
# the flat of each slit of an exposure (the flat_field hook)
# --------------------------------------------------------------------------------------
def _slit_geometry(model, slit):
    """Full-frame detector pixel indices of a cut-out's pixels (0-based)."""
    sub1 = int(model.get_keyword("SUBSTRT1") or 1)
    sub2 = int(model.get_keyword("SUBSTRT2") or 1)
    ny, nx = slit.data.shape[-2:]
    iy, ix = np.mgrid[0:ny, 0:nx]
    return iy + int(slit.ystart) - 1 + sub2 - 1, ix + int(slit.xstart) - 1 + sub1 - 1


def slit_flats(model, refs, params):
    """One :class:`webbcal.plugin_api.Flat` per slit of ``model``, in slit order: the
    fore-optics, spectrograph and detector flats evaluated at each pixel's wavelength
    (the MSA shutter's flat for MOS), or the interpolated flat a former run saved
    (``user_supplied_flat``); ``save_interpolated_flat`` writes it for later runs."""
    from webbcal.plugin_api import Flat, slits_of

    from .msa import shutter_position

    supplied = params.get("user_supplied_flat")
    if supplied:
        try:
            reuse = read_interpolated_flat(supplied)
        except Exception:
            reuse = None
        if reuse is not None:
            log.info("flat_field: reusing the interpolated flat %s", supplied)
            return [reuse[str(s.name)] for s in slits_of(model)]
    comps = [refs.load(rt) if rt in refs else None for rt in ("fflat", "sflat", "dflat")]
    flats = []
    for slit in slits_of(model):
        iy, ix = _slit_geometry(model, slit)
        row, col = shutter_position(getattr(slit, "shutter_id", 0))
        quadrant = int(getattr(slit, "quadrant", 0) or 0) or None
        value, err, dq = synthesize_slit_flat(np.asarray(slit.wavelength, np.float64), iy, ix, str(slit.name), *comps,
                                              quadrant=quadrant, shutter_row=row, shutter_column=col)
        flats.append(Flat(value, err, dq, name=str(slit.name)))
    if params.get("save_interpolated_flat"):
        root = Path(str(getattr(model.meta, "filename", None) or "nirspec")).name.split(".fits")[0]
        path = Path(params.get("output_dir") or ".") / f"{root}_interpolatedflat.fits"
        write_interpolated_flat(path, flats)
        log.info("flat_field: saved the interpolated flat %s", path)
    return flats
