"""PHOTOM tables of filter / pupil / order rows (NIRISS and NIRCam): a conversion factor per
row -- ``photmjsr`` (MJy/sr per DN/s: imaging, order 0, and NIRCam grism orders) or
``photmj`` (MJy per DN/s of an extracted order: NIRISS SOSS) -- and, where ``nelem`` > 0,
a relative response against wavelength; PIXAR_SR / PIXAR_A2 in the PHOTOM or primary
header.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datamodels import read_table
from ..datamodels.fitstable import column
from ..errors import ReferenceFileError

__all__ = ["PhotomRow", "PhotomTable", "read_photom_table"]


def _open_fits(path):
    from ..datamodels.fitsfile import open_fits

    return open_fits(path, error=ReferenceFileError)


def _text(value):
    return (value.decode() if isinstance(value, bytes) else str(value)).strip().upper()


@dataclass
class PhotomRow:
    """One PHOTOM row: ``factor`` (photmjsr when ``per_steradian``, else photmj) and the
    relative response against wavelength (empty arrays: none)."""

    filter: str
    pupil: str
    order: int
    factor: float
    per_steradian: bool
    uncertainty: float
    wavelength: np.ndarray
    relresponse: np.ndarray


@dataclass
class PhotomTable:
    """A PHOTOM table of filter / pupil / order rows (spectral orders, imaging order 0) and
    the pixel area."""

    path: str
    rows: list
    pixar_sr: float | None = None
    pixar_a2: float | None = None

    def select(self, filter_name, pupil, order):
        """The row of ``filter_name`` / ``pupil`` / ``order``.

        Raises
        ------
        ReferenceFileError
            No such row (the message lists the rows of that pupil the file has).
        """
        f, p, o = str(filter_name).strip().upper(), str(pupil).strip().upper(), int(order)
        for r in self.rows:
            if r.filter == f and r.pupil == p and r.order == o:
                return r
        have = sorted({f"{r.filter}/{r.pupil}/order {r.order}" for r in self.rows if r.pupil == p})
        raise ReferenceFileError(self.path, f"no PHOTOM row for {f}/{p} order {o} (rows with PUPIL={p}: "
                                            f"{', '.join(have) or 'none'})")

    def imaging_row(self, filter_name, pupil):
        """The imaging row of ``filter_name`` / ``pupil`` (order 0 where the table has orders).

        Raises
        ------
        ReferenceFileError
            No such row (the message lists the imaging rows the file has).
        """
        f, p = str(filter_name or "").strip().upper(), str(pupil or "").strip().upper()
        for r in self.rows:
            if r.filter == f and r.pupil == p and r.order == 0:
                return r
        have = sorted({f"{r.filter}/{r.pupil}" for r in self.rows if r.order == 0})
        raise ReferenceFileError(self.path, f"no imaging PHOTOM row (order 0) for FILTER={f} PUPIL={p} "
                                            f"(imaging rows: {', '.join(have) or 'none'})")

    def conversion(self, filter_name, pupil, order, wavelength):
        """MJy per (DN/s) of the order's extracted count rate at ``wavelength`` (micron):
        the row's factor times its relative response (times PIXAR_SR for a factor per
        steradian); NaN outside the response's wavelengths.

        Raises
        ------
        ReferenceFileError
            No row, or a per-steradian factor and no PIXAR_SR.
        """
        row = self.select(filter_name, pupil, order)
        lam = np.asarray(wavelength, dtype=np.float64)
        if row.wavelength.size:
            rel = np.interp(lam, row.wavelength, row.relresponse, left=np.nan, right=np.nan)
        else:
            rel = np.ones_like(lam)
        factor = row.factor
        if row.per_steradian:
            if not self.pixar_sr:
                raise ReferenceFileError(self.path, "the PHOTOM factors are per steradian (photmjsr) and PIXAR_SR is missing")
            factor = factor * self.pixar_sr
        return factor * rel


def read_photom_table(path: str | Path) -> "PhotomTable":
    """Read a PHOTOM table of filter / pupil / order rows (NIRISS, NIRCam).

    Parameters
    ----------
    path : str or Path
        The FITS file.

    Returns
    -------
    PhotomTable

    Raises
    ------
    ReferenceFileError
        Not FITS, no PHOTOM table, or a missing column.
    """
    path = Path(path)
    with _open_fits(path) as hdul:
        if "PHOTOM" not in hdul or not hasattr(hdul["PHOTOM"], "columns"):
            raise ReferenceFileError(path, "no PHOTOM binary table")
        hdu = hdul["PHOTOM"]
        table = read_table(hdu)
        need = ("filter", "pupil", "order", "photmj", "uncertainty", "nelem", "wavelength", "relresponse")

        def col(name, required=True):
            return column(table, name, path, "PHOTOM", required=required, error=ReferenceFileError, expected=need)

        factor = col("photmj", required=False)
        per_sr = factor is None
        if per_sr:
            factor = col("photmjsr", required=False)
            if factor is None:
                raise ReferenceFileError(path, "PHOTOM has neither a photmj nor a photmjsr column")
        filt, pupil, order = col("filter"), col("pupil"), col("order")
        unc, nelem, wave, rel = col("uncertainty"), col("nelem"), col("wavelength"), col("relresponse")
        rows = []
        for i in range(len(filt)):
            n = int(nelem[i])
            w = np.asarray(wave[i], np.float64)[:n] if n > 0 else np.zeros(0)
            r = np.asarray(rel[i], np.float64)[:n] if n > 0 else np.zeros(0)
            ok = np.isfinite(w) & np.isfinite(r) & (w > 0)
            srt = np.argsort(w[ok], kind="stable")
            rows.append(PhotomRow(_text(filt[i]), _text(pupil[i]), int(order[i]),
                                  float(factor[i]), per_sr, float(unc[i]), w[ok][srt], r[ok][srt]))

        def keyword(key):
            for h in (hdu.header, hdul[0].header):
                if key in h and h[key] is not None:
                    return float(h[key])
            return None

        return PhotomTable(str(path), rows, keyword("PIXAR_SR"), keyword("PIXAR_A2"))
