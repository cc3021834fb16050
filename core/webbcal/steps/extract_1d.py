"""extract_1d: one spectrum per slit / order from calibrated 2-D images or cubes.

The plugin answers ``webbcal_extract_targets`` with :class:`~webbcal.extract.ExtractionTarget`
objects (geometry and arrays, in detector orientation).  For each target the core

1. selects the aperture of the EXTRACT1D reference file for the target's name and
   spectral order (:mod:`webbcal.extract.reffile`);
2. builds the :class:`~webbcal.extract.aperture.Aperture` (plugin defaults < reference
   file < step parameters) and its pixel weights (:func:`build_aperture`);
3. box-extracts (or, with ``extraction_type="optimal"``, optimally extracts) all
   integrations, in chunks of integrations (a progress bar on a terminal, a log line
   every ``log_increment`` integrations);
4. converts the sums to the x1d columns (:mod:`webbcal.extract.spectrum`) and applies
   the plugin's aperture correction to point sources.

2-D input gives an ``x1d`` MultiSpecModel (one spectrum per target); 3-D input gives
an ``x1dints`` TSOMultiSpecModel (one row per integration, with INT_NUM and the
integration times).

Optimal extraction (Horne 1986)
-------------------------------
The extraction *window* is the set of whole pixels with a source-aperture weight
> 0; the optimal flux is the flux of the source inside that window (the same quantity a
box extraction measures, so the aperture correction applies unchanged).  The spatial
profile, normalised to unit sum over the window in every column, comes from
``profile_type``:

``empirical`` (default)
    the data themselves (mean over integrations, background-subtracted when background
    regions exist), each column divided by its total, running median over
    ``profile_window`` columns along dispersion (:func:`~webbcal.extract.profiles.empirical_profile`).
``gaussian`` / ``moffat``
    a pixel-integrated kernel whose centre and width follow polynomials of order
    ``trace_order`` / ``width_order`` in the dispersion pixel, fitted in
    ``trace_nbins`` bins along dispersion (:func:`~webbcal.extract.profiles.fit_trace`).
``psf``
    a SPECPSF-like file (``psf_file``, or the mode's ``specpsf`` reference type when the
    plugin declares one), read by :func:`read_specpsf`, interpolated to each column's
    wavelength and shifted to the trace: the plugin's ``trace`` when known, else its
    ``source_position``, else a Gaussian trace fit.
``user``
    an image (``profile_file``) in DETECTOR orientation, shaped like one plane (or the
    whole cube) of the data; a multi-slit file gives one profile per target by EXTVER
    (a ``_profile`` product written by ``save_profile`` can be given back).

Variances are VAR_POISSON + VAR_RNOISE + VAR_FLAT.  Without variances but with a WHT
array (drizzled/resampled products) the variance is ``scale / WHT`` with ``scale``
estimated from the residuals (``variance_from_wht``: None = automatic).  Outliers
(cosmic rays) are rejected one per column and iteration above ``reject_sigma``, at most
``max_iter`` rounds; the Poisson variance is revised from the model when
``revise_variance``.  A column in which any pixel was rejected gets the OUTLIER bit
(16) in the x1d DQ column.

Background: with background regions and ``fit_background_jointly`` (default) a
polynomial of order ``bkg_order`` across the slit is fitted together with the source
amplitude over the window and the background regions; otherwise the background is
fitted in the background regions first (like the box extraction), subtracted, and its
variance added to the flux variance.  BACKGROUND is the background under the window
(per pixel after the division by NPIXELS); its variance is converted from the fit's
exactly for a constant background.

Negative traces of nod-subtracted data (``target.negative_positions``) are modelled
(``negative_traces="model"``) by copies of the source profile shifted to the negative
positions (parallel to the trace), fitted with their own amplitude so their (negative)
light never enters the source flux; or masked (``"mask"``: pixels holding > 1 % of a
negative trace's light are excluded); or ``"ignore"``\\ d.  In every case they are kept
out of a separately fitted background.  When they are modelled or masked, the source
profile is estimated from the source alone (:meth:`_OptimalExtraction.build_profile`):
over the window widened by the nod offsets, per column, the data are modelled as the
source plus each negative trace (the source shifted, times its own amplitude ratio,
fitted on the negative cores and smoothed along dispersion) and solved for the source;
the profile of that source image feeds the next amplitude fit until the profile is
stable.  A negative trace one nod offset away overlaps the window with its wing, which
is the source's wing on the other side, so the profile is needed (and estimated) beyond
the window, and is never taken from data where source and negative wings cancel.

Products (``save_profile``, ``save_scene_model``, ``save_residual_image``; suffixes
``profile``, ``scene_model``, ``residual``) are written next to the x1d product in
DETECTOR orientation: an ImageModel (2-D) or CubeModel (one plane per integration), or
a MultiSlitModel with one slit per target when the input has slits or several targets.
The scene model is the fitted model of the data (source + negative traces +
background) in the pixels that entered the fit and NaN elsewhere; the residual is
data - scene model.  For box extraction the profile is the source aperture weights and
the scene model is the fitted background (zero without background regions) over the
source and background regions.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ExtractionError, InputFileError, ParameterError, ReferenceFileError, WebbcalError
from ..extract.aperture import Aperture
from ..extract.box import bad_pixel_mask, chunk_length, extract_box
from ..extract.orient import deorient, orient, orient_plane
from ..extract.parallel import map_chunks
from ..extract.reffile import Extract1dReference, validate_aperture_entry
from ..extract.spectrum import aperture_wavelength, column_units, spectrum_columns
from ..pipeline.step import Param, Step, is_per_integration

log = logging.getLogger("webbcal.step")

__all__ = [
    "Extract1dStep", "extract_target", "TargetSpectrum", "build_aperture", "aperture_weights_for",
    "read_specpsf", "SpecPsf", "shift_profile", "shift_matrix", "OUTLIER",
]

#: x1d DQ bit set in columns where optimal extraction rejected a pixel (JWST OUTLIER)
OUTLIER = 16

#: step parameters that override aperture settings (JWST names)
APERTURE_OVERRIDES = (
    "xstart", "xstop", "ystart", "ystop", "extract_width", "src_coeff", "bkg_coeff", "independent_var",
    "use_source_posn", "smoothing_length", "bkg_fit", "bkg_order",
)

PROFILE_TYPES = ("empirical", "gaussian", "moffat", "psf", "user")
PRODUCT_SUFFIXES = {"save_profile": "profile", "save_scene_model": "scene_model", "save_residual_image": "residual"}

#: maximum alternations of negative (nod) trace amplitudes and source profile
NEGATIVE_ITERATIONS = 30

#: columns per block of the per-column solves that separate source and negative traces
#: (bounds the ``(columns, rows, rows)`` matrices)
NEGATIVE_BLOCK_ELEMENTS = 2**22

#: pixels per outer chunk of the optimal extraction (bounds memory, paces the progress bar)
OPTIMAL_CHUNK_PIXELS = 2**21
#: pixels beyond the extraction window on each side over which a parametric profile is fitted
PROFILE_FIT_MARGIN = 3


@dataclass
class TargetSpectrum:
    """Extracted spectrum of one target: x1d columns ``(nints, ndisp)`` and provenance.

    ``profile`` (``(1 or nints, ncross, ndisp)``, extraction orientation) is the
    optimal-extraction profile or the box aperture weights; ``scene`` (``(nints, ncross,
    ndisp)``) the scene model, only when asked for.
    """

    target: object
    columns: dict
    aperture: Aperture
    limits: dict
    units: dict
    src_weights: np.ndarray
    bkg_weights: np.ndarray | None
    aperture_width: float
    extraction_type: str = "box"
    extras: dict = field(default_factory=dict)
    profile: np.ndarray | None = None
    scene: np.ndarray | None = None


@dataclass
class ApertureGeometry:
    """What :func:`build_aperture` returns (extraction orientation ``(ncross, ndisp)``)."""

    aperture: Aperture
    src: np.ndarray
    bkg: np.ndarray | None
    wavelength2d: np.ndarray | None
    wavelength_cols: np.ndarray | None
    wavelength: np.ndarray
    shape: tuple
    #: dispersion columns the spectrum covers (the x1d rows): the aperture's dispersion
    #: range within the WCS bounding box (columns with a wavelength)
    columns: slice = field(default_factory=lambda: slice(None))


def _as_reference(ref, path=None):
    """Accept an :class:`Extract1dReference`, a parsed JSON tree (dict) or ``None``."""
    if ref is None or isinstance(ref, Extract1dReference):
        return ref
    if isinstance(ref, dict) and "apertures" in ref:
        where = str(path or "<EXTRACT1D>")
        aps = ref["apertures"]
        if not isinstance(aps, list):
            raise ReferenceFileError(where, "key 'apertures' must be a list")
        return Extract1dReference(where, [validate_aperture_entry(a, where, i) for i, a in enumerate(aps)],
                                  {k: v for k, v in ref.items() if not isinstance(v, (list, dict))})
    raise ReferenceFileError(path or "<EXTRACT1D>", f"the EXTRACT1D reader returned a {type(ref).__name__}, expected an Extract1dReference")


def _array(model, name):
    a = getattr(model, name, None)
    if a is None:
        return None
    a = np.asanyarray(a)
    return a if a.size else None


def _step_overrides(params):
    return {k: params.get(k) for k in APERTURE_OVERRIDES if params.get(k) is not None}


def _params(params):
    p = {k: spec.default for k, spec in Extract1dStep.spec.items()}
    p.update(params or {})
    return p


# ------------------------------------------------------------------------------------------
# aperture
# ------------------------------------------------------------------------------------------
def build_aperture(target, reference=None, params=None):
    """The aperture of ``target`` and its weights, as the step builds them.

    :param reference: an :class:`Extract1dReference` (or ``None``).
    :param params: step parameters (dict); missing keys take the step defaults.
    :return: :class:`ApertureGeometry` (weights in extraction orientation).
    """
    p = _params(params)
    axis = int(target.dispersion_axis)
    shape = np.shape(getattr(target.model, "data", None))
    if len(shape) not in (2, 3):
        raise ExtractionError(f"target {target.name}: the model has no 2-D or 3-D data array (shape {shape})")
    ny, nx = shape[-2:]
    ncross, ndisp = (ny, nx) if axis == 1 else (nx, ny)
    entry = reference.select(target.name, target.spectral_order) if reference is not None else None
    if reference is not None and entry is None:
        log.info("extract_1d: %s has no aperture for %s order %s; using the plugin's defaults",
                 reference.name, target.name, target.spectral_order)
    overrides = _step_overrides(p)
    merged_usp = overrides.get("use_source_posn", (entry or {}).get("use_source_posn", target.aperture_defaults.get("use_source_posn")))
    if merged_usp is None:  # auto: point sources with a known position
        merged_usp = (target.source_type or "").upper() == "POINT" and (
            target.source_position is not None or target.trace is not None)
    overrides["use_source_posn"] = bool(merged_usp)
    ap = Aperture.from_parameters(
        target.name, axis, target.aperture_defaults, entry, overrides,
        source_position=target.source_position, trace=target.trace,
    )
    wl2d = orient_plane(np.asarray(target.wavelength, dtype=np.float64), axis) if target.wavelength is not None else None
    if wl2d is not None and wl2d.shape != (ncross, ndisp):
        raise ExtractionError(f"target {target.name}: wavelength array has shape {np.shape(target.wavelength)}, "
                              f"expected the data's last two axes {(ny, nx)}")
    # the column wavelength for wavelength-polynomial edges: mean along the nominal aperture
    wl_cols = None
    if wl2d is not None:
        with np.errstate(invalid="ignore"):
            wl_cols = aperture_wavelength(wl2d, np.ones_like(wl2d))
        if ap.independent_var == "wavelength":
            nominal = ap.with_changes(independent_var="wavelength")
            src0, _ = nominal.weights(ncross, ndisp, wl_cols)
            wl_cols = aperture_wavelength(wl2d, src0)
    src, bkg = ap.weights(ncross, ndisp, wl_cols)
    if bkg is not None and str(p.get("negative_traces") or "model").lower() != "ignore":
        bkg = _exclude_negative_traces(target, src, bkg)
    wavelength = aperture_wavelength(wl2d, src) if wl2d is not None else np.full(ndisp, np.nan)
    return ApertureGeometry(ap, src, bkg, wl2d, wl_cols, wavelength, (ncross, ndisp),
                            spectrum_columns_of(ap, wavelength, ndisp))


def spectrum_columns_of(ap, wavelength, ndisp):
    """The dispersion columns an x1d covers, as the official pipeline chooses them: the
    aperture's dispersion range (xstart..xstop or ystart..ystop) within the region where
    the WCS defines a wavelength -- not the whole detector with NaN rows."""
    keep = ap._column_mask(ndisp)
    with_wl = keep & np.isfinite(wavelength)
    if with_wl.any():
        keep = with_wl
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return slice(0, ndisp)
    return slice(int(idx[0]), int(idx[-1]) + 1)


def apply_mode_defaults(targets, mode):
    """Complete the plugin's targets with what the core knows.

    * Wavelengths: a target without usable wavelengths (none, all 0 or NaN) gets its
      model's WCS evaluated on the pixels, as the official pipeline does; 0 micron never
      reaches a product (non-positive values become NaN).
    * ``use_source_posn`` (Mode data) where the plugin did not choose: point sources move
      to their position only in the modes where the official pipeline moves them;
      extended sources never do.
    """
    from ..wcs import pixel_wavelengths, usable_wavelengths

    for target in targets:
        wl = usable_wavelengths(target.wavelength)
        if wl is None:
            wl = pixel_wavelengths(target.model, what=f"target {target.name}")
        target.wavelength = wl
    if mode is None:
        return targets
    for target in targets:
        if "use_source_posn" not in target.aperture_defaults:
            point = (target.source_type or "").upper() == "POINT"
            target.aperture_defaults = dict(target.aperture_defaults,
                                            use_source_posn=bool(mode.use_source_posn and point))
    return targets


def _exclude_negative_traces(target, src, bkg):
    """Background weights with the negative traces of nod-subtracted data removed.

    Each negative trace runs parallel to the source (following ``target.trace`` when
    given); pixels closer to it than half the source aperture width plus one pixel get
    no background weight, so a nod's negative signal is never fitted as background.
    """
    negs = [float(x) for x in (target.negative_positions or ()) if x is not None and np.isfinite(x)]
    if not negs:
        return bkg
    ncross, ndisp = src.shape
    cols = np.arange(ndisp, dtype=np.float64)
    rows = np.arange(ncross, dtype=np.float64)[:, None]
    width = src.sum(axis=0)
    half = 0.5 * np.where(width > 0, width, np.nanmedian(width[width > 0]) if np.any(width > 0) else 2.0) + 1.0
    base = target.source_position
    centre = None
    if target.trace is not None and base is not None:
        centre = np.asarray(target.trace(cols), dtype=np.float64)
    keep = np.ones_like(bkg, dtype=bool)
    for x in negs:
        c = (centre + (x - base)) if centre is not None else np.full(ndisp, x)
        keep &= np.abs(rows - c[None, :]) > half[None, :]
    removed = float(np.sum(bkg * ~keep))
    if removed > 0:
        log.info("extract_1d: %s: %.1f background pixel weight(s) near %d negative nod trace(s) excluded",
                 target.name, removed, len(negs))
    out = np.where(keep, bkg, 0.0)
    return out if np.any(out > 0) else None


# ------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------
class ProgressReport:
    """Progress of a long extraction: a ``\\r`` bar on stderr when it is a terminal, and
    a log line every ``log_increment`` integrations (0: no log lines)."""

    def __init__(self, label, total, log_increment=50, stream=None, width=30):
        self.label = label
        self.total = int(total)
        self.log_increment = int(log_increment or 0)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        try:
            self.bar = bool(self.stream.isatty()) and self.total > 1
        except Exception:
            self.bar = False

    def __call__(self, done, total=None):
        done = int(done)
        inc = self.log_increment
        if inc > 0 and self.total > inc and done > self.done:
            # a line each time a multiple of log_increment is passed, and at the end
            if done // inc > self.done // inc or done == self.total:
                log.info("extract_1d: %s: %d of %d integrations", self.label, done, self.total)
        self.done = done
        if self.bar:
            frac = done / max(self.total, 1)
            n = int(round(self.width * frac))
            self.stream.write(f"\rextract_1d {self.label} [{'#' * n}{'.' * (self.width - n)}] {done}/{self.total}")
            if done >= self.total:
                self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------------------------------
# profile inputs: SPECPSF-like files, user profile images, drizzle weights
# ------------------------------------------------------------------------------------------
@dataclass
class SpecPsf:
    """A tabulated spectral PSF: ``psf[k, s]`` is the cross-dispersion PSF at wavelength
    ``wave[k]`` (micron), sampled ``subpix`` times per detector pixel, its centre at
    sample index ``center`` (fractional allowed)."""

    psf: np.ndarray
    wave: np.ndarray
    subpix: float
    center: float
    name: str = "SPECPSF"


def _psf_keyword(headers, key):
    for h in headers:
        if h is not None and key in h:
            return h[key]
    return None


def read_specpsf(path):
    """Read a SPECPSF-like FITS file.

    Layout (the JWST SPECPSF convention as used here):

    - image ``SCI`` (or the primary array): the PSF, one row per wavelength and one
      column per cross-dispersion sample, shape ``(nwave, nsamp)``.  An image stored the
      other way round, ``(nsamp, nwave)``, is accepted when its second axis matches the
      wavelength vector (then ``CENTROW`` locates the centre);
    - ``WAVE``: the wavelengths (micron) of the rows, an image (1-D, or a 2-D array with
      one wavelength per row) or a table with a ``WAVELENGTH`` (or ``WAVE``) column;
    - keywords (SCI or primary header): ``SUBPIX`` samples per detector pixel (> 0), and
      ``CENTCOL`` (``CENTROW`` for the transposed layout) -- the sample index (0-based,
      fractional allowed) of the PSF centre.

    :raises ReferenceFileError: naming the file and the extension/keyword at fault.
    """
    from astropy.io import fits

    path = str(path)
    try:
        hdul = fits.open(path)
    except (OSError, ValueError) as exc:
        raise ReferenceFileError(path, f"cannot be opened as a SPECPSF FITS file ({exc})") from None
    with hdul:
        names = [h.name for h in hdul]
        if "SCI" in names:
            sci = hdul["SCI"]
        elif hdul[0].data is not None:
            sci = hdul[0]
        else:
            raise ReferenceFileError(path, "has no SCI extension (expected the PSF image, one row per wavelength)")
        psf = np.asarray(sci.data, dtype=np.float64)
        if psf.ndim != 2:
            raise ReferenceFileError(path, f"the SCI extension has shape {psf.shape}; expected a 2-D PSF image (nwave, nsamp)")
        if "WAVE" not in names:
            raise ReferenceFileError(path, "has no WAVE extension (expected the wavelength of each PSF row, micron)")
        wh = hdul["WAVE"]
        if isinstance(wh, fits.BinTableHDU):
            cols = {c.upper(): c for c in wh.columns.names}
            col = cols.get("WAVELENGTH") or cols.get("WAVE")
            if col is None:
                raise ReferenceFileError(path, "the WAVE table has no WAVELENGTH column")
            wave = np.asarray(wh.data[col], dtype=np.float64).ravel()
        else:
            wave = np.asarray(wh.data, dtype=np.float64)
            if wave.ndim == 2:  # one wavelength per row, repeated along the samples
                wave = wave[:, 0] if wave.shape[0] == psf.shape[0] else wave[0]
            wave = wave.ravel()
        headers = (sci.header, hdul[0].header)
        subpix = _psf_keyword(headers, "SUBPIX")
        if psf.shape[0] == wave.size:
            centre = _psf_keyword(headers, "CENTCOL")
            ckey = "CENTCOL"
        elif psf.shape[1] == wave.size:
            psf = psf.T
            centre = _psf_keyword(headers, "CENTROW")
            ckey = "CENTROW"
        else:
            raise ReferenceFileError(path, f"the SCI image has shape {psf.shape} but WAVE holds {wave.size} wavelengths; "
                                           "expected one PSF row per wavelength")
    if subpix is None or not np.isfinite(float(subpix)) or float(subpix) <= 0:
        raise ReferenceFileError(path, f"keyword SUBPIX is {subpix!r}; expected the number of PSF samples per pixel (> 0)")
    if centre is None or not np.isfinite(float(centre)) or not 0 <= float(centre) <= psf.shape[1] - 1:
        raise ReferenceFileError(path, f"keyword {ckey} is {centre!r}; expected the sample index of the PSF centre "
                                       f"(0..{psf.shape[1] - 1})")
    if not np.all(np.isfinite(wave)) or (wave.size > 1 and np.any(np.diff(wave) <= 0)):
        raise ReferenceFileError(path, "the WAVE extension must hold finite, strictly increasing wavelengths")
    if not np.any(np.nan_to_num(psf) > 0):
        raise ReferenceFileError(path, "the SCI PSF image has no positive value")
    return SpecPsf(psf=psf, wave=wave, subpix=float(subpix), center=float(centre), name=Path(path).name)


def write_specpsf(path, psf, wave, subpix, center):
    """Write a SPECPSF-like file readable by :func:`read_specpsf` (tests, user tools)."""
    from astropy.io import fits

    hdr = fits.Header({"REFTYPE": "SPECPSF", "SUBPIX": float(subpix), "CENTCOL": float(center)})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.asarray(psf, np.float32), header=hdr, name="SCI"),
                  fits.ImageHDU(np.asarray(wave, np.float64), name="WAVE")]).writeto(path, overwrite=True)
    return Path(path)


def _read_profile_image(path, index, ntargets):
    """The user profile image for target ``index`` (detector orientation)."""
    from astropy.io import fits

    try:
        hdul = fits.open(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(path, f"cannot be opened as a profile FITS image ({exc})") from None
    with hdul:
        images = [h for h in hdul if h.name in ("SCI", "PROFILE") and h.data is not None]
        if not images:
            images = [h for h in hdul if getattr(h, "data", None) is not None and np.ndim(h.data) in (2, 3)
                      and not isinstance(h, fits.BinTableHDU)]
        if not images:
            raise InputFileError(path, "has no image extension (expected a SCI or PROFILE image holding the profile)")
        if len(images) > 1 and ntargets > 1:
            if index >= len(images):
                raise InputFileError(path, f"holds {len(images)} profile images but the exposure has {ntargets} targets "
                                           "(expected one image per target, EXTVER 1..N)")
            hdu = images[index]
        else:
            hdu = images[0]
        return np.asarray(hdu.data, dtype=np.float64), hdu.name


def _wht_of(model, parent=None):
    """Drizzle weights of ``model``: a ``wht`` attribute or a WHT extension (for a slit
    of ``parent``, the WHT with the slit's EXTVER)."""
    w = getattr(model, "wht", None)
    if w is not None:
        return np.asanyarray(w)
    for holder, extver in ((model, None), (parent, None)):
        hdus = getattr(holder, "extra_hdus", None) or []
        whts = [h for h in hdus if getattr(h, "name", "") == "WHT"]
        if not whts:
            continue
        if holder is parent and getattr(parent, "slits", None):
            try:
                extver = next(i for i, s in enumerate(parent.slits, start=1) if s is model)
            except StopIteration:
                return None
            match = [h for h in whts if int(h.header.get("EXTVER", 1) or 1) == extver]
            return np.asanyarray(match[0].data) if match else None
        return np.asanyarray(whts[0].data)
    return None


def _has_variance(variances):
    for v in variances:
        if v is None:
            continue
        with np.errstate(invalid="ignore"):
            if np.any(np.asarray(v[: min(len(v), 4)]) > 0):
                return True
    return False


def shift_profile(profile, delta):
    """Shift a profile ``(..., ncross, ndisp)`` by ``delta`` pixels along cross-dispersion.

    Flux-conserving: the cumulative profile, known at the pixel edges, is interpolated
    at the shifted edges by a cubic spline (not-a-knot) and differenced; light shifted
    off the array is lost.  The result is linear in the profile (so a shift is a matrix,
    :func:`shift_matrix`).  A linear interpolation of the cumulative spreads every
    pixel over two (a box blur of the fractional shift): for a sigma = 1 px profile
    shifted by half a pixel it errs by up to 4 % of the column at the core, the spline
    by 0.5 % (0.05 % at sigma = 1.5 px).  ``delta`` is a scalar or ``(ndisp,)``.
    """
    from scipy.interpolate import CubicSpline

    p = np.asarray(profile, dtype=np.float64)
    lead, (ncross, ndisp) = p.shape[:-2], p.shape[-2:]
    p3 = np.moveaxis(p.reshape((-1, ncross, ndisp)), 1, 0).reshape(ncross, -1)  # (ncross, nlead * ndisp)
    cdf = np.concatenate([np.zeros((1, p3.shape[1])), np.cumsum(p3, axis=0)], axis=0)
    delta = np.broadcast_to(np.asarray(delta, dtype=np.float64), (ndisp,))
    # new pixel i spans old coordinates [i - 0.5 - delta, i + 0.5 - delta]; cdf index e sits at e - 0.5
    u = np.clip(np.arange(ncross + 1, dtype=np.float64)[:, None] - delta[None, :], 0.0, float(ncross))
    u = np.tile(u, (1, p3.shape[1] // ndisp))
    if ncross < 3:  # too few knots for a cubic: linear
        i0 = np.clip(np.floor(u).astype(np.intp), 0, ncross - 1)
        c0, c1 = np.take_along_axis(cdf, i0, axis=0), np.take_along_axis(cdf, i0 + 1, axis=0)
        value = c0 + (u - i0) * (c1 - c0)
    else:
        coef = CubicSpline(np.arange(ncross + 1, dtype=np.float64), cdf, axis=0).c  # (4, ncross, m)
        i0 = np.clip(np.floor(u).astype(np.intp), 0, ncross - 1)
        t = u - i0
        value = np.take_along_axis(coef[0], i0, axis=0)
        for k in (1, 2, 3):
            value = value * t + np.take_along_axis(coef[k], i0, axis=0)
    out = np.diff(value, axis=0).reshape(ncross, -1, ndisp)
    return np.moveaxis(out, 0, 1).reshape(lead + (ncross, ndisp))


def shift_matrix(ncross, delta):
    """The ``(ncross, ncross)`` matrix ``S`` with ``S @ p == shift_profile(p, delta)``
    for every profile column ``p`` (scalar ``delta``)."""
    return shift_profile(np.eye(int(ncross)), float(delta))


def _profile_centre(prof):
    """Median over columns of the profile centroid (cross-dispersion pixel)."""
    p = np.asarray(prof, dtype=np.float64)
    p = p.reshape((-1,) + p.shape[-2:]).mean(axis=0)
    y = np.arange(p.shape[0], dtype=np.float64)[:, None]
    tot = p.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (p * y).sum(axis=0) / tot
    c = c[np.isfinite(c) & (tot > 0)]
    return float(np.median(c)) if c.size else np.nan


# ------------------------------------------------------------------------------------------
# extraction of one target
# ------------------------------------------------------------------------------------------
def extract_target(target, reference=None, params=None, refs=None, progress=None, scene=False,
                   index=0, ntargets=1, parent=None, x1dints=False):
    """Extract one :class:`~webbcal.extract.ExtractionTarget`; pure numpy, no output model.

    :param reference: an :class:`Extract1dReference` (or ``None``).
    :param params: step parameters (dict); missing keys take the step defaults.
    :param refs: the step's :class:`~webbcal.refs.RefSet` (for a ``specpsf`` reference).
    :param progress: callable ``progress(done, total)`` after each chunk of integrations.
    :param scene: also compute the scene model (``TargetSpectrum.scene``).
    :param index, ntargets, parent: position of the target among the exposure's targets
        and the model they come from (per-target user profiles, WHT of a slit).
    :param x1dints: write the columns straight into the fields of a new x1dints table
        (``extras["x1dints_table"]``) instead of separate arrays: a long time series is
        then held once, not twice.
    :return: :class:`TargetSpectrum`.
    """
    p = _params(params)
    model = target.model
    axis = int(target.dispersion_axis)
    data = orient(_array(model, "data"), axis)
    if data is None:
        raise ExtractionError(f"target {target.name}: the model has no data array")
    nints, ncross, ndisp = data.shape
    geom = build_aperture(target, reference, p)
    ap, src, bkg = geom.aperture, geom.src, geom.bkg
    # the DQ array is passed on as is: box extraction converts it chunk by chunk, so a
    # memory-mapped cube is never loaded whole
    dq = getattr(model, "dq", None)
    dq = orient(dq, axis) if dq is not None and np.size(dq) else None
    variances = [orient(_array(model, n), axis) for n in ("var_poisson", "var_rnoise", "var_flat")]
    subtract = p.get("subtract_background")
    subtract = True if subtract is None else bool(subtract)
    kind = (p.get("extraction_type") or "box").lower()
    if progress is None:
        progress = ProgressReport(target.name, nints, p.get("log_increment") or 0)
    bunit = getattr(getattr(model, "meta", None), "bunit_data", None)
    extras = {"nints": nints}
    fields = None
    keep = geom.columns
    nout = len(range(*keep.indices(ndisp)))
    if x1dints:
        from ..datamodels.tables import new_tso_spec_table

        table = extras["x1dints_table"] = new_tso_spec_table(nints, nout, fill=False)
        fields = {name: table[name] for name in table.dtype.names if table[name].shape == (nints, nout)}
    if kind == "optimal":
        mask = _ChunkMask(dq) if dq is not None else None
        opt = _OptimalExtraction(target, data, geom, variances, mask, p, refs, index, ntargets, parent)
        result = opt.run(progress, scene)
        cols = spectrum_columns(result, geom.wavelength, bunit, target.pixel_area_sr, out=fields, columns=keep)
        cols["DQ"][np.asarray(result.outlier)[:, keep]] |= np.uint32(OUTLIER)
        profile, scene_arr = opt.profile, result.scene
        width = float(np.median(opt.nwin[opt.nwin > 0])) if np.any(opt.nwin > 0) else 0.0
        extras.update(result.info)
    else:
        result = extract_box(
            data, src, bkg, *variances, mask=dq, bkg_fit=ap.bkg_fit, bkg_order=ap.bkg_order,
            bkg_sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length,
            subtract_background=subtract, chunk_size=p.get("chunk_size"), progress=progress,
            threads=p.get("threads"),
        )
        cols = spectrum_columns(result, geom.wavelength, bunit, target.pixel_area_sr, out=fields, columns=keep)
        profile = src[np.newaxis]
        scene_arr = _box_scene(data, src, bkg, variances, bad_pixel_mask(dq) if dq is not None else None, ap, p) if scene else None
        ssum = src.sum(axis=0)
        width = float(np.median(ssum[ssum > 0]))
    extras["result"] = result
    extras["columns"] = keep
    return TargetSpectrum(
        target=target, columns=cols, aperture=ap, limits=ap.limits(ncross, ndisp, geom.wavelength_cols),
        units=column_units(bunit), src_weights=src, bkg_weights=bkg, aperture_width=width,
        extraction_type=kind, extras=extras, profile=profile, scene=scene_arr,
    )


def _box_scene(data, src, bkg, variances, mask, ap, p):
    """Scene model of a box extraction: the fitted background over the source and
    background regions (zero without background), NaN elsewhere."""
    from ..extract.background import fit_background

    nints, ncross, ndisp = data.shape
    region = (src > 0) | (bkg > 0 if bkg is not None else False)
    out = np.empty(data.shape, dtype=np.float32)
    if bkg is None or ap.bkg_fit is None:
        out[...] = np.where(region, 0.0, np.nan)[np.newaxis]
        return out
    step = chunk_length(nints, ncross, ndisp, p.get("chunk_size"))
    for i0 in range(0, nints, step):
        sl = slice(i0, min(nints, i0 + step))
        d = np.asarray(data[sl], dtype=np.float64)
        valid = np.isfinite(d) if mask is None else np.isfinite(d) & ~(mask[sl] if mask.shape[0] == nints else mask)
        vs = [None if v is None else (v[sl] if v.shape[0] == nints else v) for v in variances]
        fit = fit_background(d, bkg, None, *vs, valid=valid, method=ap.bkg_fit, order=ap.bkg_order,
                             sigma_clip=p.get("bkg_sigma_clip", 3.0), smoothing_length=ap.smoothing_length)
        out[sl] = np.where(region[np.newaxis], fit.model, np.nan)
    return out


class _ChunkMask:
    """'Do not use' mask of a DQ cube, converted only for the slices asked for
    (``mask[i0:i1]``, ``mask[sl, rows]``): no whole-cube boolean copy, and a
    memory-mapped DQ is read chunk by chunk."""

    def __init__(self, dq):
        self.dq = dq
        self.shape = tuple(np.shape(dq))

    def __getitem__(self, key):
        return bad_pixel_mask(self.dq[key])


@dataclass
class _OptimalResult:
    """Optimal extraction sums in the layout :func:`spectrum_columns` reads."""

    flux: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    npixels: np.ndarray
    background: np.ndarray
    bkg_var_poisson: np.ndarray
    bkg_var_rnoise: np.ndarray
    bkg_var_flat: np.ndarray
    outlier: np.ndarray
    scene: np.ndarray | None = None
    info: dict = field(default_factory=dict)


class _OptimalExtraction:
    """Optimal extraction of one target (see the module docstring)."""

    def __init__(self, target, data, geom, variances, mask, p, refs, index, ntargets, parent):
        self.target, self.data, self.geom, self.p, self.refs = target, data, geom, p, refs
        self.index, self.ntargets, self.parent = index, ntargets, parent
        self.variances, self.mask = variances, mask
        self.nints, self.ncross, self.ndisp = data.shape
        ap = geom.aperture
        self.window = geom.src > 0
        self.nwin = self.window.sum(axis=0).astype(np.float64)
        bkg = geom.bkg if (geom.bkg is not None and ap.bkg_fit is not None) else None
        self.bkg = bkg
        joint = p.get("fit_background_jointly")
        self.joint = bkg is not None and (True if joint is None else bool(joint))
        if self.joint and ap.bkg_fit == "median":
            log.info("extract_1d: %s: bkg_fit median is not a joint fit; fitting a polynomial of order %d jointly",
                     target.name, ap.bkg_order)
        self.profile_type = str(p.get("profile_type") or "empirical").lower()
        if self.profile_type not in PROFILE_TYPES:
            raise ParameterError(f"parameter profile_type={self.profile_type!r} must be one of {', '.join(PROFILE_TYPES)}")
        self._choose_variance()

    # -- inputs ---------------------------------------------------------------------------
    def _choose_variance(self):
        p, t = self.p, self.target
        use_wht = p.get("variance_from_wht")
        have_var = _has_variance(self.variances)
        self.wht = None
        if use_wht is None:
            use_wht = not have_var and _wht_of(t.model, self.parent) is not None
        if use_wht:
            w = _wht_of(t.model, self.parent)
            if w is None:
                raise ExtractionError(f"target {t.name}: variance_from_wht is set but the input has no WHT array "
                                      "(expected a WHT extension of drizzle weights)")
            w = orient(w, int(t.dispersion_axis))
            if w.shape[-2:] != (self.ncross, self.ndisp) or w.shape[0] not in (1, self.nints):
                raise ExtractionError(f"target {t.name}: the WHT array has shape {np.shape(w)}; expected the SCI shape")
            self.wht = w
            log.info("extract_1d: %s: variance from the drizzle weights (var = scale / WHT, scale fitted)", t.name)
        elif not have_var:
            raise ExtractionError(f"target {t.name}: optimal extraction needs variances (VAR_POISSON, VAR_RNOISE or "
                                  "VAR_FLAT with positive values) or a WHT array; the input has neither")

    def _mean_image(self):
        """Mean over integrations of the good pixels, ``(1, ncross, ndisp)`` (NaN: no good
        pixel).  Only the rows of the extraction window and background regions are
        averaged (NaN elsewhere: no profile estimate looks there), all rows when the
        target has negative (nod) traces, whose region depends on this image."""
        n = self.nints
        used = self._widened(PROFILE_FIT_MARGIN) | (self.bkg > 0 if self.bkg is not None else False)
        rows = np.flatnonzero(used.any(axis=1))
        if self.target.negative_positions or rows.size == 0:
            rs = slice(0, self.ncross)
        else:
            rs = slice(int(rows[0]), int(rows[-1]) + 1)
        mean = np.full((1, self.ncross, self.ndisp), np.nan)
        if n == 1:
            d = np.asarray(self.data[:, rs], dtype=np.float64)
            bad = ~np.isfinite(d) if self.mask is None else ~np.isfinite(d) | self.mask[:, rs]
            mean[:, rs] = np.where(bad, np.nan, d)
            return mean
        nr = rs.stop - rs.start
        tot = np.zeros((1, nr, self.ndisp))
        cnt = np.zeros((1, nr, self.ndisp))
        step = max(1, OPTIMAL_CHUNK_PIXELS // max(nr * self.ndisp, 1))
        for i0 in range(0, n, step):
            sl = slice(i0, min(n, i0 + step))
            d = np.asarray(self.data[sl, rs])   # summed in float64 from its own dtype
            good = np.isfinite(d)
            if self.mask is not None:
                good &= ~(self.mask[sl, rs] if self.mask.shape[0] == n else self.mask[:, rs])
            if good.all():
                tot += np.add.reduce(d, axis=0, dtype=np.float64, keepdims=True)
                cnt += d.shape[0]
            else:
                tot += np.add.reduce(np.where(good, d, 0), axis=0, dtype=np.float64, keepdims=True)
                cnt += good.sum(axis=0, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, rs] = np.where(cnt > 0, tot / cnt, np.nan)
        return mean

    # -- the profile ----------------------------------------------------------------------
    def _negative_offsets(self, mean):
        """``(source position, [negative positions])`` of nod-subtracted data (or ``(nan, [])``)."""
        t = self.target
        negs = [float(x) for x in (t.negative_positions or ()) if x is not None and np.isfinite(x)]
        if not negs or str(self.p.get("negative_traces") or "model").lower() == "ignore":
            return np.nan, []
        if t.source_position is not None and np.isfinite(t.source_position):
            return float(t.source_position), negs
        return _profile_centre(np.clip(np.nan_to_num(mean), 0, None) * self.window), negs

    def _source_centres(self, src_pos):
        """Cross-dispersion centre of the source in every column, ``(ndisp,)``: the
        plugin's ``trace`` where it is defined (interpolated between, held beyond), else
        the constant ``src_pos``.  The negative trace of position ``x`` runs parallel, at
        ``centre + (x - src_pos)``."""
        t, ndisp = self.target, self.ndisp
        centre = np.full(ndisp, float(src_pos))
        if t.trace is not None and t.source_position is not None and np.isfinite(t.source_position):
            cols = np.arange(ndisp, dtype=np.float64)
            c = np.broadcast_to(np.asarray(t.trace(cols), dtype=np.float64), (ndisp,))
            good = np.isfinite(c)
            if good.any():
                centre = np.interp(cols, cols[good], c[good])
        return centre

    def _widened(self, margin):
        """The window widened by ``margin`` pixels on both sides, ``(ncross, ndisp)``."""
        out = self.window.copy()
        for k in range(1, min(int(margin), self.ncross - 1) + 1):
            out[k:] |= self.window[:-k]
            out[:-k] |= self.window[k:]
        return out

    def _nod_region(self, offsets):
        """The window widened on both sides by the largest nod offset (+ 1 pixel),
        ``(ncross, ndisp)``: it holds the negative traces' cores, which fix their
        amplitudes, and the source's wings beyond the window, whose shifted copies are
        the negative traces' light inside it."""
        return self._widened(int(np.ceil(max(abs(d) for d in offsets))) + 1)

    def _source_support(self, offsets, centre):
        """Pixels where the source profile is solved for, ``(ncross, ndisp)``: the window
        and the pixels whose shifted copies fall into it (a negative trace's light in the
        window is the source profile there), but not within 1 pixel of a negative
        trace's centre.  Nothing tells source from negative trace where both sit: were
        the source free there, any amplitude ratio would fit the data exactly (with a
        source re-shaped to match)."""
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        reach = np.zeros_like(self.window)
        for d in offsets:  # rows y whose pixel, moved by d, overlaps a window pixel
            for k in {int(np.floor(d)), int(np.ceil(d))}:
                if 0 < abs(k) < self.ncross:
                    if k > 0:
                        reach[:-k] |= self.window[k:]
                    else:
                        reach[-k:] |= self.window[:k]
        clear = np.all([np.abs(y - centre - d) >= 1.0 for d in offsets], axis=0)
        return self.window | (reach & clear)

    def build_profile(self):
        """Source profile over the whole column (``full``) and normalised over the window.

        With negative traces (offsets ``d_k`` from the source) the profile is estimated
        from the source alone, over the window widened by the offsets
        (:meth:`_nod_region`).  A first estimate ignores the pixels closer to a negative
        trace than to the source (both following the trace).  Then, in turn: the
        amplitude ratio of each negative trace to the source is fitted per column with
        the current profile and its shifted copies (:meth:`_negative_ratios`); the data
        are solved for the source given those ratios (:meth:`_source_alone`); the
        profile is estimated again from that source image -- until the profile changes
        by < 1e-6 (at most ``NEGATIVE_ITERATIONS`` times).
        """
        from ..extract.background import fit_background
        from ..extract import profiles

        p, t, ap = self.p, self.target, self.geom.aperture
        mean = self._mean_image()
        src_pos, negs = self._negative_offsets(mean)
        offsets = [x - src_pos for x in negs]
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        centre = self._source_centres(src_pos)[None, :] if negs else None
        near_neg = np.zeros((self.ncross, self.ndisp), dtype=bool)
        for d in offsets:
            near_neg |= np.abs(y - centre - d) < np.abs(y - centre)
        if self.bkg is not None:  # the profile is estimated from background-subtracted data
            valid = np.isfinite(mean)
            bw = self.bkg
            for d in offsets:
                bw = np.where(np.abs(y - centre - d) < max(3.0, 0.5 * abs(d)), 0.0, bw)
            fit = fit_background(np.where(valid, mean, 0.0), bw, None, valid=valid,
                                 method=ap.bkg_fit if ap.bkg_fit != "median" else "poly", order=ap.bkg_order,
                                 smoothing_length=ap.smoothing_length)
            mean = mean - np.where(np.isfinite(fit.model), fit.model, 0.0)
        region = self.window | (self.bkg > 0 if self.bkg is not None else False)
        estimated = self._nod_region(offsets) if negs else self.window
        kind = self.profile_type
        shape = (1, self.ncross, self.ndisp)
        used = np.flatnonzero(estimated.any(axis=1))
        rows = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, self.ncross)

        def estimate(img, exclude):
            if kind == "empirical":
                window = int(p.get("profile_window") or 11)
                if window < 1 or window % 2 == 0:
                    raise ParameterError(f"parameter profile_window={window} must be an odd integer >= 1")
                out = np.zeros(shape)  # only the rows of the estimated region are worked on
                out[:, rows] = profiles.empirical_profile(img[:, rows], mask=(~np.isfinite(img) | ~estimated | exclude)[:, rows],
                                                          window=window, norm_mask=self.window[rows])
                return out
            # the kernel is fitted over the window widened by PROFILE_FIT_MARGIN pixels: on the
            # window alone (a 5-px box around a sigma = 1 px trace) the constant background
            # of the fit absorbs the wings and the width comes out too narrow
            self.trace_fit = self._fit_trace(img, (region | estimated | self._widened(PROFILE_FIT_MARGIN)) & ~exclude,
                                             kind)
            return self.trace_fit.profile(shape)

        self.mean, self.src_pos, self.neg_ratios = mean, src_pos, None
        try:
            if kind == "psf":
                full = self._psf_profile(mean, region, shape)
            elif kind == "user":
                full = self._user_profile()
            elif not negs:
                full = estimate(mean, np.zeros(shape, dtype=bool))
            else:
                shifts = [shift_matrix(self.ncross, d) for d in offsets]
                support = self._source_support(offsets, centre)
                full = estimate(mean, near_neg[np.newaxis])
                for _ in range(NEGATIVE_ITERATIONS):  # stop on a stable profile
                    ratios = self._negative_ratios(mean, full, shifts, estimated)
                    new = estimate(self._source_alone(mean, ratios, shifts, support), np.zeros(shape, dtype=bool))
                    change = float(np.max(np.abs(new - full)))
                    full = new
                    if change < 1e-6:
                        break
                self._warn_overlap(full[0], centre, offsets)
        except ValueError as exc:
            raise ExtractionError(f"target {t.name}: {kind} profile: {exc}") from None
        self.full = full
        self.profile = profiles.normalize_profile(full * self.window)
        if not np.any(self.profile > 0):
            raise ExtractionError(f"target {t.name}: the {kind} profile is zero everywhere inside the extraction window")
        return self.profile

    def _warn_overlap(self, P, centre, offsets):
        """Warn when the profile is broad for the nod offset: the source then holds light
        at the negative traces' centres, which the estimate has to leave out."""
        y = np.arange(self.ncross, dtype=np.float64)[:, None]
        tot = P.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sigma = np.sqrt((P * (y - centre) ** 2).sum(axis=0) / tot)
        sigma = float(np.nanmedian(np.where(tot > 0, sigma, np.nan))) if np.any(tot > 0) else np.nan
        nearest = min(abs(d) for d in offsets)
        if np.isfinite(sigma) and nearest < 3.5 * sigma:
            log.warning("extract_1d: %s: the negative trace(s) overlap the source: nod offset %.1f px is only %.1f "
                        "profile sigma (%.2f px); the source's light under them is not separable and the optimal "
                        "flux may be biased low by a per cent or more", self.target.name, nearest, nearest / sigma, sigma)
        return sigma

    def _negative_ratios(self, mean, full, shifts, region):
        """Amplitude of each negative trace relative to the source, ``(nneg, ndisp)``.

        Per column, least squares of the data over ``region`` by the source profile
        and its shifted copies (one free amplitude each: the nods of a pattern need not
        deliver the same light), divided by the source amplitude; then a running median
        over ``profile_window`` columns (the ratios follow slit losses, smooth in
        wavelength).  Columns without a usable fit take the median ratio.
        """
        from ..extract.profiles import _nan_running

        P = full[0]
        use = np.isfinite(mean[0]) & region
        d = np.where(use, mean[0], 0.0)
        basis = np.stack([P] + [S @ P for S in shifts], axis=-1) * use[:, :, None]  # (ncross, ndisp, k)
        A = np.einsum("ydj,ydk->djk", basis, basis)
        rhs = np.einsum("ydj,yd->dj", basis, d)
        scale = np.sqrt(np.einsum("djj->dj", A))
        ok = np.all(scale > 0, axis=-1)
        sc = np.where(scale > 0, scale, 1.0)
        An = A / sc[:, :, None] / sc[:, None, :]
        An[~ok] = np.eye(An.shape[-1])
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            ok &= np.linalg.cond(An) < 1e8
            An[~ok] = np.eye(An.shape[-1])
            c = np.linalg.solve(An, (rhs / sc)[..., None])[..., 0] / sc
            ratios = (c[:, 1:] / c[:, :1]).T
        ratios[:, ~ok | ~(c[:, 0] > 0)] = np.nan
        window = int(self.p.get("profile_window") or 11)
        if window > 1:
            ratios = _nan_running(ratios[:, np.newaxis, :], window, "median", 2**23)[:, 0]
        for k, r in enumerate(ratios):
            fill = np.nanmedian(r) if np.isfinite(r).any() else -1.0 / len(shifts)
            ratios[k] = np.where(np.isfinite(r), r, fill)
        return ratios

    def _source_alone(self, mean, ratios, shifts, support):
        """The source image without its negative traces, ``(1, ncross, ndisp)`` (NaN
        outside ``support``).

        In each column the data ``D`` over the rows ``U`` of ``support`` with finite data
        are ``(I + sum_k r_k S_k) s`` for a source ``s`` confined to ``U``, ``S_k`` the
        shift to negative trace ``k`` and ``r_k`` its amplitude ratio: a square linear
        system, solved column by column.  Only the negative traces' light inside ``U``
        (their wings) enters; their cores, outside, fixed ``r_k`` and do not pull the
        source towards an imperfect model of them.
        """
        n, ncol = self.ncross, self.ndisp
        unk = np.isfinite(mean[0]) & support
        d = np.where(unk, mean[0], 0.0)
        out = np.full((1, n, ncol), np.nan)
        step = max(1, NEGATIVE_BLOCK_ELEMENTS // (n * n))
        eye = np.eye(n)
        idx = np.arange(n)
        for c0 in range(0, ncol, step):
            cs = slice(c0, min(ncol, c0 + step))
            A = np.broadcast_to(eye, (cs.stop - cs.start, n, n)).copy()
            for S, r in zip(shifts, ratios):
                A += r[cs, None, None] * S[None]
            u = unk[:, cs].T
            A *= u[:, :, None] & u[:, None, :]
            A[:, idx, idx] = np.where(u, A[:, idx, idx], 1.0)  # rows outside the support: s = 0
            try:
                sol = np.linalg.solve(A, d[:, cs].T[..., None])[..., 0]
            except np.linalg.LinAlgError:
                sol = np.stack([np.linalg.lstsq(a, v, rcond=None)[0] for a, v in zip(A, d[:, cs].T)])
            out[0, :, cs] = np.where(u, sol, np.nan).T
        return out

    def _fit_trace(self, mean, region, kernel):
        from ..extract.profiles import fit_trace

        p = self.p
        return fit_trace(mean, mask=~np.isfinite(mean) | ~region, nbins=int(p.get("trace_nbins") or 20), kernel=kernel,
                         trace_order=int(p.get("trace_order") if p.get("trace_order") is not None else 2),
                         width_order=int(p.get("width_order") or 0), bkg_order=0)

    def _psf_profile(self, mean, region, shape):
        from ..extract.profiles import psf_model_profile

        t = self.target
        psf = None
        if self.p.get("psf_file"):
            psf = read_specpsf(self.p["psf_file"])
        elif self.refs is not None and "specpsf" in self.refs:
            loaded = self.refs.load("specpsf")
            psf = loaded if isinstance(loaded, SpecPsf) else read_specpsf(self.refs.path("specpsf"))
        if psf is None:
            raise ExtractionError(f"target {t.name}: profile_type 'psf' needs a SPECPSF file: give psf_file "
                                  "(the mode declares no specpsf reference type)")
        cols = np.arange(self.ndisp, dtype=np.float64)
        centre = None
        if t.trace is not None:
            c = np.broadcast_to(np.asarray(t.trace(cols), dtype=np.float64), (self.ndisp,))
            if np.isfinite(c).any():
                good = np.isfinite(c)
                centre = np.interp(cols, cols[good], c[good])
                self.centre_source = "trace"
        if centre is None and t.source_position is not None and np.isfinite(t.source_position):
            centre = np.full(self.ndisp, float(t.source_position))
            self.centre_source = "source position"
        if centre is None:
            centre = self._fit_trace(mean, region, "gaussian").center()
            self.centre_source = "Gaussian trace fit"
        wl = self.geom.wavelength_cols if self.geom.wavelength_cols is not None else self.geom.wavelength
        if wl is None or not np.isfinite(wl).any():
            raise ExtractionError(f"target {t.name}: profile_type 'psf' needs wavelengths (the target has none)")
        self.psf_name = psf.name
        log.info("extract_1d: %s: PSF profile from %s centred on the %s", t.name, psf.name, self.centre_source)
        return psf_model_profile(psf.psf, psf.subpix, psf.wave, psf.center, centre, wl, shape)

    def _user_profile(self):
        from ..extract.profiles import user_profile

        t, path = self.target, self.p.get("profile_file")
        if not path:
            raise ExtractionError(f"target {t.name}: profile_type 'user' needs profile_file (a FITS image of the profile)")
        img, ext = _read_profile_image(path, self.index, self.ntargets)
        axis = int(t.dispersion_axis)
        ny, nx = (self.ncross, self.ndisp) if axis == 1 else (self.ndisp, self.ncross)
        if img.ndim not in (2, 3) or img.shape[-2:] != (ny, nx) or (img.ndim == 3 and img.shape[0] not in (1, self.nints)):
            raise InputFileError(path, f"the {ext} profile image has shape {img.shape}; expected ({ny}, {nx}) or "
                                       f"({self.nints}, {ny}, {nx}) to match the data of {t.name} (detector orientation)")
        try:
            return user_profile(orient(img, axis), (self.nints, self.ncross, self.ndisp))
        except ValueError as exc:
            raise InputFileError(path, f"the {ext} profile image is not a usable profile: {exc}") from None

    # -- negative traces ------------------------------------------------------------------
    def negative_profile(self):
        """Profile of the negative (nod) traces, or None; also masks them from the
        separately fitted background.

        The source profile shifted to each negative position, weighted by the negative
        trace's amplitude ratio (:meth:`_negative_ratios`), summed: one profile whose
        amplitude the extraction fits, so negative traces of unequal depth are modelled
        by their own shapes."""
        from ..extract.profiles import normalize_profile

        t = self.target
        negs = [float(x) for x in (t.negative_positions or ()) if x is not None and np.isfinite(x)]
        mode = str(self.p.get("negative_traces") or "model").lower()
        self.neg_mask = None
        if not negs:
            return None
        src_pos = self.src_pos if np.isfinite(getattr(self, "src_pos", np.nan)) else _profile_centre(self.full)
        if not np.isfinite(src_pos):
            log.warning("extract_1d: %s: source position unknown; negative traces not handled", t.name)
            return None
        offsets = [x - src_pos for x in negs if abs(x - src_pos) >= 1.0]
        if len(offsets) < len(negs):
            log.warning("extract_1d: %s: a negative trace lies within 1 pixel of the source; it is not modelled", t.name)
        if not offsets:
            return None
        shifts = [shift_matrix(self.ncross, d) for d in offsets]
        region = self._nod_region(offsets)
        ratios = self._negative_ratios(self.mean, self.full, shifts, region)
        self.neg_ratios = ratios
        weights = np.clip(-ratios, 0.0, None)
        weights = np.where(weights.sum(axis=0) > 0, weights, 1.0)
        each = [shift_profile(self.full, d) for d in offsets]  # each a copy of the unit-sum source
        negp = normalize_profile(sum(w[None, None, :] * e for w, e in zip(weights, each)))
        self.neg_mask = np.any([e > 0.01 for e in each], axis=0)  # > 1 % of one trace's light
        if mode == "ignore":
            return None
        if mode == "mask":
            log.info("extract_1d: %s: %d negative trace(s) masked", t.name, len(offsets))
            return None
        region = self.window | (self.bkg > 0 if self.joint else False)
        if np.sum(negp * region) < 1e-3 * negp.shape[-1]:
            log.info("extract_1d: %s: the negative trace(s) lie outside the fitted pixels", t.name)
            return None
        log.info("extract_1d: %s: %d negative trace(s) modelled with the source profile shifted by %s pixel(s), "
                 "median amplitude ratio(s) %s", t.name, len(offsets), ", ".join(f"{d:+.2f}" for d in offsets),
                 ", ".join(f"{np.median(r):+.3f}" for r in ratios))
        return negp

    # -- extraction -----------------------------------------------------------------------
    def run(self, progress, want_scene):
        from ..extract.background import fit_background
        from ..extract.optimal import extract_optimal

        p, t, ap = self.p, self.target, self.geom.aperture
        self.build_profile()
        negp = self.negative_profile()
        mode = str(p.get("negative_traces") or "model").lower()
        n, ncross, ndisp = self.nints, self.ncross, self.ndisp
        region = self.window | (self.bkg > 0 if self.joint else False)
        bkgw = self.bkg
        if bkgw is not None and self.neg_mask is not None:  # keep nod traces out of the background fit
            bkgw = np.where(self.neg_mask[0], 0.0, bkgw)
        excluded = ~region[np.newaxis]
        if mode == "mask" and self.neg_mask is not None:
            excluded = excluded | self.neg_mask
        # only the rows holding fitted pixels (or the background regions) are processed
        keep = region | (bkgw > 0 if bkgw is not None else False)
        rows = np.flatnonzero(keep.any(axis=1))
        cs = slice(int(rows[0]), int(rows[-1]) + 1)
        window = self.window[cs]
        excluded = np.ascontiguousarray(excluded[:, cs])
        bkgw = None if bkgw is None else bkgw[cs]
        from ..extract.profiles import normalize_profile

        negp = None if negp is None else normalize_profile(negp[:, cs])
        reject = p.get("reject_sigma")
        out = {k: np.full((n, ndisp), np.nan) for k in ("flux", "var_poisson", "var_rnoise", "var_flat",
                                                        "background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")}
        outlier = np.zeros((n, ndisp), dtype=bool)
        scene = np.full((n, ncross, ndisp), np.nan, dtype=np.float32) if want_scene else None
        nrej = 0
        step = int(p.get("chunk_size") or 0) or max(1, OPTIMAL_CHUNK_PIXELS // max((cs.stop - cs.start) * ndisp, 1))
        prof = self.profile
        fit_here = self.bkg is not None and not self.joint
        def chunk(sl):   # one chunk of integrations; writes rows sl of the outputs

            def take(a):
                if a is None:
                    return None
                return a[sl, cs] if a.shape[0] == n else a[:, cs]

            # float32 data stay float32 unless a background is fitted here (extract_optimal
            # accumulates its sums in float64 either way)
            # (native byte order: a big-endian FITS mapping is swapped here, once per chunk)
            ft = np.float64 if fit_here or self.data.dtype.kind != "f" else self.data.dtype.newbyteorder("=")
            d = np.asarray(self.data[sl, cs], dtype=ft)
            vs = [None if v is None else np.asarray(take(v), dtype=ft) for v in self.variances]
            bad = take(self.mask)   # non-finite pixels are excluded by the extraction itself
            bfit = None
            if fit_here:
                bad = ~np.isfinite(d) if bad is None else bad | ~np.isfinite(d)
                bfit = fit_background(d, bkgw, window.astype(np.float64), *vs, valid=~bad, method=ap.bkg_fit,
                                      order=ap.bkg_order, sigma_clip=p.get("bkg_sigma_clip", 3.0),
                                      smoothing_length=ap.smoothing_length)
                d = d - np.where(np.isfinite(bfit.model), bfit.model, 0.0)
            kw = dict(var_poisson=vs[0], var_rnoise=vs[1], var_flat=vs[2]) if self.wht is None else dict(
                wht=np.asarray(take(self.wht), dtype=np.float64))
            try:
                res = extract_optimal(
                    d, take(prof), mask=excluded if bad is None else bad | excluded, bkg_order=ap.bkg_order if self.joint else None,
                    reject_sigma=reject, max_iter=int(p.get("max_iter") if p.get("max_iter") is not None else 5),
                    revise_variance=bool(p.get("revise_variance", True)), negative_profile=None if negp is None else negp,
                    return_model=scene is not None or self.joint, **kw)
            except ValueError as exc:
                raise ExtractionError(f"target {t.name}: optimal extraction failed: {exc}") from None
            out["flux"][sl] = res.flux
            fv = [res.flux_var_poisson, res.flux_var_rnoise, res.flux_var_flat]
            # h0 = sum(P/V) / sum(P^2/V): background per pixel -> flux units (constant background)
            h0 = res.unit_background_flux
            with np.errstate(invalid="ignore", divide="ignore"):
                to_flux = h0 / self.nwin
            if bfit is not None:
                out["background"][sl] = bfit.sum
                bv = [bfit.var_poisson, bfit.var_rnoise, bfit.var_flat]
                for k, name in enumerate(("bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")):
                    out[name][sl] = bv[k]
                    fv[k] = fv[k] + bv[k] * to_flux**2
                model = None if res.model is None else res.model + np.where(np.isfinite(bfit.model), bfit.model, 0.0)
            elif self.joint:
                neg = 0.0 if negp is None else res.negative_flux[:, None, :] * negp
                P = np.broadcast_to(res.profile, res.model.shape)
                bpix = res.model - res.flux[:, None, :] * P - neg
                out["background"][sl] = np.sum(np.where(window, bpix, 0.0), axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out["bkg_var_rnoise"][sl] = res.background_var / to_flux**2
                out["bkg_var_poisson"][sl] = 0.0
                out["bkg_var_flat"][sl] = 0.0
                model = res.model
            else:
                for name in ("background", "bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat"):
                    out[name][sl] = 0.0
                model = res.model
            out["var_poisson"][sl], out["var_rnoise"][sl], out["var_flat"][sl] = fv
            outlier[sl] = res.rejected.any(axis=1)
            if scene is not None:
                scene[sl, cs] = np.where(excluded, np.nan, model)
            return int(res.rejected.sum())

        chunks = [slice(i0, min(n, i0 + step)) for i0 in range(0, n, step)]
        for sl, nrej_chunk in map_chunks(chunk, chunks, threads=p.get("threads")):
            nrej += nrej_chunk
            if progress is not None:
                progress(sl.stop, n)
        npix = np.broadcast_to(self.nwin, (n, ndisp)).copy()
        info = {"profile_type": self.profile_type, "rejected_pixels": nrej, "joint_background": self.joint,
                "negative_traces": 0 if negp is None else len(self.target.negative_positions)}
        if hasattr(self, "trace_fit"):
            info["trace_fit"] = self.trace_fit
        if nrej:
            log.info("extract_1d: %s: %d pixel(s) rejected as outliers in %d column(s) (x1d DQ OUTLIER)",
                     t.name, nrej, int(outlier.sum()))
        return _OptimalResult(out["flux"], out["var_poisson"], out["var_rnoise"], out["var_flat"], npix,
                              out["background"], out["bkg_var_poisson"], out["bkg_var_rnoise"], out["bkg_var_flat"],
                              outlier, scene, info)

# ------------------------------------------------------------------------------------------
# integration times
# ------------------------------------------------------------------------------------------
_TIME_COLUMNS = {
    "MJD-BEG": "int_start_MJD_UTC", "MJD-AVG": "int_mid_MJD_UTC", "MJD-END": "int_end_MJD_UTC",
    "TDB-BEG": "int_start_BJD_TDB", "TDB-MID": "int_mid_BJD_TDB", "TDB-END": "int_end_BJD_TDB",
}


def integration_times(model, nints):
    """INT_NUM and the six time columns for ``nints`` integrations of ``model``.

    From the INT_TIMES table when it lists the integrations; else MJD from the exposure
    start/end times split evenly (TDB NaN); else NaN.  Returns ``(dict, source)``.
    """
    meta = getattr(model, "meta", None)
    exposure = getattr(meta, "exposure", None)
    start = getattr(exposure, "integration_start", None) or 1
    int_num = np.arange(int(start), int(start) + nints)
    out = {"INT_NUM": int_num}
    table = getattr(model, "int_times", None)
    if table is not None and len(table) > 0:
        names = {n.lower(): n for n in (table.dtype.names or ())}
        if "integration_number" in names:
            numbers = np.asarray(table[names["integration_number"]]).astype(int)
            index = {n: i for i, n in enumerate(numbers)}
            rows = np.array([index.get(n, -1) for n in int_num])
            if np.all(rows >= 0):
                for col, src in _TIME_COLUMNS.items():
                    out[col] = np.asarray(table[names[src.lower()]], dtype=np.float64)[rows] if src.lower() in names else np.full(nints, np.nan)
                return out, "INT_TIMES"
    t0 = getattr(exposure, "start_time", None)
    t1 = getattr(exposure, "end_time", None)
    total = getattr(exposure, "nints", None) or nints
    for col in _TIME_COLUMNS:
        out[col] = np.full(nints, np.nan)
    if t0 is not None and t1 is not None and np.isfinite(t0) and np.isfinite(t1) and t1 > t0:
        dt = (float(t1) - float(t0)) / int(total)
        k = int_num - 1
        out["MJD-BEG"] = float(t0) + k * dt
        out["MJD-END"] = float(t0) + (k + 1) * dt
        out["MJD-AVG"] = 0.5 * (out["MJD-BEG"] + out["MJD-END"])
        return out, "exposure start/end"
    return out, None




# ------------------------------------------------------------------------------------------
# apertures of a calibrated product (plots)
# ------------------------------------------------------------------------------------------
def aperture_weights_for(model, host=None, per_target=False, **params):
    """Extraction aperture weights of a calibrated 2-D/3-D product, in DETECTOR orientation.

    The mode's plugin is asked for its extraction targets and the EXTRACT1D reference is
    resolved through the usual machinery (the mode's ``extract_1d`` reference types, no
    overrides), exactly as :class:`Extract1dStep` does; ``params`` are extract_1d
    parameters (e.g. ``extract_width``) on top of the mode's defaults.

    :return: a list of ``(src_weights, bkg_weights or None)``, each ``(ny, nx)`` of the
        slit / image it belongs to: one entry per slit of a multi-slit product (or one for
        an image), the targets sharing it (e.g. spectral orders) combined by maximum; with
        ``per_target=True`` one entry per target instead.
    """
    from ..plugins import get_host
    from ..refs import RefSet

    host = host if host is not None else get_host()
    mode = host.modes.for_model(model, getattr(model, "path", None))
    step = Extract1dStep(host=host, **params)
    p = step.parameters(mode)
    reftypes = mode.reftypes_for(Extract1dStep.name)
    refs = RefSet.resolve(host.reftypes, model, mode, reftypes, {})
    reference = _as_reference(refs.load("extract1d"), refs.path("extract1d")) if "extract1d" in refs else None
    targets = host.call_for_mode("webbcal_extract_targets", mode, model=model, refs=refs, params=p)
    if not targets:
        raise ExtractionError(f"{mode.plugin} found nothing to extract in this exposure")
    apply_mode_defaults(targets, mode)
    per = []
    for t in targets:
        geom = build_aperture(t, reference, p)
        axis = int(t.dispersion_axis)
        per.append((t, deorient(geom.src, axis), None if geom.bkg is None else deorient(geom.bkg, axis)))
    if per_target:
        return [(s, b) for _, s, b in per]
    from ..datamodels import slits_of

    holders = slits_of(model)
    out = []
    for h in holders:
        mine = [(s, b) for t, s, b in per if t.model is h or (len(holders) == 1)]
        if not mine:
            # plugins may hand out copies of the slits: match by name
            mine = [(s, b) for t, s, b in per if str(getattr(t.model, "name", "")) == str(getattr(h, "name", None))]
        if not mine:
            out.append(None)
            continue
        src = np.maximum.reduce([s for s, _ in mine])
        bk = [b for _, b in mine if b is not None]
        out.append((src, np.maximum.reduce(bk) if bk else None))
    return out


# ------------------------------------------------------------------------------------------
# the step
# ------------------------------------------------------------------------------------------
class Extract1dStep(Step):
    """Extract 1-D spectra (box or optimal) using the EXTRACT1D apertures."""

    name = "extract_1d"
    aliases = ("Extract1dStep",)
    suffix = "x1d"
    # extraction only reads its input, in chunks of integrations: files are opened
    # memory-mapped so a cube larger than memory still extracts
    modifies_input = False
    open_memmap = True
    spec = {
        "optimize_width": Param(list, None, "time series: try these extract_width values (pixels) and keep the "
                                "one giving the lowest white-light point-to-point scatter", low=0, low_open=True),
        "extraction_type": Param(str, "box", "box or optimal", choices=("box", "optimal")),
        "use_source_posn": Param(bool, None, "centre the aperture on the source (None: automatic for point sources)"),
        "apply_apcorr": Param(bool, True, "apply the aperture correction to point sources"),
        "smoothing_length": Param(int, None, "boxcar length (odd) along dispersion for the background", low=0),
        "bkg_fit": Param(str, None, "background fit: poly, mean or median (default: reference file, else poly)", choices=("poly", "mean", "median", None)),
        "bkg_order": Param(int, None, "order of the background polynomial", low=0),
        "bkg_sigma_clip": Param(float, 3.0, "sigma clipping threshold of the median background", low=0, low_open=True),
        "subtract_background": Param(bool, None, "subtract the background when background regions are defined"),
        "log_increment": Param(int, 50, "log progress every N integrations (0: never)", low=0),
        "save_profile": Param(bool, False, "save the spatial profile (optimal) or aperture weights (box), suffix profile"),
        "save_scene_model": Param(bool, False, "save the model of the data, suffix scene_model"),
        "save_residual_image": Param(bool, False, "save data minus the scene model, suffix residual"),
        "profile_type": Param(str, "empirical", "optimal: spatial profile empirical, gaussian, moffat, psf or user",
                              choices=PROFILE_TYPES),
        "profile_window": Param(int, 11, "optimal, empirical profile: running-median length (odd) along dispersion", low=1),
        "trace_order": Param(int, 2, "optimal, gaussian/moffat/psf: polynomial order of the trace centre", low=0),
        "trace_nbins": Param(int, 20, "optimal, gaussian/moffat: number of dispersion bins fitted", low=1),
        "width_order": Param(int, 0, "optimal, gaussian/moffat: polynomial order of the kernel width", low=0),
        "psf_file": Param(str, None, "optimal, psf: SPECPSF-like FITS file (SCI, WAVE, SUBPIX, CENTCOL)"),
        "profile_file": Param(str, None, "optimal, user: FITS image of the profile (detector orientation)"),
        "reject_sigma": Param(float, 5.0, "optimal: outlier rejection threshold in sigma (None: no rejection)", low=0, low_open=True),
        "max_iter": Param(int, 5, "optimal: maximum rejection / variance-revision rounds", low=0),
        "revise_variance": Param(bool, True, "optimal: re-estimate the Poisson variance from the model"),
        "variance_from_wht": Param(bool, None, "optimal: variance = scale / WHT (None: when there are no variances)"),
        "fit_background_jointly": Param(bool, True, "optimal: fit the background polynomial with the source amplitude"),
        "negative_traces": Param(str, "model", "optimal: nod-subtracted negative traces: model, mask or ignore",
                                 choices=("model", "mask", "ignore")),
        "xstart": Param(float, None, "aperture: first pixel in x (0-based, inclusive)"),
        "xstop": Param(float, None, "aperture: last pixel in x (0-based, inclusive)"),
        "ystart": Param(float, None, "aperture: first pixel in y (0-based, inclusive)"),
        "ystop": Param(float, None, "aperture: last pixel in y (0-based, inclusive)"),
        "extract_width": Param(float, None, "aperture: cross-dispersion width in pixels", low=0, low_open=True),
        "src_coeff": Param(list, None, "aperture: source edge polynomials [[lower...], [upper...]]"),
        "bkg_coeff": Param(list, None, "aperture: background edge polynomials (pairs)"),
        "independent_var": Param(str, None, "variable of src_coeff/bkg_coeff: pixel or wavelength", choices=("pixel", "wavelength", None)),
        "keep_empty": Param(bool, False, "write the product even when no spectrum has a finite flux "
                                         "(otherwise that is an error)"),
        "chunk_size": Param(int, None, "integrations per chunk (default: sized to the memory budget)", low=1),
        "threads": Param(int, None, "threads: optimal extraction computes chunks of integrations on them, "
                                    "box extraction reads a chunk's arrays on them (default: the available "
                                    "cores, at most 8; 1 = no threads); results do not depend on it", low=1),
    }

    def process(self, model, mode, refs, params):
        from .. import datamodels as dm

        self._check_parameters(params)
        targets = self.call_hook("webbcal_extract_targets", model=model, mode=mode, refs=refs, params=params)
        if not targets:
            raise ExtractionError("the plugin found nothing to extract in this exposure")
        apply_mode_defaults(targets, mode)
        reference = None
        if "extract1d" in refs:
            reference = _as_reference(refs.load("extract1d"), refs.path("extract1d"))
        per_int = is_per_integration(model)
        out = dm.TSOMultiSpecModel() if per_int else dm.MultiSpecModel()
        _copy_metadata(out, model)
        want = {k for k in PRODUCT_SUFFIXES if params.get(k)}
        want_scene = bool(want & {"save_scene_model", "save_residual_image"})
        spectra = []
        for i, target in enumerate(targets):
            tparams = self._optimized_width(target, reference, params, per_int)
            spec = extract_target(target, reference, tparams, refs=refs, scene=want_scene, index=i,
                                  ntargets=len(targets), parent=model, x1dints=per_int)
            self._aperture_correction(spec, model, mode, refs, params)
            self._append(dm, out, spec, per_int)
            spectra.append(spec)
            info = spec.extras
            opt = ""
            if spec.extraction_type == "optimal":
                opt = (f", {info.get('profile_type')} profile, {info.get('rejected_pixels', 0)} pixel(s) rejected"
                       f"{', background fitted jointly' if info.get('joint_background') else ''}")
            log.info(
                "extract_1d: %s order %s: %s extraction%s, x %.2f-%.2f, y %.2f-%.2f (inclusive), %d column(s)%s",
                target.name, target.spectral_order, spec.extraction_type, opt,
                spec.limits["xstart"], spec.limits["xstop"], spec.limits["ystart"], spec.limits["ystop"],
                spec.columns["FLUX"].shape[-1], f", {spec.extras['nints']} integrations" if per_int else "",
            )
        if not params.get("keep_empty") and not any(np.isfinite(spec.columns["FLUX"]).any() for spec in spectra):
            raise ExtractionError(
                f"{getattr(self, 'input_path', None) or 'input'}: no finite flux in any spectrum (every pixel of "
                "the apertures is DO_NOT_USE, NaN or has an invalid variance); nothing written -- "
                "set keep_empty=true to write the empty spectra anyway")
        self.products = _side_products(dm, model, spectra, want)
        self._pending_products = dict(self.products)
        if self.products and not params.get("save_results") and not self.in_pipeline:
            self._save_side_products(getattr(self, "input_path", None), params)
        return out

    def _optimized_width(self, target, reference, params, per_int):
        """With ``optimize_width``: the widths tried, their white-light scatter (logged and
        kept in ``self.width_optimization``) and the parameters with the best width."""
        widths = params.get("optimize_width")
        if not widths:
            return params
        if not per_int:
            raise ParameterError("optimize_width needs a time series (per-integration input)")
        from ..extract.width import optimize_target_width

        result = optimize_target_width(target, widths, reference, params)
        self.width_optimization = getattr(self, "width_optimization", {})
        self.width_optimization[target.name] = result
        log.info("extract_1d: %s: aperture width optimisation\n%s", target.name, result)
        return dict(params, extract_width=float(result.best_width))

    def _check_parameters(self, params):
        w = params.get("profile_window")
        if w is not None and (int(w) < 1 or int(w) % 2 == 0):
            raise ParameterError(f"parameter profile_window={w} must be an odd integer >= 1")
        for key in ("trace_order", "width_order", "max_iter"):
            if params.get(key) is not None and int(params[key]) < 0:
                raise ParameterError(f"parameter {key}={params[key]} must be >= 0")
        if params.get("trace_nbins") is not None and int(params["trace_nbins"]) < 1:
            raise ParameterError(f"parameter trace_nbins={params['trace_nbins']} must be >= 1")
        if params.get("reject_sigma") is not None and not float(params["reject_sigma"]) > 0:
            raise ParameterError(f"parameter reject_sigma={params['reject_sigma']} must be > 0 (None disables rejection)")
        ptype = params.get("profile_type")
        if params.get("extraction_type") == "optimal":
            for key, needed in (("psf_file", "psf"), ("profile_file", "user")):
                path = params.get(key)
                if path and not Path(path).is_file():
                    raise InputFileError(path, f"{key} does not exist")
            if ptype == "user" and not params.get("profile_file"):
                raise ParameterError("profile_type 'user' needs profile_file (a FITS image of the profile)")

    # -- side products ------------------------------------------------------------------
    def save(self, model, input_path, params):
        path = super().save(model, input_path, params)
        self._save_side_products(input_path, params)
        return path

    def _save_side_products(self, input_path, params):
        pending = getattr(self, "_pending_products", None) or {}
        for suffix in list(pending):
            product = pending.pop(suffix)
            pars = dict(params)
            pars["suffix"] = suffix
            path = Step.output_path(self, product, input_path, pars)
            if input_path is not None and Path(path).resolve() == Path(input_path).resolve():
                raise WebbcalError(f"{path}: refusing to overwrite the input file; choose another --output-dir or --output_file")
            path.parent.mkdir(parents=True, exist_ok=True)
            product.save(path, overwrite=True)
            log.info("%s: saved %s", self.name, path)
            self.saved = getattr(self, "saved", []) + [path]

    def _aperture_correction(self, spec, model, mode, refs, params):
        target = spec.target
        if not params.get("apply_apcorr") or (target.source_type or "").upper() != "POINT":
            return
        apcorr = self._host().call_for_mode("webbcal_aperture_correction", mode, model=model, refs=refs,
                                            target=target, params=params)
        if apcorr is None:
            log.info("extract_1d: no aperture correction for %s", target.name)
            return
        wavelength = spec.columns["WAVELENGTH"][0]
        apcorr.apply(spec.columns, wavelength, spec.aperture_width)
        spec.extras["apcorr"] = getattr(apcorr, "name", type(apcorr).__name__)
        log.info("extract_1d: %s: aperture correction applied (%s)", target.name, spec.extras["apcorr"])

    def _append(self, dm, out, spec, per_int):
        cols = spec.columns
        nints, ndisp = cols["FLUX"].shape
        if per_int:
            table = spec.extras.get("x1dints_table")
            if table is None or table.shape != (nints,):
                table = dm.new_tso_spec_table(nints, ndisp, fill=False)
            times, source = integration_times(spec.target.model, nints)
            if source is None:
                log.warning("extract_1d: no INT_TIMES and no exposure start/end: integration times left NaN")
            elif source != "INT_TIMES":
                log.info("extract_1d: integration times from the %s (no matching INT_TIMES rows)", source)
            names = {n.upper(): n for n in table.dtype.names}
            written = set()
            for key, values in list(cols.items()) + list(times.items()):
                if key in names:
                    if not np.may_share_memory(values, table):   # else: extraction wrote it there
                        table[names[key]][...] = values.reshape(table[names[key]].shape)
                    written.add(names[key])
            table["INT_NUM"] = times["INT_NUM"] if "INT_NUM" in times else np.arange(1, nints + 1)
            if "N_ALONGDISP" in names:
                table[names["N_ALONGDISP"]][...] = ndisp
            written |= {"INT_NUM", names.get("N_ALONGDISP", "")}
            from ..datamodels.tables import fill_defaults

            fill_defaults(table, skip=written)  # NaN / 0 in the columns nothing wrote
        else:
            table = dm.new_spec_table(ndisp)
            names = {n.upper(): n for n in table.dtype.names}
            for key, values in cols.items():
                if key in names:
                    table[names[key]][...] = values[0]
        spec_model = _new_spec(dm, out, table)
        spec_model.units = _table_units(spec.units)
        target = spec.target
        info = {
            "name": target.name, "spectral_order": target.spectral_order, "source_type": target.source_type,
            "dispersion_direction": target.dispersion_axis,
            "extraction_xstart": spec.limits["xstart"], "extraction_xstop": spec.limits["xstop"],
            "extraction_ystart": spec.limits["ystart"], "extraction_ystop": spec.limits["ystop"],
            "extract1d_type": spec.extraction_type,
        }
        info.update(target.extra or {})
        for k, v in info.items():
            _set(spec_model, k, v)
        return spec_model


def _side_products(dm, model, spectra, want):
    """The profile / scene model / residual products asked for, keyed by suffix.

    Detector orientation.  One target whose arrays are the input's own: an ImageModel
    (2-D) or CubeModel (3-D); otherwise a MultiSlitModel with one slit per target.
    """
    if not want:
        return {}
    single = len(spectra) == 1 and not getattr(model, "slits", None)
    products = {}
    for key in ("save_profile", "save_scene_model", "save_residual_image"):
        if key not in want:
            continue
        planes = []
        for spec in spectra:
            t = spec.target
            axis = int(t.dispersion_axis)
            ndim = np.ndim(t.model.data)
            if key == "save_profile":
                arr = deorient(np.asarray(spec.profile, dtype=np.float32), axis)
                arr = arr[0] if arr.shape[0] == 1 else arr
                unit = None
            else:
                scene = deorient(spec.scene, axis)
                if key == "save_scene_model":
                    arr = scene
                else:  # residual from the stored (float32) arrays: data - scene exactly
                    data = np.asarray(t.model.data, dtype=np.float32)
                    arr = data.reshape(scene.shape) - scene
                arr = arr[0] if ndim == 2 else arr
                unit = getattr(getattr(t.model, "meta", None), "bunit_data", None)
            planes.append((t, np.asarray(arr, dtype=np.float32), unit))
        if single:
            t, arr, unit = planes[0]
            prod = dm.ImageModel(arr) if arr.ndim == 2 else dm.CubeModel(arr)
            prod.update(model)
            _set_unit(prod, unit)
        else:
            prod = dm.MultiSlitModel()
            prod.update(model)
            for t, arr, unit in planes:
                slit = dm.SlitModel(arr)
                prod._attach(slit) if hasattr(prod, "_attach") else None
                slit.name = str(t.name)
                slit.spectral_order = int(t.spectral_order)
                slit.dispersion_direction = int(t.dispersion_axis)
                for attr in ("xstart", "ystart", "xsize", "ysize", "source_id", "source_type"):
                    v = getattr(t.model, attr, None)
                    if v is not None:
                        setattr(slit, attr, v)
                _set_unit(slit, unit)
                prod.slits.append(slit)
        products[PRODUCT_SUFFIXES[key]] = prod
    return products


def _set_unit(model, unit):
    if unit:
        model.meta.bunit_data = unit


def _set(obj, key, value):
    if value is None:
        return
    try:
        setattr(obj, key.lower(), value)
    except Exception:  # pragma: no cover - model rejects the attribute
        meta = getattr(obj, "meta", None)
        if meta is not None:
            try:
                setattr(meta, key.lower(), value)
            except Exception:
                log.debug("extract_1d: could not record %s on the spectrum", key)


def _table_units(units):
    """Units of every x1d column from those of FLUX / SURF_BRIGHT / BACKGROUND (data left
    in e.g. DN/s are labelled DN/s, not Jy)."""
    out = dict(units or {})
    square = lambda u: f"({u})^2" if "/" in u else (f"{u}^2" if u else "")  # noqa: E731
    for base, err, var in (("FLUX", "FLUX_ERROR", "FLUX_VAR_"), ("SURF_BRIGHT", "SB_ERROR", "SB_VAR_"),
                           ("BACKGROUND", "BKGD_ERROR", "BKGD_VAR_")):
        if base in out:
            out[err] = out[base]
            for part in ("POISSON", "RNOISE", "FLAT"):
                out[var + part] = square(out[base])
    return out


def _new_spec(dm, out, table):
    """Append a spectrum holding ``table`` to ``out`` (whatever the datamodels API offers)."""
    if hasattr(out, "new_spec"):
        return out.new_spec(table)
    spec_cls = getattr(dm, "SpecModel", None)
    spec = spec_cls(spec_table=table) if spec_cls is not None else type("Spec", (), {})()
    if spec_cls is None:
        spec.spec_table = table
    out.spec.append(spec)
    return spec


def _copy_metadata(out, model):
    """Copy the exposure metadata (instrument, exposure, target...) into the product."""
    if hasattr(out, "update") and callable(out.update):
        try:
            out.update(model)
            return
        except Exception as exc:  # pragma: no cover
            log.debug("extract_1d: model.update failed (%s); copying meta attributes", exc)
    src, dst = getattr(model, "meta", None), getattr(out, "meta", None)
    if src is None or dst is None:
        return
    for name in ("instrument", "exposure", "target", "observation", "program", "subarray", "photometry",
                 "bunit_data", "filename", "cal_step", "ref_file", "time", "visit", "pointing"):
        if hasattr(src, name):
            try:
                import copy

                setattr(dst, name, copy.deepcopy(getattr(src, name)))
            except Exception:
                pass
