"""Writing the plugins' synthetic embedded default references (their
``data/make_defaults.py``): tile-compressed images whose bytes do not depend on when
they were written, the DQ_DEF table of the JWST flags they use, and a full-frame flat or
area file in the CRDS layout. Shapes only, never calibrations: the files are PEDIGREE
DUMMY.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["compressed_image_hdu", "zero_gzip_timestamps", "dq_def_hdu", "write_flat_file", "write_area_file",
           "write_detector_file", "reference_border_dq", "write_stage1_defaults", "DUMMY_DQ_DEF"]

#: the JWST DQ bits the synthetic flats use: (bit, value, name, description)
DUMMY_DQ_DEF = ((0, 1, "DO_NOT_USE", "Bad pixel not to be used for science"),
                (10, 1024, "DEAD", "Dead pixel"),
                (18, 2 ** 18, "NO_FLAT_FIELD", "No flat-field value"),
                (31, 2 ** 31, "REFERENCE_PIXEL", "Reference pixel"))


def compressed_image_hdu(data: np.ndarray, name: str) -> Any:
    """A losslessly tile-compressed image extension (GZIP_2, tiles of 64 rows; one plane
    at a time for a stack of planes)."""
    from astropy.io import fits

    tile = (min(64, data.shape[-2]), data.shape[-1])
    tile = (1,) * (data.ndim - 2) + tile
    return fits.CompImageHDU(data=data, name=name, compression_type="GZIP_2", quantize_level=0.0, tile_shape=tile)


def zero_gzip_timestamps(path: str | Path) -> None:
    """Blank the modification time gzip writes into every compressed tile of ``path``, so
    the bytes do not depend on when the file was written (the time is outside the CRC)."""
    from astropy.io import fits

    with fits.open(path, disable_image_compression=True) as hdul:
        for hdu in hdul:
            if isinstance(hdu, fits.BinTableHDU) and "COMPRESSED_DATA" in hdu.columns.names:
                for tile in hdu.data["COMPRESSED_DATA"]:
                    if tile.size >= 8 and tile[0] == 0x1F and tile[1] == 0x8B:
                        tile[4:8] = 0
        hdul.writeto(str(path) + ".tmp", overwrite=True)
    Path(str(path) + ".tmp").replace(path)


def dq_def_hdu(rows=DUMMY_DQ_DEF) -> Any:
    """The DQ_DEF table (BIT, VALUE, NAME, DESCRIPTION) of ``rows``."""
    from astropy.io import fits

    bits, values, names, descs = zip(*rows)
    return fits.BinTableHDU.from_columns([
        fits.Column(name="BIT", format="J", array=np.array(bits, np.int32)),
        fits.Column(name="VALUE", format="K", array=np.array(values, np.int64)),
        fits.Column(name="NAME", format="40A", array=np.array(names)),
        fits.Column(name="DESCRIPTION", format="80A", array=np.array(descs))], name="DQ_DEF")


def write_flat_file(path: str | Path, primary: Any, sci: np.ndarray, border: int = 4, error: float = 0.0,
                    dead: Optional[tuple] = None) -> None:
    """A full-frame FLAT in the CRDS layout (SCI, ERR, DQ, DQ_DEF; compressed).

    Parameters
    ----------
    path : str or Path
        Output file.
    primary : astropy.io.fits.PrimaryHDU
        Its primary header (REFTYPE, INSTRUME, PEDIGREE DUMMY, ...); SUBSTRT1/2 are set to 1.
    sci : ndarray
        The flat (values on a 1/1024 grid compress well).
    border : int
        Reference-pixel border, flagged DO_NOT_USE + REFERENCE_PIXEL with flat 1.
    error : float
        ERR everywhere.
    dead : tuple of arrays, optional
        ``(rows, cols)`` of dead pixels: flat NaN, DO_NOT_USE + DEAD + NO_FLAT_FIELD.
    """
    from astropy.io import fits

    sci = np.array(sci, dtype=np.float32)
    dq = np.zeros(sci.shape, np.uint32)
    if border:
        edge = np.zeros(sci.shape, bool)
        edge[:border] = edge[-border:] = True
        edge[:, :border] = edge[:, -border:] = True
        dq[edge] = 1 | 2 ** 31
        sci[edge] = 1.0
    if dead is not None:
        sci[dead] = np.nan
        dq[dead] = 1 | 1024 | 2 ** 18
    primary.header["SUBSTRT1"], primary.header["SUBSTRT2"] = 1, 1
    fits.HDUList([primary, compressed_image_hdu(sci, "SCI"),
                  compressed_image_hdu(np.full(sci.shape, error, np.float32), "ERR"),
                  compressed_image_hdu(dq.view(np.int32), "DQ"), dq_def_hdu()]).writeto(path, overwrite=True)
    zero_gzip_timestamps(path)


def write_area_file(path: str | Path, primary: Any, relative_area: np.ndarray, pixar_sr: float,
                    pixar_a2: float) -> None:
    """A full-frame AREA in the CRDS layout (SCI relative to PIXAR_SR, on a 1/4096 grid)."""
    from astropy.io import fits

    primary.header["PIXAR_SR"], primary.header["PIXAR_A2"] = pixar_sr, pixar_a2
    rel = (np.round(np.asarray(relative_area, float) * 4096.0) / 4096.0).astype(np.float32)
    fits.HDUList([primary, compressed_image_hdu(rel, "SCI")]).writeto(path, overwrite=True)
    zero_gzip_timestamps(path)


def reference_border_dq(shape: tuple, border: int = 4) -> np.ndarray:
    """DQ of a full frame with its reference-pixel border flagged REFERENCE_PIXEL (as a
    flight MASK flags them: usable by refpix, which leaves out reference pixels that are
    also DO_NOT_USE)."""
    dq = np.zeros(shape, np.uint32)
    if border:
        dq[:border] = dq[-border:] = 2 ** 31
        dq[:, :border] = dq[:, -border:] = 2 ** 31
    return dq


def write_detector_file(path: str | Path, primary: Any, name: str, planes: np.ndarray,
                        dq: Optional[np.ndarray] = None, dq_rows=DUMMY_DQ_DEF) -> None:
    """A stage-1 detector reference (SATURATION, SUPERBIAS, LINEARITY, DARK, GAIN,
    READNOISE) in the CRDS layout: the ``name`` extension (SCI or COEFFS) holding
    ``planes`` (2-D or a stack), DQ and DQ_DEF, placed at SUBSTRT1 = SUBSTRT2 = 1,
    compressed, with bytes that do not depend on when it was written."""
    from astropy.io import fits

    primary.header["SUBSTRT1"], primary.header["SUBSTRT2"] = 1, 1
    hdus = [primary, compressed_image_hdu(np.asarray(planes, np.float32), name)]
    if dq is not None:
        hdus += [compressed_image_hdu(np.asarray(dq, np.uint32).view(np.int32), "DQ"), dq_def_hdu(dq_rows)]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    zero_gzip_timestamps(path)


def write_stage1_defaults(outdir: str | Path, prefix: str, primary: Any, shape: tuple, dq: np.ndarray,
                          values: dict) -> None:
    """The synthetic stage-1 references of a plugin (``<prefix>_<type>_dummy.fits``):
    constant full-frame images (the files stay small) with the pixel flags ``dq``.

    ``primary(reftype, **keywords)`` makes a primary HDU; ``values`` holds ``gain``,
    ``readnoise``, ``saturation``, ``lin_c2`` (linear = D + c2 D^2), ``dark_frames``,
    ``dark_per_frame`` and, for an instrument with a superbias, ``bias``."""
    from astropy.io import fits

    outdir = Path(outdir)
    generic = dict(DETECTOR="ANY", SUBARRAY="GENERIC")

    def name(reftype):
        return outdir / f"{prefix}_{reftype}_dummy.fits"

    write_detector_file(name("saturation"), primary("SATURATION", **generic), "SCI",
                        np.full(shape, values["saturation"], np.float32), dq)
    if "bias" in values:
        write_detector_file(name("superbias"), primary("SUPERBIAS", READPATT="ANY", **generic), "SCI",
                            np.full(shape, values["bias"], np.float32), dq)
    coeffs = np.zeros((3,) + tuple(shape), np.float32)
    coeffs[1], coeffs[2] = 1.0, values["lin_c2"]
    write_detector_file(name("linearity"), primary("LINEARITY", **generic), "COEFFS", coeffs, dq)
    n = int(values["dark_frames"])
    dark = (np.arange(1, n + 1, dtype=np.float32) * values["dark_per_frame"])[:, None, None] * np.ones(shape, np.float32)
    write_detector_file(name("dark"), primary("DARK", READPATT="ANY", NFRAMES=1, GROUPGAP=0, NGROUPS=n, **generic),
                        "SCI", dark, dq)
    write_detector_file(name("gain"), primary("GAIN", **generic), "SCI", np.full(shape, values["gain"], np.float32))
    write_detector_file(name("readnoise"), primary("READNOISE", READPATT="ANY", **generic), "SCI",
                        np.full(shape, values["readnoise"], np.float32))
    h = primary("MASK", **generic)
    h.header["SUBSTRT1"], h.header["SUBSTRT2"] = 1, 1
    fits.HDUList([h, compressed_image_hdu(np.asarray(dq, np.uint32).view(np.int32), "DQ"), dq_def_hdu()]).writeto(
        name("mask"), overwrite=True)
    zero_gzip_timestamps(name("mask"))
