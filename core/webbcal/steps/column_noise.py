"""column_noise: remove column-correlated (1/f) read noise from a time series."""
import logging

import numpy as np

from ..errors import InputFileError
from ..extract.column_noise import remove_column_noise
from ..extract.engine import aperture_mask
from ..pipeline.step import Param, Step

log = logging.getLogger("webbcal.step")


class ColumnNoiseStep(Step):
    """Subtract per-integration column offsets (1/f noise) measured away from the spectra.

    The source mask is the union of the source apertures of the exposure's targets (from
    the plugin's aperture defaults; no EXTRACT1D reference is read) widened by ``margin``
    rows. Optional
    in the recipes that list it (skipped unless asked for), like the official pipeline's
    flicker-noise cleaning.
    """

    name = "column_noise"
    aliases = ("ColumnNoiseStep", "clean_columns")
    suffix = "column_noise"
    spec = {
        "margin": Param(float, 5.0, "rows kept clear on each side of every extraction aperture", low=0),
        "min_pixels": Param(int, 10, "columns with fewer usable pixels are not corrected", low=1),
    }

    def process(self, model, mode, refs, params):
        where = str(getattr(model, "path", None) or "<model>")
        if np.ndim(model.data) != 3:
            raise InputFileError(where, "column_noise works on a time series (rateints / calints, 3-D SCI)")
        targets = self.call_hook("webbcal_extract_targets", model=model, mode=mode, refs=refs, params=params) or []
        margin = float(params.get("margin") if params.get("margin") is not None else 5.0)
        mask = aperture_mask(targets, np.shape(model.data)[-2:], margin)
        if not mask.any():
            log.warning("column_noise: %s: no extraction aperture to mask; offsets measured on every pixel", where)
        cleaned, offsets = remove_column_noise(model.data, mask, getattr(model, "dq", None),
                                               int(params.get("min_pixels") or 10))
        model.data = cleaned
        log.info("column_noise: %s: column offsets removed (rms %.3g, %d unmasked rows per column on average)",
                 where, float(np.sqrt(np.mean(offsets ** 2))), int((~mask).sum(axis=0).mean()))
        return model
