"""The ``wavecorr`` step: wavelength zero-point correction of off-centre point sources.

The slit WCS gives every pixel the wavelength of light crossing the aperture's centre
line.  A point source displaced along the dispersion inside its slit (SRCXPOS, in
aperture widths, -0.5..0.5) sends its light through another line of the aperture and
lands shifted along the detector's x axis (through the flight optical model a source
at +0.5 lands ~1 px lower in x in a 0.2" slit), so the centred WCS mislabels its
spectrum by a fraction of a pixel.  The WAVECORR reference file tabulates that shift
(in pixels) against wavelength and source position per fixed slit and for the MOS;
this step adds ``offset x dispersion`` to the WAVELENGTH of each point-source slit
(:func:`webbcal_nirspec.slits.apply_wavecorr`), as the JWST ``wavecorr`` step does
between extract_2d and flat_field (so the flat and photom see the corrected
wavelengths).  Extended sources and background slitlets fill their slit and are left
alone.

Run it inside ``spec2`` (the NIRSpec recipes list it) or alone on an extract_2d
product; ``--steps.wavecorr.skip=true`` (or ``override_wavecorr=N/A``) turns it off.
The status is S_WAVCOR (COMPLETE when at least one slit was corrected, otherwise
SKIPPED) and the file used R_WAVCOR.  The slit gwcs stays the centred-source one:
only the WAVELENGTH arrays carry the correction.
"""
from __future__ import annotations

import logging

from webbcal.plugin_api import slits_of
import numpy as np

from webbcal.plugin_api import InputFileError, ParameterError
from webbcal.plugin_api import Step

from .modes import is_nirspec

log = logging.getLogger("webbcal.nirspec")

__all__ = ["WavecorrStep", "correct_slits"]

#: the fixed slits' quadrant number (MSA quadrants are 1..4)
_FIXED_SLIT_QUADRANT = 5


def _aperture_name(slit):
    quadrant = int(getattr(slit, "quadrant", None) or _FIXED_SLIT_QUADRANT)
    return str(slit.name).strip().upper() if quadrant == _FIXED_SLIT_QUADRANT else "MOS"


def correct_slits(model, wavecorr):
    """Correct the WAVELENGTH of every point-source slit of ``model`` in place.

    ``wavecorr`` is a :class:`webbcal_nirspec.wcs.readers.WaveCorrRef`.

    Returns
    -------
    object
        the names of the slits corrected.
    """
    from .slits import apply_wavecorr

    done = []
    for slit in slits_of(model):
        source_type = str(getattr(slit, "source_type", None) or "").strip().upper()
        if source_type != "POINT":
            log.info("wavecorr: %s: %s source, not corrected", slit.name, source_type or "unknown")
            continue
        wavelength = getattr(slit, "wavelength", None)
        if wavelength is None:
            log.info("wavecorr: %s: no WAVELENGTH array, not corrected", slit.name)
            continue
        xpos = getattr(slit, "source_xpos", None)
        xpos = float(xpos) if xpos is not None else float("nan")
        try:
            aperture = wavecorr.aperture(_aperture_name(slit))
        except ValueError as exc:
            log.info("wavecorr: %s: not corrected (%s)", slit.name, exc)
            continue
        corrected, offset = apply_wavecorr(np.asarray(wavelength, dtype=np.float64), xpos, aperture)
        slit.wavelength = corrected.astype(np.float32)
        log.info("wavecorr: %s: zero-point offset %.3f px (SRCXPOS %.3f, aperture %s)", slit.name, offset, xpos,
                 aperture.name)
        done.append(str(slit.name))
    return done


class WavecorrStep(Step):
    """NIRSpec wavelength zero-point correction of point sources off-centre in their slit
    (reference type WAVECORR); runs on the extract_2d product."""

    name = "wavecorr"
    aliases = ("WavecorrStep",)
    suffix = "wavecorr"
    spec = {}
    skip_when_refs_na = True

    def process(self, model, mode, refs, params):
        if not is_nirspec(mode) or "wavecorr" not in mode.reftypes_for(self.name):
            raise ParameterError(f"step wavecorr applies to NIRSpec fixed-slit, MOS and bright-object exposures, "
                                 f"not to {mode.instrument} {mode.exp_types[0]}")
        if not getattr(model, "slits", None) and type(model).__name__ != "SlitModel":
            raise InputFileError(getattr(self, "input_path", None) or "input model",
                                 "wavecorr needs the per-slit cut-outs of extract_2d (a multi-slit or single-slit model); "
                                 "run extract_2d first")
        self.corrected = []
        if str(getattr(model.meta.cal_step, "wavecorr", None) or "").upper() == "COMPLETE":
            log.warning("wavecorr: the input is already corrected (S_WAVCOR = COMPLETE); not applied twice")
            self.corrected = None
            return model
        self.corrected = correct_slits(model, refs.load("wavecorr"))
        if not self.corrected:
            log.info("wavecorr: no point-source slit to correct")
        return model

    def record(self, model, status, refs=None):
        # JWST convention: COMPLETE when a slit was corrected, SKIPPED when none was
        if status == "COMPLETE" and getattr(self, "corrected", None) == []:
            status = "SKIPPED"
        super().record(model, status, refs)
