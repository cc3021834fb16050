"""spec3: the products of an association -- several exposures of one source -- as one.

For every product of a spec3 association (or of a plain list of files, one product named
after the first), the science members give their spectra: an x1d / x1dints member is
taken as it is; a calibrated member (cal / calints, s2d) is extracted first with the
extract_1d step and its mode's defaults. Then

- spectra (x1d): :mod:`webbcal.steps.combine_1d` makes one spectrum per source and order
  on a common wavelength grid, written as ``<product>_c1d.fits``;
- time series (x1dints): the members' integrations are joined in time order into one
  ``<product>_x1dints.fits`` (each integration once: two members holding the same
  integration number of one exposure are an error) and its white-light curve
  ``<product>_whtlt.ecsv`` (+ PNG) is written.

A member that cannot be used (missing, truncated, not a spectrum, no extraction) is
reported and left out; the product is made from the others, and fails only when none is
left. Nothing here names an instrument.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ParameterError, WebbcalError
from .segments import SEGMENT_PATTERN
from .step import Param, Step, root_name

log = logging.getLogger("webbcal.step")

__all__ = ["Spec3Pipeline", "join_time_series", "product_for_files"]


def product_for_files(paths):
    """An association of one product from plain files: named after the first file's
    root without its suffix and segment number."""
    from ..association import Association, Member, Product

    paths = [Path(p) for p in paths]
    if not paths:
        raise ParameterError("spec3: no input files")
    root = root_name(paths[0])
    for suffix in ("_x1dints", "_x1d", "_calints", "_cal", "_s2d"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
            break
    root = SEGMENT_PATTERN.sub("", root, count=1)
    members = [Member(p.name, "science", p.resolve()) for p in paths]
    return Association(paths[0].parent / f"{root}_asn.json", "spec3", "", "", [Product(root, members)])


def _key(spec, index):
    name = getattr(spec, "name", None)
    order = getattr(spec, "spectral_order", None)
    return (name if name is not None else index, order)


def join_time_series(models, paths):
    """One TSOMultiSpecModel over the integrations of several x1dints (members in time
    order; each spectrum matched by slit name and order).

    Raises
    ------
    InputFileError
        A member without the others' spectra, or an integration number held twice.
    """
    def start(model):
        t = model.spec[0].spec_table
        for col in ("MJD-BEG", "TDB-BEG"):
            if col in t.dtype.names and np.isfinite(t[col]).any():
                return float(np.nanmin(t[col]))
        return float(np.min(t["INT_NUM"])) if "INT_NUM" in t.dtype.names else 0.0

    order = sorted(range(len(models)), key=lambda k: start(models[k]))
    models = [models[k] for k in order]
    paths = [paths[k] for k in order]
    first = models[0]
    out = first.copy()
    keys = [_key(s, i) for i, s in enumerate(first.spec)]
    for k, spec in enumerate(out.spec):
        tables = []
        for model, path in zip(models, paths):
            match = [s for i, s in enumerate(model.spec) if _key(s, i) == keys[k]]
            if not match:
                raise InputFileError(path or "<in memory>", f"has no spectrum {keys[k][0]} order {keys[k][1]}, which "
                                                           "the first member has: members must be the same observation")
            t = match[0].spec_table
            if t.dtype != first.spec[k].spec_table.dtype:
                raise InputFileError(path or "<in memory>", "its x1dints table has other columns or another number "
                                                           "of wavelengths than the first member's")
            tables.append(t)
        table = np.concatenate(tables)
        nums = table["INT_NUM"]
        uniq, counts = np.unique(nums, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            raise InputFileError(paths[0] or "<in memory>",
                                 f"integration(s) {', '.join(map(str, dup[:5]))} appear in more than one member: "
                                 "the members of a time-series product are the segments of one exposure")
        spec.spec_table = table
    times = [m.int_times for m in models if getattr(m, "int_times", None) is not None]
    if len(times) == len(models):
        it = np.concatenate(times)
        _, first_idx = np.unique(it["integration_number"], return_index=True)
        out.int_times = it[np.sort(first_idx)]
    ints = out.spec[0].spec_table["INT_NUM"]
    out.meta.exposure.integration_start = int(ints.min())
    out.meta.exposure.integration_end = int(ints.max())
    return out


class Spec3Pipeline(Step):
    """Stage 3 of spectra: combine the x1d of a product's exposures (c1d), or join its
    time-series members (x1dints + white light)."""

    name = "spec3"
    aliases = ("calwebb_spec3", "Spec3Pipeline", "tso3", "calwebb_tso3", "Tso3Pipeline")
    needs_mode = False
    takes_spectra = True
    #: the CLI runs this per association product, not per member
    per_product = True
    spec = {
        "exptime_key": Param(str, "integration_time",
                             "combine_1d weight of each exposure: integration_time (EFFINTTM, official default), "
                             "exposure_time (EFFEXPTM), unit_weight, or inverse_variance"),
        "white_light": Param(bool, True, "write the white-light curve of a time-series product"),
    }

    def run(self, input):
        """Run on an association (path or :class:`~webbcal.association.Association`), a
        list of files (one product), or one file; the product model (a list of them for
        an association of several products)."""
        from ..association import Association, is_association, read_association

        self.saved = []
        self.member_failures = []
        items = list(input) if isinstance(input, (list, tuple)) else [input]
        if items and all(hasattr(x, "meta") for x in items):     # models in memory: one product
            name = root_name(getattr(items[0].meta, "filename", None) or "webbcal")
            spectra = [self._extract(x) for x in items]
            return self.make_product(name, spectra, [getattr(x, "path", None) for x in items])
        if isinstance(input, Association):
            asn = input
        elif is_association(input):
            asn = read_association(input)
        else:
            asn = product_for_files(items)
        models = [self.run_product(product) for product in asn.products]
        return models[0] if len(models) == 1 else models

    def run_product(self, product):
        """Make one product; its model. Members that fail are logged and listed in
        ``self.member_failures`` (member, error) and left out."""
        members = product.science()
        if not members:
            raise InputFileError(product.name, "the product has no science member")
        spectra, paths = [], []
        for member in members:
            try:
                if not member.path.is_file():
                    raise InputFileError(member.path, "association member not found (paths are relative to the "
                                                      "association's folder)")
                spectra.append(self._extract(member.path))
                paths.append(member.path)
            except WebbcalError as exc:
                log.error("spec3: %s: member %s left out: %s", product.name, member.expname, exc)
                self.member_failures.append((product.name, member.expname, str(exc)))
        if not spectra:
            raise WebbcalError(f"spec3: product {product.name}: no usable science member "
                               f"({len(members)} given, all failed)")
        return self.make_product(product.name, spectra, paths)

    def make_product(self, name, spectra, paths):
        """The product ``name`` from the members' spectra (x1d or x1dints models; their
        paths, None for models in memory): combined or joined, and written."""
        from .. import datamodels
        from ..steps.combine_1d import combine_models

        params = self.parameters()
        paths = [p if p is not None else f"<member {k + 1}>" for k, p in enumerate(paths)]
        inputs = [p for p in paths if not str(p).startswith("<")]
        tso = [isinstance(s, datamodels.TSOMultiSpecModel) for s in spectra]
        outdir = Path(params.get("output_dir") or ".")
        save = params.get("save_results") is not False
        if all(tso):
            result = join_time_series(spectra, paths)
            result.meta.cal_step.combine_1d = "SKIPPED"
            if save:
                self._write(result, outdir / f"{name}_x1dints.fits", inputs)
            if params.get("white_light"):
                from ..steps.white_light import WhiteLightStep

                wl = WhiteLightStep(save_results=save, output_dir=str(outdir), output_file=name, host=self.host)
                self.white_light = wl.run(result)
                self.saved += list(getattr(wl, "saved", []) or [])
        elif not any(tso):
            result = combine_models(spectra, paths, params["exptime_key"])
            result.meta.cal_step.combine_1d = "COMPLETE"
            if save:
                self._write(result, outdir / f"{name}_c1d.fits", inputs)
        else:
            raise InputFileError(paths[tso.index(False)], "is a single spectrum but other members of the product are "
                                                          "time series: a product is one kind")
        return result

    def _extract(self, path):
        from .. import datamodels
        from ..steps.extract_1d import Extract1dStep

        model = datamodels.open(path)
        if isinstance(model, datamodels.MultiCombinedSpecModel):
            raise InputFileError(path, "is already a combined (c1d) spectrum")
        if isinstance(model, datamodels.MultiSpecModel):
            return model
        return Extract1dStep(save_results=False, host=self.host).run(model)

    def _write(self, model, path, inputs):
        if any(Path(path).resolve() == Path(p).resolve() for p in inputs):
            raise WebbcalError(f"{path}: refusing to overwrite an input file; choose another --output-dir")
        model.meta.filename = Path(path).name
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        model.save(path, overwrite=True, inputs=tuple(inputs))
        log.info("spec3: saved %s", path)
        self.saved.append(path)
