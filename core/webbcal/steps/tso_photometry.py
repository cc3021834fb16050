"""tso_photometry: aperture photometry of a time-series image, one row per integration
(``_phot.ecsv``, the layout of the official tso_photometry catalogue).

The source sits at the aperture's reference point XREF_SCI / YREF_SCI (1-based, in the
exposure's subarray); with ``centroid_source`` (default) its position is refined on the
median image by a 2-D Gaussian fit in a box of ``fit_box_width`` pixels (photutils), and
with ``moving_centroid`` on every integration. A circular aperture of ``radius`` pixels
holds the source, a circular annulus from ``radius_inner`` to ``radius_outer`` the
background; photutils gives their exact pixel overlaps, and the sums over every
integration are weighted sums of the cube with them::

    aperture_sum = sum(w_ap D)          aperture_sum_err = sqrt(sum(w_ap^2 ERR^2))
    annulus_mean = sum(w_an D) / A_an   aperture_bkg = annulus_mean * A_ap
    net_aperture_sum = aperture_sum - aperture_bkg

(A the aperture areas, errors propagated in quadrature). Data in MJy/sr are converted to
Jy with PIXAR_SR first, as the official step does. The table holds MJD (the INT_TIMES
mid times, UTC), BJD_TDB where given, the sums above, the aperture position (pixels and
RA/Dec from the gwcs when there is one) and the centroids; its metadata the instrument,
filter, subarray and radii.
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import InputFileError, ParameterError
from ..pipeline.step import Param
from .white_light import TableProductStep, WhiteLightProduct

log = logging.getLogger("webbcal.step")

__all__ = ["TsoPhotometryStep", "PhotometryProduct", "aperture_photometry_cube"]


class PhotometryProduct(WhiteLightProduct):
    """The photometry table (ECSV) of a time series: ``net_aperture_sum`` per integration."""

    time_column = "MJD"

    @property
    def flux_columns(self):
        """The light-curve column: ``net_aperture_sum``."""
        return ["net_aperture_sum"]

    def error_column(self, column):
        """``<column>_err``."""
        return column + "_err"

    def __repr__(self):
        return f"PhotometryProduct({len(self.table)} integrations)"


def aperture_photometry_cube(data, err, x, y, radius, radius_inner, radius_outer):
    """Aperture and annulus sums of every integration of ``data`` ``(nints, ny, nx)``.

    ``x``, ``y``: 0-based centre, one value or one per integration. Returns a dict of
    arrays ``(nints,)``: aperture_sum(_err), annulus_sum(_err), annulus_mean(_err),
    aperture_bkg(_err), net_aperture_sum(_err), and the areas ``aperture_area``,
    ``annulus_area`` (pixels actually on the image and usable).
    """
    from photutils.aperture import CircularAnnulus, CircularAperture

    nints, ny, nx = data.shape
    xs = np.broadcast_to(np.asarray(x, dtype=np.float64), (nints,))
    ys = np.broadcast_to(np.asarray(y, dtype=np.float64), (nints,))
    out = {k: np.full(nints, np.nan) for k in (
        "aperture_sum", "aperture_sum_err", "annulus_sum", "annulus_sum_err", "annulus_mean", "annulus_mean_err",
        "aperture_bkg", "aperture_bkg_err", "net_aperture_sum", "net_aperture_sum_err", "aperture_area", "annulus_area")}
    # one set of weights per distinct position (a fixed position: one for the whole cube)
    positions = np.unique(np.stack([xs, ys], axis=1), axis=0)
    for px, py in positions:
        sel = np.flatnonzero((xs == px) & (ys == py))
        w_ap = CircularAperture((px, py), r=radius).to_mask(method="exact").to_image((ny, nx))
        w_an = CircularAnnulus((px, py), r_in=radius_inner, r_out=radius_outer).to_mask(method="exact").to_image((ny, nx))
        w_ap = np.zeros((ny, nx)) if w_ap is None else w_ap
        w_an = np.zeros((ny, nx)) if w_an is None else w_an
        d = np.asarray(data[sel], dtype=np.float64)
        e = np.asarray(err[sel], dtype=np.float64)
        usable = np.isfinite(d) & np.isfinite(e)
        d, e2 = np.where(usable, d, 0.0), np.where(usable, e * e, 0.0)
        a_ap = np.einsum("nyx,yx->n", usable.astype(np.float64), w_ap)
        a_an = np.einsum("nyx,yx->n", usable.astype(np.float64), w_an)
        s_ap = np.einsum("nyx,yx->n", d, w_ap)
        v_ap = np.einsum("nyx,yx->n", e2, w_ap * w_ap)
        s_an = np.einsum("nyx,yx->n", d, w_an)
        v_an = np.einsum("nyx,yx->n", e2, w_an * w_an)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(a_an > 0, s_an / a_an, np.nan)
            mean_err = np.where(a_an > 0, np.sqrt(v_an) / a_an, np.nan)
        bkg, bkg_err = mean * a_ap, mean_err * a_ap
        vals = dict(aperture_sum=s_ap, aperture_sum_err=np.sqrt(v_ap), annulus_sum=s_an, annulus_sum_err=np.sqrt(v_an),
                    annulus_mean=mean, annulus_mean_err=mean_err, aperture_bkg=bkg, aperture_bkg_err=bkg_err,
                    net_aperture_sum=s_ap - bkg, net_aperture_sum_err=np.hypot(np.sqrt(v_ap), bkg_err),
                    aperture_area=a_ap, annulus_area=a_an)
        for k, v in vals.items():
            out[k][sel] = v
    return out


def _centroid(image, x, y, box):
    """2-D Gaussian centroid (photutils) of ``image`` in a ``box`` x ``box`` cut-out around
    (x, y), background (the cut-out's median) removed; NaN when the fit fails."""
    import warnings

    from photutils.centroids import centroid_2dg

    ny, nx = image.shape
    h = box // 2
    x0, y0 = int(round(x)) - h, int(round(y)) - h
    if x0 < 0 or y0 < 0 or x0 + box > nx or y0 + box > ny:
        return np.nan, np.nan
    cut = np.asarray(image[y0:y0 + box, x0:x0 + box], dtype=np.float64)
    if not np.isfinite(cut).all():
        cut = np.where(np.isfinite(cut), cut, np.nanmedian(cut))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cx, cy = centroid_2dg(cut - np.median(cut))
        except Exception:
            return np.nan, np.nan
    if not (0 <= cx < box and 0 <= cy < box):
        return np.nan, np.nan
    return x0 + float(cx), y0 + float(cy)


class TsoPhotometryStep(TableProductStep):
    """Aperture photometry of a time-series image, one row per integration (``_phot.ecsv``)."""

    name = "tso_photometry"
    aliases = ("TSOPhotometryStep",)
    suffix = "phot"
    modifies_input = False
    spec = {
        "radius": Param(float, 3.0, "aperture radius (pixels)", low=0, low_open=True),
        "radius_inner": Param(float, 4.0, "inner radius of the background annulus (pixels)", low=0),
        "radius_outer": Param(float, 5.0, "outer radius of the background annulus (pixels)", low=0, low_open=True),
        "centroid_source": Param(bool, True, "refine the source position (2-D Gaussian fit on the median image)"),
        "fit_box_width": Param(int, 11, "box (pixels, odd) of the centroid fit", low=3),
        "moving_centroid": Param(bool, False, "fit the position on every integration"),
        "plot": Param(bool, True, "write a quicklook PNG of the light curve next to the table"),
    }

    def process(self, model, mode, refs, params):
        from astropy.table import QTable

        where = getattr(self, "input_path", None) or getattr(model, "path", None) or "input model"
        r, rin, rout = float(params["radius"]), float(params["radius_inner"]), float(params["radius_outer"])
        if not (rin < rout):
            raise ParameterError(f"radius_inner={rin} must be smaller than radius_outer={rout}")
        if int(params["fit_box_width"]) % 2 == 0:
            raise ParameterError(f"fit_box_width={params['fit_box_width']} must be odd")
        data = np.asarray(model.data)
        if data.ndim == 2:
            data = data[None]
        err = getattr(model, "err", None)
        err = np.zeros(data.shape) if err is None else np.asarray(err).reshape(data.shape)
        xref, yref = model.get_keyword("XREF_SCI"), model.get_keyword("YREF_SCI")
        if xref is None or yref is None:
            raise InputFileError(where, "tso_photometry needs the source position XREF_SCI / YREF_SCI (the aperture's "
                                        "reference point); the header has none")
        x, y = float(xref) - 1.0, float(yref) - 1.0
        unit = str(getattr(model.meta, "bunit_data", None) or "")
        if unit == "MJy/sr":
            pixar = getattr(model.meta.photometry, "pixelarea_steradians", None)
            if not pixar:
                raise InputFileError(where, "data in MJy/sr without PIXAR_SR: cannot convert the photometry to Jy")
            data = data * (1e6 * pixar)
            err = err * (1e6 * pixar)
            unit = "Jy"
        cx = cy = None
        if params["centroid_source"]:
            box = int(params["fit_box_width"])
            if params["moving_centroid"]:
                c = np.array([_centroid(d, x, y, box) for d in data])
                cx, cy = c[:, 0], c[:, 1]
            else:
                cx, cy = (np.full(data.shape[0], v) for v in _centroid(np.nanmedian(data, axis=0), x, y, box))
            if np.all(np.isfinite(cx)):
                x, y = (cx, cy) if params["moving_centroid"] else (float(cx[0]), float(cy[0]))
                log.info("tso_photometry: source centroid x, y = %s, %s", np.round(np.median(cx), 3),
                         np.round(np.median(cy), 3))
            else:
                log.warning("tso_photometry: the centroid fit failed; using XREF_SCI, YREF_SCI")
        res = aperture_photometry_cube(data, err, x, y, r, rin, rout)
        nints = data.shape[0]
        table = QTable()
        table["MJD"] = self._times(model, nints, "int_mid_MJD_UTC")
        bjd = self._times(model, nints, "int_mid_BJD_TDB")
        if np.isfinite(bjd).any():
            table["BJD_TDB"] = bjd
        import astropy.units as u

        qu = u.Unit(unit) if unit else u.dimensionless_unscaled
        for k in ("aperture_sum", "aperture_sum_err", "annulus_sum", "annulus_sum_err", "annulus_mean",
                  "annulus_mean_err", "aperture_bkg", "aperture_bkg_err", "net_aperture_sum", "net_aperture_sum_err"):
            table[k] = res[k] * qu
        xs = np.broadcast_to(np.asarray(x, float), (nints,))
        ys = np.broadcast_to(np.asarray(y, float), (nints,))
        table["aperture_x"] = xs * u.pix
        table["aperture_y"] = ys * u.pix
        wcs = getattr(model.meta, "wcs", None)
        if wcs is not None:
            try:
                ra, dec = wcs(xs, ys)
                table["aperture_ra_icrs"] = np.asarray(ra, float) * u.deg
                table["aperture_dec_icrs"] = np.asarray(dec, float) * u.deg
            except Exception as exc:   # a gwcs without a sky frame
                log.info("tso_photometry: no sky position from the gwcs (%s)", exc)
        if cx is not None:
            table["centroid_x"] = np.asarray(cx, float) * u.pix
            table["centroid_y"] = np.asarray(cy, float) * u.pix
        inst = model.meta.instrument
        table.meta.update({
            "instrument": getattr(inst, "name", None), "detector": getattr(inst, "detector", None),
            "filter": getattr(inst, "filter", None), "pupil": getattr(inst, "pupil", None),
            "subarray": getattr(model.meta.subarray, "name", None),
            "target_name": getattr(model.meta.target, "catalog_name", None),
            "apertures": {"radius": r, "radius_inner": rin, "radius_outer": rout},
        })
        if np.any(res["aperture_area"] < np.pi * r * r * 0.999):
            log.warning("tso_photometry: the aperture extends beyond the image or over unusable pixels in some "
                        "integrations (area %.1f of %.1f pixels)", float(np.nanmin(res["aperture_area"])), np.pi * r * r)
        product = PhotometryProduct(table, source=model.meta)
        log.info("tso_photometry: %d integrations, median net aperture sum %.6g %s", nints,
                 float(np.nanmedian(res["net_aperture_sum"])), unit)
        return product

    @staticmethod
    def _times(model, nints, column):
        it = getattr(model, "int_times", None)
        if it is None or len(it) == 0 or column not in (getattr(it, "dtype", None).names or ()):
            return np.full(nints, np.nan)
        t = np.asarray(it[column], dtype=np.float64)
        start = int(getattr(model.meta.exposure, "integration_start", None) or 1)
        first = int(np.asarray(it["integration_number"])[0]) if "integration_number" in it.dtype.names else 1
        t = t[start - first:start - first + nints]
        return t if t.size == nints else np.full(nints, np.nan)
