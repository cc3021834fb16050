"""``soss_background``: subtract a scaled background template from a SOSS exposure.

The SOSS background (zodiacal light through the GR700XD) has a known shape on the detector
with a sharp step along x; its level changes between visits. The template -- a SOSS BKG
reference (FITS, an image in the SCI or first image extension, in the frame of its SUBARRAY
keyword) or a user file of the same layout -- is scaled to the data, separately on either
side of its step: the scale of a side is the least-squares ratio ``sum(d t) / sum(t t)``
over that side's source-free pixels (outside every order's box widened by ``margin``
rows) of the mean image of the integrations, with pixels beyond 5 sigma of the fit dropped
twice. The scaled template is subtracted from every integration. Off by default, as in the
official pipeline: without a template -- a ``template`` file, or a BKG reference found in
WEBBCAL_REFS / CRDS (there is no embedded default) -- the step does nothing (status
SKIPPED); ``--steps.soss_background.template=FILE`` turns it on.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from webbcal.plugin_api import InputFileError, Param, Step, aperture_mask

from .refs import subarray_origin

log = logging.getLogger("webbcal.niriss")


class BackgroundTemplate:
    """A SOSS background template: the image and the subarray frame it is in."""

    def __init__(self, path, image, subarray):
        self.path, self.image, self.subarray = str(path), image, subarray

    def cut(self, model):
        """The template in the exposure's frame ``(ny, nx)``.

        Raises
        ------
        InputFileError
            The template does not cover the exposure's subarray.
        """
        tx, ty = subarray_origin(self.subarray, self.path)
        ex = int(model.get_keyword("SUBSTRT1") or 1)
        ey = int(model.get_keyword("SUBSTRT2") or 1)
        ny, nx = np.shape(model.data)[-2:]
        y0, x0 = ey - ty, ex - tx
        if y0 < 0 or x0 < 0 or y0 + ny > self.image.shape[0] or x0 + nx > self.image.shape[1]:
            raise InputFileError(self.path, f"the template ({self.subarray}, {self.image.shape}) does not cover "
                                            f"the exposure's {model.get_keyword('SUBARRAY')} subarray")
        return self.image[y0:y0 + ny, x0:x0 + nx]


def read_background(path):
    """Read a SOSS background template (the BKG reference layout: a FITS image in the SCI
    or first image extension, SUBARRAY in the primary header; a 3-D image's first plane).

    Raises
    ------
    InputFileError
        Not FITS or no 2-D image.
    """
    from astropy.io import fits

    path = Path(path)
    try:
        with fits.open(path) as hdul:
            hdu = hdul["SCI"] if "SCI" in hdul else next(h for h in hdul if getattr(h, "data", None) is not None
                                                          and np.ndim(h.data) in (2, 3))
            image = np.asarray(hdu.data, dtype=np.float64)
            sub = str(hdul[0].header.get("SUBARRAY", "SUBSTRIP256")).strip().upper()
    except (OSError, StopIteration, KeyError) as exc:
        raise InputFileError(path, f"not a background template (a FITS image): {exc}") from None
    if image.ndim == 3:
        image = image[0]
    if image.ndim != 2:
        raise InputFileError(path, f"the template is {image.ndim}-D, expected a 2-D image")
    return BackgroundTemplate(path, image, sub)


def read_background_template(path, model):
    """The template of file ``path`` in the exposure's frame ``(ny, nx)``."""
    return read_background(path).cut(model)


def step_column(template):
    """The column of the template's step: the largest jump of its row-median profile."""
    profile = np.nanmedian(template, axis=0)
    jumps = np.abs(np.diff(profile))
    jumps[~np.isfinite(jumps)] = 0
    return int(np.argmax(jumps)) + 1


def fit_scales(image, template, sky, step):
    """Least-squares scales of ``template`` to ``image`` over the ``sky`` pixels, left and
    right of column ``step`` (two 5-sigma clipping passes)."""
    scales = []
    cols = np.arange(image.shape[1])
    for side in (cols < step, cols >= step):
        use = sky & side[None, :] & np.isfinite(image) & np.isfinite(template)
        s = np.nan
        for _ in range(3):
            d, t = image[use], template[use]
            den = np.dot(t, t)
            if den <= 0 or d.size < 10:
                break
            s = np.dot(d, t) / den
            resid = image - s * template
            sd = 1.4826 * np.nanmedian(np.abs(resid[use] - np.nanmedian(resid[use])))
            if not sd > 0:
                break
            use = use & (np.abs(resid) < 5 * sd)
        scales.append(float(s))
    return scales


class SossBackgroundStep(Step):
    """Subtract a background template scaled to the source-free pixels on either side of
    its step (NIRISS SOSS; off by default)."""

    name = "soss_background"
    aliases = ("SossBackgroundStep",)
    suffix = "soss_background"
    spec = {
        "template": Param(str, None, "background template: FITS image in a SOSS subarray frame"),
        "margin": Param(float, 10.0, "rows kept clear on each side of every order's box", low=0),
        "step_column": Param(int, None, "column of the template's step (default: its largest jump)", low=1),
    }

    def process(self, model, mode, refs, params):
        from .extract import extraction_targets

        where = str(getattr(model, "path", None) or "<model>")
        if params.get("template"):
            template = read_background_template(params["template"], model)
        elif "bkg" in refs and refs.load("bkg") is not None:
            template = refs.load("bkg").cut(model)                 # the BKG reference (CRDS, WEBBCAL_REFS)
        else:
            log.info("soss_background: no template (template=FILE) and no BKG reference: no background subtracted")
            self.status = "SKIPPED"
            return model
        data = np.asarray(model.data, dtype=np.float32)
        cube = data if data.ndim == 3 else data[None]
        mean = cube.mean(axis=0, dtype=np.float64)
        targets = extraction_targets(model, mode, refs, {})
        sky = ~aperture_mask(targets, mean.shape, float(params.get("margin") or 0.0))
        step = int(params.get("step_column") or step_column(template))
        left, right = fit_scales(mean, template, sky, step)
        if not (np.isfinite(left) and np.isfinite(right)):
            raise InputFileError(where, "soss_background: too few source-free pixels to scale the template "
                                        f"(left {left}, right {right})")
        scaled = template * np.where(np.arange(template.shape[1]) < step, left, right)[None, :]
        model.data = (cube - scaled[None].astype(np.float32)).reshape(data.shape)
        model.set_keyword("SOSSBKGL", round(left, 6))
        model.set_keyword("SOSSBKGR", round(right, 6))
        log.info("soss_background: template scaled by %.4f left and %.4f right of column %d and subtracted",
                 left, right, step)
        return model
