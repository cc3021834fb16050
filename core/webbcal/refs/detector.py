"""Readers of the stage-1 detector references in their JWST layouts, for every instrument.

==========  ==================================================================================
type        layout read
==========  ==================================================================================
saturation  SCI: the saturation level of each pixel (DN); DQ + DQ_DEF (NO_SAT_CHECK, ...)
superbias   SCI: the bias of each pixel (DN); DQ + DQ_DEF (UNRELIABLE_BIAS, ...)
linearity   COEFFS (ncoeffs, ny, nx): the correction polynomial in ascending powers; DQ + DQ_DEF
dark        SCI (ngroups, ny, nx) -- or (nints, ngroups, ny, nx) -- the dark signal of each
            frame (DN); DQ + DQ_DEF; NFRAMES and GROUPGAP of the dark's readout (primary)
==========  ==================================================================================

Each is placed on the detector by SUBSTRT1/SUBSTRT2 (primary header) and cut to an
exposure's window by :meth:`StackReference.for_exposure`. A malformed file (no SCI /
COEFFS, planes of the wrong rank, a DQ of another shape, a DQ_DEF without its columns) is
one :class:`~webbcal.errors.ReferenceFileError` naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..datamodels import interpret_dq_def
from ..errors import ReferenceFileError
from .imaging import DetectorReference, _image, _open_fits, _origin

__all__ = ["StackReference", "read_saturation", "read_superbias", "read_linearity", "read_dark", "read_reset",
           "dark_frames_for", "dark_frames_needed"]


@dataclass
class StackReference:
    """A detector reference of one or more planes (``shape``: ``(..., ny, nx)``, read on
    demand) and its pixel flags (``dq``: ``(ny, nx)``, JWST DQ bits), placed on the full
    frame."""

    path: str
    kind: str
    shape: tuple
    dq: np.ndarray
    xstart: int = 1
    ystart: int = 1
    placed: bool = True
    keywords: dict = field(default_factory=dict)
    #: the extension holding the planes (read by section: a full-frame dark need not be
    #: decompressed whole for a subarray)
    extname: str = "SCI"

    @property
    def planes(self) -> np.ndarray:
        """All planes (read from the file)."""
        return self._read_planes((Ellipsis,))

    def _read_planes(self, index) -> np.ndarray:
        with _open_fits(Path(self.path)) as hdul:
            try:
                return np.asarray(hdul[self.extname].section[index], dtype=np.float32)
            except Exception as exc:   # a truncated or corrupt tile
                raise ReferenceFileError(self.path, f"{self.kind} {self.extname} cannot be read ({exc})") from None

    def _checked(self, planes: np.ndarray) -> np.ndarray:
        if planes.size and not np.isfinite(planes).any():
            raise ReferenceFileError(self.path, f"{self.kind} {self.extname} has no finite value over the "
                                                "exposure's pixels (NaN everywhere)")
        return planes

    def for_exposure(self, model: Any, window: tuple, lead: tuple = ()) -> tuple:
        """``(planes, dq)`` over the exposure's pixels (``window`` from
        :func:`~webbcal.refs.imaging.subarray_window`); ``lead``: slices of the leading
        (plane) axes to read, e.g. ``(slice(0, 10),)`` for a dark's first ten frames
        (all planes when empty).

        Raises
        ------
        ReferenceFileError
            The reference does not cover the exposure.
        """
        ny, nx = np.shape(model.data)[-2:]
        lead = tuple(lead) + (slice(None),) * (len(self.shape) - 2 - len(lead))
        if self.dq.shape == (ny, nx) and not self.placed:
            return self._checked(self._read_planes(lead + (slice(None), slice(None)))), self.dq
        probe = DetectorReference(self.path, self.dq, self.xstart, self.ystart, self.placed)
        sl = probe._window(window[0], window[1], nx, ny)
        if sl is None:
            raise ReferenceFileError(
                self.path, f"{self.kind} of shape {self.dq.shape} at SUBSTRT1={self.xstart}, SUBSTRT2={self.ystart} "
                           f"does not cover the {nx}x{ny} exposure at SUBSTRT1={window[0]}, SUBSTRT2={window[1]}")
        return self._checked(self._read_planes(lead + sl)), self.dq[sl]


def _read(path, kind, sci_name, ranks):
    path = Path(path)
    with _open_fits(path) as hdul:
        try:
            hdu = hdul[sci_name]
        except KeyError:
            raise ReferenceFileError(path, f"has no {sci_name} extension") from None
        shape = tuple(int(n) for n in (hdu.shape or ()))
        if len(shape) not in ranks:
            want = " or ".join(f"{r}-D" for r in ranks)
            raise ReferenceFileError(path, f"{kind} {sci_name} must be {want}, got shape {shape}")
        try:      # the first tiles decode: the file is not truncated there
            np.asarray(hdu.section[(0,) * (len(shape) - 2) + (slice(0, 1), slice(None))])
        except Exception as exc:
            raise ReferenceFileError(path, f"{kind} {sci_name} cannot be read ({exc})") from None
        dq = _image(hdul, "DQ", path, kind, required=False)
        if dq is None:
            dq = np.zeros(shape[-2:], dtype=np.uint32)
        if dq.ndim == 4:      # per integration and group (a MIRI dark): its first group, all integrations
            dq = np.bitwise_or.reduce(np.asarray(dq[:, 0], dtype=np.uint32), axis=0)
        elif dq.ndim == 3:
            dq = np.bitwise_or.reduce(np.asarray(dq, dtype=np.uint32), axis=0)
        if dq.shape != shape[-2:]:
            raise ReferenceFileError(path, f"{kind} DQ of shape {dq.shape} does not match {sci_name} {shape}")
        if "DQ_DEF" in hdul and hdul["DQ_DEF"].data is not None:
            try:
                dq = interpret_dq_def(hdul["DQ_DEF"].data, dq)
            except KeyError as exc:
                raise ReferenceFileError(path, f"{kind} DQ_DEF lacks column {exc} (expected BIT, VALUE, NAME, "
                                               "DESCRIPTION)") from None
        header = hdul[0].header
        xstart, ystart, placed = _origin(header)
        keywords = {k: header.get(k) for k in ("NFRAMES", "GROUPGAP", "NGROUPS", "NINTS", "READPATT") if k in header}
    return StackReference(str(path), kind, shape, np.asarray(dq).astype(np.uint32), xstart, ystart, placed, keywords,
                          sci_name)


def read_saturation(path: str | Path) -> StackReference:
    """Read a SATURATION reference (SCI: saturation level per pixel, DN; DQ / DQ_DEF).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 2-D, or a DQ that does not match.
    """
    return _read(path, "SATURATION", "SCI", (2,))


def read_superbias(path: str | Path) -> StackReference:
    """Read a SUPERBIAS reference (SCI: bias per pixel, DN; DQ / DQ_DEF).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 2-D, or a DQ that does not match.
    """
    return _read(path, "SUPERBIAS", "SCI", (2,))


def read_linearity(path: str | Path) -> StackReference:
    """Read a LINEARITY reference (COEFFS: ``(ncoeffs, ny, nx)``, ascending powers of the
    measured signal; DQ / DQ_DEF).

    Raises
    ------
    ReferenceFileError
        Not FITS, no COEFFS, not 3-D, fewer than two coefficients, or a DQ that does not match.
    """
    ref = _read(path, "LINEARITY", "COEFFS", (3,))
    if ref.shape[0] < 2:
        raise ReferenceFileError(path, f"LINEARITY COEFFS holds {ref.shape[0]} coefficient(s); a correction "
                                       "polynomial needs at least two")
    return ref


def read_dark(path: str | Path) -> StackReference:
    """Read a DARK reference (SCI: ``(ngroups, ny, nx)`` or ``(nints, ngroups, ny, nx)`` dark
    signal per frame, DN; DQ / DQ_DEF; NFRAMES, GROUPGAP).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 3-D or 4-D, or a DQ that does not match.
    """
    return _read(path, "DARK", "SCI", (3, 4))


def read_reset(path: str | Path) -> StackReference:
    """Read a RESET reference (SCI: ``(nints, ngroups, ny, nx)`` or ``(ngroups, ny, nx)``:
    the offset of each of the first groups of an integration, DN, subtracted from the
    ramps as read; DQ / DQ_DEF; NINTS, NGROUPS).

    Raises
    ------
    ReferenceFileError
        Not FITS, no SCI, not 3-D or 4-D, or a DQ that does not match.
    """
    return _read(path, "RESET", "SCI", (3, 4))


def dark_frames_needed(ref: StackReference, nframes: int, groupgap: int, ngroups: int) -> int:
    """How many of the dark's leading planes (per integration) :func:`dark_frames_for`
    uses for ``ngroups`` groups of ``nframes`` frames and ``groupgap`` dropped frames: the
    groups themselves when both share their readout, else the frames averaged (never
    more than the dark holds: too few is reported by :func:`dark_frames_for`)."""
    d_nframes = int(ref.keywords.get("NFRAMES") or 1)
    d_gap = int(ref.keywords.get("GROUPGAP") or 0)
    if (d_nframes, d_gap) == (int(nframes), int(groupgap)):
        need = int(ngroups)
    else:
        need = (int(ngroups) - 1) * (int(nframes) + int(groupgap)) + int(nframes)
    held = ref.shape[-3]
    return max(1, min(need, held))


def dark_frames_for(ref: StackReference, planes: np.ndarray, nframes: int, groupgap: int, ngroups: int,
                    integration: Optional[int] = None) -> np.ndarray:
    """The dark signal of each of an exposure's ``ngroups`` groups: the dark's group ``g``
    when both share their readout (NFRAMES, GROUPGAP), else the mean of the dark frames a
    group averages (the dark read frame by frame: NFRAMES 1, GROUPGAP 0).

    Raises
    ------
    ReferenceFileError
        The dark has too few frames for the exposure, or another readout that cannot be
        averaged into the exposure's.
    """
    if planes.ndim == 4:     # one dark per integration (MIRI): the last for later integrations
        planes = planes[min(integration or 0, planes.shape[0] - 1)]
    d_nframes = int(ref.keywords.get("NFRAMES") or 1)
    d_gap = int(ref.keywords.get("GROUPGAP") or 0)
    if (d_nframes, d_gap) == (int(nframes), int(groupgap)):
        if planes.shape[0] < ngroups:
            raise ReferenceFileError(ref.path, f"DARK holds {planes.shape[0]} groups; the exposure has {ngroups}")
        return planes[:ngroups]
    if (d_nframes, d_gap) != (1, 0):
        raise ReferenceFileError(ref.path, f"DARK readout NFRAMES={d_nframes}, GROUPGAP={d_gap} cannot be averaged "
                                           f"into the exposure's NFRAMES={nframes}, GROUPGAP={groupgap}")
    step = int(nframes) + int(groupgap)
    need = (ngroups - 1) * step + int(nframes)
    if planes.shape[0] < need:
        raise ReferenceFileError(ref.path, f"DARK holds {planes.shape[0]} frames; averaging {ngroups} groups of "
                                           f"NFRAMES={nframes}, GROUPGAP={groupgap} needs {need}")
    idx = np.arange(ngroups)[:, None] * step + np.arange(int(nframes))[None, :]
    return planes[idx].mean(axis=1)
