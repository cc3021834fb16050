"""What NIRISS SOSS extracts: one :class:`webbcal.extract.ExtractionTarget` per order.

Each order's trace is placed for the exposure's PWCPOS and refined on the data
(:mod:`.soss`); the box aperture of ``SOSS_WIDTH`` pixels follows it; the wavelength of a
column is that of the trace (or the WAVEMAP's, when given at the nominal wheel position);
the order's PHOTOM conversion (MJy per DN/s against wavelength) is applied to the
extracted sums, as the official pipeline applies SOSS photom to the spectra, so FLUX is
in Jy. Where orders 1 and 2 come within the aperture of each other (the red end of
order 2) a box sum holds light of both: it is contaminated there.
"""
from __future__ import annotations

import logging

import numpy as np

from webbcal.plugin_api import ExtractionError, ExtractionTarget

from . import soss

log = logging.getLogger("webbcal.niriss")

#: box width (pixels) of the official pipeline's SOSS box extraction (``soss_width``)
SOSS_WIDTH = 40.0
#: integrations averaged (evenly spaced) into the image the traces are refined on
REFINE_INTEGRATIONS = 50


def _mean_image(model):
    """Mean over (up to ``REFINE_INTEGRATIONS`` evenly spaced) integrations: the image the
    traces are refined on (a cosmic ray is diluted by the number of integrations, and the
    refinement's robust line fit drops the columns it still disturbs). Pixels NaN in some
    integrations take the mean of the others."""
    if np.ndim(model.data) == 2:
        return np.asarray(model.data, dtype=np.float64)
    n = model.data.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, REFINE_INTEGRATIONS)).round().astype(int))
    stack = np.asarray(model.data[idx], dtype=np.float32)
    mean = stack.mean(axis=0, dtype=np.float64)
    bad = ~np.isfinite(mean)
    if bad.any():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)       # a pixel NaN everywhere stays NaN
            mean[bad] = np.nanmean(stack[:, bad], axis=0)
    return mean


def order_geometry(model, refs, where="<exposure>", image=None):
    """The exposure's :class:`soss.OrderGeometry` per order, placed for its PWCPOS and
    refined on its data (``image``: the mean image, computed when not given), and the
    refinement ``(d_angle, shift)``."""
    spectrace = refs.load("spectrace")
    pasta = soss.pastasoss_of(refs, model, where)
    angle = soss.pwcpos_of(model, where) - soss.NOMINAL_PWCPOS
    geometry = soss.place_traces(spectrace, model, angle, where=where, pastasoss=pasta)
    image = _mean_image(model) if image is None else image
    geometry, fit = soss.refine_traces(image, geometry, spectrace, model, angle, where, pastasoss=pasta)
    return geometry, fit


def _aperture(g, width):
    """Box of ``width`` rows following the trace, over the columns where the order lies
    on the subarray; its nominal position is the median trace row, so that following the
    curved trace is not reported as a move."""
    mid = float(np.nanmedian(g.centre))
    return {"ystart": mid - 0.5 * (width - 1), "ystop": mid + 0.5 * (width - 1), "extract_width": width,
            "xstart": int(g.columns[0]), "xstop": int(g.columns[-1]), "use_source_posn": True}


def extraction_targets(model, mode, refs, params):
    """One target per order on the subarray (order 3 only where it lands on it)."""
    where = str(getattr(model, "path", None) or getattr(model.meta, "filename", None) or "NIS_SOSS exposure")
    image = _mean_image(model)
    geometry, (d_angle, shift) = order_geometry(model, refs, where, image)
    log.info("SOSS: traces refined on the data: rotation %+.4f deg, shift %+.2f px (PWCPOS %.3f)",
             d_angle, shift, soss.pwcpos_of(model, where))
    photom = refs.load("photom") if "photom" in refs else None
    wavemap = refs.load("wavemap") if "wavemap" in refs else None
    filt = str(model.meta.instrument.filter or "CLEAR").upper()
    pupil = str(getattr(model.meta.instrument, "pupil", None) or model.get_keyword("PUPIL") or "GR700XD").upper()
    ny, nx = np.shape(model.data)[-2:]
    nominal = abs(soss.pwcpos_of(model, where) - soss.NOMINAL_PWCPOS) < 1e-3 and abs(d_angle) < 1e-3
    profiles = {}
    if str((params or {}).get("extraction_type") or "box").lower() == "optimal":
        # each order's profile, and the others' as companions fitted jointly: the
        # SPECPROFILE reference moved onto the traces where given, else a Gaussian of the
        # width measured on the data
        specprofile = refs.load("specprofile") if "specprofile" in refs else None
        if specprofile is not None:
            profiles = soss.profiles_from_reference(specprofile, geometry, model, (ny, nx))
            log.info("SOSS: profiles of orders %s from SPECPROFILE %s", sorted(profiles), specprofile.path)
        rest = [o for o in geometry if o not in profiles]
        if rest:
            widths = {o: soss.profile_width(image, geometry, o) for o in geometry}
            known = [w for w in widths.values() if w]
            if not known:
                raise ExtractionError(f"{where}: no SOSS order is bright and clear enough to measure its profile width")
            widths = {o: (widths[o] or widths.get(1) or known[0]) for o in rest}
            log.info("SOSS: Gaussian profile sigma per order %s px",
                     ", ".join(f"{o}: {w:.2f}" for o, w in sorted(widths.items())))
            profiles.update(soss.order_profiles({o: geometry[o] for o in rest}, (ny, nx), widths))
    targets = []
    for order, g in sorted(geometry.items()):
        wave2d = np.broadcast_to(g.wavelength[None, :], (ny, nx)).astype(np.float64)
        if wavemap is not None and nominal and order in wavemap.maps and wavemap.maps[order].shape == (ny, nx):
            wave2d = wavemap.order(order)
        conversion = None
        if photom is not None:
            try:
                photom.select(filt, pupil, order)
            except Exception:
                log.info("SOSS: no PHOTOM row for %s/%s order %d: order %d not extracted", filt, pupil, order, order)
                continue
            conversion = (lambda lam, o=order: photom.conversion(filt, pupil, o, lam))
        targets.append(ExtractionTarget(
            name=f"ORDER{order}", model=model, dispersion_axis=1, wavelength=wave2d, spectral_order=order,
            source_type="POINT", pixel_area_sr=None if photom is None else photom.pixar_sr, trace=g.trace,
            aperture_defaults=_aperture(g, SOSS_WIDTH),
            flux_conversion=conversion, extra={"SPORDER": order},
            profile=profiles.get(order),
            companion_profiles=tuple(p for o, p in sorted(profiles.items()) if o != order)))
    return targets


def order_geometry_of_spectrum(spec):
    """``(columns, wavelength, flux)`` of one extracted SOSS order: the detector column of
    each row of its spectrum (the box runs over consecutive columns from EXTRXSTR), the
    wavelengths the trace assigned, and the flux averaged over integrations."""
    tab = spec.spec_table
    wave = np.asarray(tab["WAVELENGTH"], float)
    flux = np.asarray(tab["FLUX"], float)
    if wave.ndim == 2:
        wave = wave[0]
        with np.errstate(invalid="ignore"):
            flux = np.nanmean(flux, axis=0)
    x0 = getattr(spec, "extraction_xstart", None)
    x0 = int(round(float(x0))) if x0 is not None and np.isfinite(float(x0)) else 0
    return np.arange(x0, x0 + wave.size), wave, flux
