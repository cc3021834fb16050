"""Stage 1 (``detector1``): raw ramps to count rates, in chunks of bounded memory.

The steps of the mode's ``detector1`` recipe say how they may be applied to pieces of an
exposure (their ``ramp_scope``):

- ``"integration"``: each integration on its own (dq_init, saturation, superbias, refpix,
  linearity, dark_current, MIRI firstframe / lastframe). The runner feeds them chunks of
  whole integrations, read from the (memory-mapped) input, and keeps the corrected ramps
  (float32) and GROUPDQ in scratch arrays: in memory when they fit in ``chunk_mb``, else
  in a temporary file beside the products (removed afterwards);
- ``"pixels"``: each pixel on its own with all its integrations (jump: its differences
  are pooled over the integrations), ``halo`` pixels of neighbours around a block (the
  four neighbours of a jump). The runner feeds them blocks of rows (and of columns when
  one row is too large) with that margin and keeps the block's inside;
- ``"fit"``: the ramp fit, per block; the blocks' rates and variances are put together
  into the rate and the rateints;
- ``"rates"``: on the rate and the rateints (gain_scale).

Every step resolves and reads its references once. The answers do not depend on the
chunking: each piece sees exactly the pixels and integrations its results depend on
(tests compare a chunked run with an unchunked one, flag for flag). A step without a
``ramp_scope`` (a plugin step written for whole exposures) makes the runner take the
exposure whole, as a plain pipeline does.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ParameterError
from .pipeline import Pipeline
from .step import Param, Step

log = logging.getLogger("webbcal.pipeline")

__all__ = ["Detector1Pipeline"]

#: bytes of work per value of a chunk of ramps (float64 temporaries of the corrections)
_WORK_BYTES_INTEGRATION = 32
#: and of a block of the pixel steps (differences, ratios, flags of jump; the fit's sums)
_WORK_BYTES_PIXELS = 160


class Detector1Pipeline(Pipeline):
    """Stage 1: raw ramps (uncal) to count rates -- the mode's ``detector1`` recipe (e.g.
    dq_init, saturation, superbias, refpix, linearity, dark_current, jump, ramp_fit,
    gain_scale); writes the rate and the rateints. Long exposures are processed in chunks
    of at most ``chunk_mb`` of working memory (module docstring)."""

    name = "detector1"
    aliases = ("calwebb_detector1", "Detector1Pipeline")
    suffix = "rate"
    open_memmap = True
    #: the chunks are read from the input and never written back into it
    modifies_input = False
    spec = {
        **Pipeline.spec,
        "chunk_mb": Param(float, 1024.0, "working memory (MB) a chunk of the ramps may take; larger exposures are "
                                         "processed integration by integration and block by block", low=16.0),
    }

    def recipe_for(self, mode):
        """The mode's stage-1 recipe."""
        if not mode.detector1:
            raise ParameterError(f"mode {mode.key} has no stage-1 (detector1) recipe in this plugin version")
        return mode.detector1

    def process(self, model, mode, refs, params):
        from . import get_step_class

        recipe = self.recipe_for(mode)
        classes = [get_step_class(name, self._host()) for name in recipe]
        if any(getattr(c, "ramp_scope", None) is None for c in classes) or params.get("background"):
            whole = [c.name for c in classes if getattr(c, "ramp_scope", None) is None]
            log.info("detector1: step(s) %s take the exposure whole: no chunks", ", ".join(whole) or "-")
            return super().process(model.copy(), mode, refs, params)
        self._check_recipe(recipe, mode)
        from ..steps.detector1 import require_ramps

        require_ramps(self, model, 1, fill=False)
        steps = [self._make_step(name, mode, params) for name in recipe]
        return _run_chunked(self, model, mode, steps, params)


def _run_chunked(pipe, model, mode, steps, params):
    """The recipe's steps over chunks of ``model`` (module docstring); the rate model."""
    t_start = time.perf_counter()
    budget = float(params["chunk_mb"]) * 2 ** 20
    nints, ngroups, ny, nx = np.shape(model.data)
    outdir = Path(params.get("output_dir") or ".")
    scratch = _Scratch(outdir, budget)
    pipe.products, pipe.step_parameters, pipe.saved = {}, {}, []
    try:
        # -- the steps' parameters and references, once (skipped steps drop out)
        active = []
        for step in steps:
            prepared = step.begin(model, mode)
            pipe.step_parameters[step.name] = getattr(step, "used_parameters", None) or step.parameters(mode)
            if prepared is not None:
                active.append((step, prepared[0], prepared[1]))
        scopes = [s.ramp_scope for s, _, _ in active]
        order = {"integration": 0, "pixels": 1, "fit": 2, "rates": 3}
        if [order[x] for x in scopes] != sorted(order[x] for x in scopes) or scopes.count("fit") != 1:
            raise ParameterError(f"mode {mode.key}: the detector1 recipe must run the per-integration corrections, "
                                 f"then jump, then one ramp_fit, then rate steps; it runs {[s.name for s, _, _ in active]}")
        int_steps = [a for a in active if a[0].ramp_scope == "integration"]
        pix_steps = [a for a in active if a[0].ramp_scope == "pixels"]
        fit_step, fit_params, fit_refs = next(a for a in active if a[0].ramp_scope == "fit")
        rate_steps = [a for a in active if a[0].ramp_scope == "rates"]

        # -- per-integration corrections, chunks of whole integrations
        data = scratch.array("ramps", (nints, ngroups, ny, nx), np.float32)
        gdq = scratch.array("groupdq", (nints, ngroups, ny, nx), np.uint8)
        per_int = ngroups * ny * nx * _WORK_BYTES_INTEGRATION
        k = int(max(1, min(nints, budget // max(per_int, 1))))
        pixeldq = None
        in_gdq = getattr(model, "groupdq", None)
        for i0 in range(0, nints, k):
            i1 = min(nints, i0 + k)
            chunk = _piece(model, np.asarray(model.data[i0:i1]),
                           np.zeros((i1 - i0, ngroups, ny, nx), np.uint8) if in_gdq is None
                           else np.array(in_gdq[i0:i1], dtype=np.uint8),
                           np.array(model.pixel_flags, dtype=np.uint32))
            chunk.integration_offset = i0
            for step, p, r in int_steps:
                chunk = step.process(chunk, mode, r, p) or chunk
            data[i0:i1] = chunk.data
            gdq[i0:i1] = chunk.groupdq
            pixeldq = np.asarray(chunk.pixel_flags, dtype=np.uint32) if pixeldq is None \
                else pixeldq | np.asarray(chunk.pixel_flags, dtype=np.uint32)
            if nints > k:
                log.info("detector1: integrations %d-%d of %d corrected", i0 + 1, i1, nints)
        del chunk

        # -- jump and the ramp fit, blocks of pixels with all their integrations
        halo = max([s.halo(p) for s, p, _ in pix_steps] or [0])
        # every block reads the flags as the corrections left them, never a neighbour
        # block's jump results: those go to their own array
        gdq_out = scratch.array("groupdq_jump", (nints, ngroups, ny, nx), np.uint8) if pix_steps else gdq
        fit = _FitAssembly(scratch, nints, ny, nx)
        per_pixel = nints * ngroups * _WORK_BYTES_PIXELS
        for rows, cols in _blocks(ny, nx, budget, per_pixel, halo):
            (r0, r1), (c0, c1) = rows, cols
            R0, R1, C0, C1 = max(0, r0 - halo), min(ny, r1 + halo), max(0, c0 - halo), min(nx, c1 + halo)
            block = _piece(model, np.asarray(data[:, :, R0:R1, C0:C1]), np.array(gdq[:, :, R0:R1, C0:C1]),
                           pixeldq[R0:R1, C0:C1], block=(slice(R0, R1), slice(C0, C1)))
            for step, p, r in pix_steps:
                block = step.process(block, mode, r, p) or block
            inside = (slice(None), slice(None), slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
            gdq_out[:, :, r0:r1, c0:c1] = block.groupdq[inside]
            core = _piece(model, block.data[inside], np.asarray(block.groupdq[inside]),
                          pixeldq[r0:r1, c0:c1], block=(slice(r0, r1), slice(c0, c1)))
            fit.put(fit_step.fit(core, fit_refs, fit_params), rows, cols)
        for step, _, _ in pix_steps:
            for what in ("snowballs", "showers"):
                if hasattr(step, what):
                    log.info("%s: %d %s flagged", step.name, getattr(step, what), what)
            if hasattr(step, "flagged"):
                log.info("%s: %d group(s) flagged JUMP_DET", step.name, step.flagged)

        # -- the products
        final = _piece(model, data, gdq_out, pixeldq)
        rate = fit_step.products(final, fit)
        ints = fit_step.side_products["rateints"]
        for step, _, _ in int_steps + pix_steps + [(fit_step, None, None)]:
            for m in (rate, ints):
                step.finish(m, record_only=True)
        for step, p, r in rate_steps:
            rate = step.process(rate, mode, r, p) or rate
            status = step.status
            ints = step.process(ints, mode, r, p) or ints
            step.status = status or step.status
            for m in (rate, ints):
                step.finish(m, record_only=True)
        for step in steps:      # skipped steps were recorded in the input model: in the products too
            if step not in [a[0] for a in active]:
                for m in (rate, ints):
                    step.record(m, "SKIPPED")
        rate.path = ints.path = getattr(model, "path", None)
        if getattr(model, "companions", None):
            rate.companions = list(model.companions)
        pipe.calibrated = rate
        pipe.products = {"cal": rate, "rateints": ints}
        if params["save_results"]:
            # rateints first, the rate last: the rate's presence says the run finished
            for product in (ints, rate):
                Step.save(pipe, product, pipe.input_path, dict(params))
        log.info("detector1: %d integration(s) x %d group(s) of %d x %d pixels in %.2f s", nints, ngroups, ny, nx,
                 time.perf_counter() - t_start)
        return rate
    finally:
        scratch.close()


def _piece(model, data, groupdq, pixeldq, block=None):
    """A ramp model of part of ``model`` (its keywords, these arrays); ``block``: the
    (row, column) slices of the exposure it covers, for the steps' references."""
    piece = type(model)(data=data)
    piece.update(model)
    piece.groupdq = groupdq
    piece.pixeldq = pixeldq
    piece.int_times = getattr(model, "int_times", None)
    piece.path = getattr(model, "path", None)
    piece.whole_exposure = model
    piece.block = block
    return piece


#: the smallest side (pixels) of a block of the pixel steps: below it a large margin
#: (snowballs) would be recomputed for too few pixels; the budget is then exceeded
MIN_BLOCK = 64


def _blocks(ny, nx, budget, per_pixel, halo):
    """``((r0, r1), (c0, c1))`` blocks covering the detector, each with its halo (cut at
    the exposure's edges) within ``budget`` bytes at ``per_pixel`` bytes a pixel: the
    whole exposure when it fits, else bands of whole rows, else square-ish tiles (with a
    margin wider than one pixel never narrower than ``MIN_BLOCK``, whatever the budget)."""
    if ny * nx * per_pixel <= budget:
        yield (0, ny), (0, nx)
        return
    rows = int(budget // max(per_pixel * nx, 1)) - 2 * halo
    if rows >= min(ny, MIN_BLOCK) or (rows >= 1 and halo <= 1):
        for r0 in range(0, ny, rows):
            yield (r0, min(ny, r0 + rows)), (0, nx)
        return
    # tiles within the budget; with a wide margin (snowballs) never narrower than
    # MIN_BLOCK, or the margins would be recomputed for a handful of pixels each
    side = max(int(np.sqrt(budget / max(per_pixel, 1))) - 2 * halo, MIN_BLOCK if halo > 1 else 1)
    rows, cols = min(ny, side), min(nx, side)
    if (min(ny, rows + 2 * halo) * min(nx, cols + 2 * halo) * per_pixel) > budget:
        log.info("detector1: blocks of %d x %d pixels with their margin of %d need %.0f MB, more than chunk_mb",
                 rows, cols, halo, min(ny, rows + 2 * halo) * min(nx, cols + 2 * halo) * per_pixel / 2 ** 20)
    for r0 in range(0, ny, rows):
        for c0 in range(0, nx, cols):
            yield (r0, min(ny, r0 + rows)), (c0, min(nx, c0 + cols))


class _Scratch:
    """Arrays of the run: in memory when they fit the budget, else memory-mapped
    temporary files in the output directory, removed when the run ends."""

    def __init__(self, outdir, budget):
        self.outdir = Path(outdir)
        self.budget = budget
        self.files = []
        self.in_memory = 0      # bytes of the scratch arrays held in memory

    def array(self, name, shape, dtype):
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if self.in_memory + nbytes <= self.budget / 2:     # the other half: the chunks' work
            self.in_memory += nbytes
            return np.zeros(shape, dtype)
        self.outdir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=f".webbcal_{name}_", suffix=".tmp", dir=self.outdir)
        os.close(fd)
        self.files.append(path)
        log.info("detector1: %s (%.0f MB) kept in %s while the run lasts", name, nbytes / 2 ** 20, path)
        return np.memmap(path, dtype=dtype, mode="w+", shape=tuple(shape))

    def close(self):
        for path in self.files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self.files = []


class _FitAssembly:
    """The ramp fits of the blocks put together: the attributes of a
    :class:`~webbcal.detector.ramp_fit.RampFit` over the whole exposure."""

    def __init__(self, scratch, nints, ny, nx):
        self.rate = np.zeros((ny, nx), np.float32)
        self.err = np.zeros((ny, nx), np.float32)
        self.var_poisson = np.zeros((ny, nx), np.float32)
        self.var_rnoise = np.zeros((ny, nx), np.float32)
        self.dq = np.zeros((ny, nx), np.uint32)
        self.rateints = scratch.array("rateints", (nints, ny, nx), np.float32)
        self.var_poisson_ints = scratch.array("var_poisson_ints", (nints, ny, nx), np.float32)
        self.var_rnoise_ints = scratch.array("var_rnoise_ints", (nints, ny, nx), np.float32)
        self.dq_ints = scratch.array("dq_ints", (nints, ny, nx), np.uint32)
        self.err_ints = scratch.array("err_ints", (nints, ny, nx), np.float32)

    def put(self, fit, rows, cols):
        r, c = slice(*rows), slice(*cols)
        for name in ("rate", "var_poisson", "var_rnoise", "dq", "err"):
            getattr(self, name)[r, c] = getattr(fit, name)
        for name in ("rateints", "var_poisson_ints", "var_rnoise_ints", "dq_ints", "err_ints"):
            getattr(self, name)[:, r, c] = getattr(fit, name)


