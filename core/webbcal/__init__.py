"""webbcal: calibration and spectral extraction for JWST exposures.

Python API::

    import webbcal
    model = webbcal.open("jw..._rate.fits")
    x1d = webbcal.run("spec2", "jw..._rate.fits", steps={"extract_1d": {"extraction_type": "optimal"}})
    x1d = webbcal.run("extract_1d", model, xstart=30, xstop=40)
    c1d = webbcal.run("spec3", "jw..._spec3_asn.json")
    rows = webbcal.run_association("spec2", "jw..._spec2_asn.json", jobs=2)
"""
from ._version import __version__

__all__ = ["open", "run", "run_association", "__version__"]


def open(path, **kwargs):  # noqa: A001 - mirrors datamodels.open
    """Open a JWST product (rate, rateints, cal, calints, s2d, x1d, x1dints...) as a model.

    Parameters
    ----------
    path : str or Path
        The file (FITS, or ASDF for the products that are).
    **kwargs
        Passed to :func:`webbcal.datamodels.open` (e.g. ``memmap=True``).

    Returns
    -------
    DataModel
        The class named by the file's DATAMODL keyword (or its layout).
    """
    from . import datamodels

    return datamodels.open(path, **kwargs)


def run(step, input, config_file=None, **params):
    """Run a step or pipeline by name or alias on a path or model; return the result.

    Keyword parameters are the step's parameters (``override_<reftype>`` included);
    for pipelines, ``steps={"extract_1d": {...}}`` sets step parameters.  When a
    pipeline's recipe ends in an extraction step, the returned object is the
    spectrum product (x1d / x1dints); the calibrated model is ``result.calibrated``
    of the pipeline instance (use :func:`webbcal.pipeline.get_step_class` for that).
    Results are not saved unless ``save_results=True``.

    Parameters
    ----------
    step : str
        Step or pipeline name or alias (``"spec2"``, ``"extract_1d"``, ...).
    input : str, Path, DataModel or list of them
        The exposure; a list holds the segments of one time-series exposure, joined into
        one product over all their integrations (spec3: the exposures of one product).
        An association (``_asn.json``), or ``jobs`` / ``scheduler`` among the
        parameters, runs :func:`run_association` and returns its rows.
    config_file : str or Path, optional
        A parameter file (ASDF or JSON), below keyword parameters in precedence.
    **params
        Step parameters.

    Returns
    -------
    DataModel
        The product.

    Raises
    ------
    ParameterError
        A bad step name, input or parameter.
    """
    import os

    from .errors import ParameterError
    from .pipeline import Pipeline, get_step_class

    if not isinstance(step, str):
        raise ParameterError(f"webbcal.run: step must be a step or pipeline name (str), got {type(step).__name__}")
    items = list(input) if isinstance(input, (list, tuple)) else [input]
    for item in items:
        if not isinstance(item, (str, os.PathLike)) and not hasattr(item, "meta"):
            raise ParameterError(f"webbcal.run({step!r}, ...): input must be a file path or a model from "
                                 f"webbcal.open() (or a list of them: the segments of one exposure), "
                                 f"got {type(item).__name__}")
    if "steps" in params and not isinstance(params["steps"], dict):
        raise ParameterError(f"webbcal.run({step!r}, ...): steps must be a dict "
                             f"{{step name: {{parameter: value}}}}, got {params['steps']!r}")
    for name, pars in (params.get("steps") or {}).items():
        if not isinstance(pars, dict):
            raise ParameterError(f"webbcal.run({step!r}, ...): steps[{name!r}] must be a dict of parameters, "
                                 f"got {pars!r}")
    cls = get_step_class(step)
    from .association import is_association

    parallel = {k: params.pop(k) for k in ("jobs", "scheduler") if k in params}
    if (is_association(input) and not getattr(cls, "per_product", False)) or parallel:
        # an association (or parallel members): each member's products written, one row each
        return run_association(step, input, config_file=config_file, **parallel, **params)
    params.setdefault("save_results", False)
    instance = cls(config_file=config_file, **params)
    result = instance.run(input)
    if isinstance(instance, Pipeline):
        products = getattr(instance, "products", {})
        for name in ("extract_1d", "white_light"):
            if name in products:
                return products[name]
    return result


def run_association(step, association, config_file=None, jobs=None, scheduler=None, progress=None, **params):
    """Run a step or pipeline over an association and write its products, as
    ``webbcal run STEP asn.json`` does: a stage-2 pipeline (or step) on every science
    member, a product-level pipeline (spec3) on every product; one failure does not stop
    the others.

    Parameters
    ----------
    step : str
        Step or pipeline name or alias.
    association : str, Path, Association or list of paths
        An association file (official JSON layout), a read
        :class:`~webbcal.association.Association`, or a list of files run as separate
        exposures (spec3: as the members of one product).
    config_file : str or Path, optional
        A parameter file.
    jobs : int, optional
        Run on a local Dask cluster of this many processes (``webbcal[dask]``).
    scheduler : str, optional
        Run on the Dask cluster at this address.
    progress : callable, optional
        ``progress(done, total, row)`` after each member (product).
    **params
        Step parameters (``save_results`` is True unless given).

    Returns
    -------
    list of MemberResult
        One row per member (per product and left-out member for spec3): ``status``
        ``ok`` with the ``outputs`` written, or ``failed`` with the ``error``.
    """
    from pathlib import Path

    from .association import Association, StepFactory, files_association, read_association, run_members, run_products
    from .pipeline import get_step_class
    from .pipeline.spec3 import product_for_files

    cls = get_step_class(step)
    per_product = getattr(cls, "per_product", False)
    if isinstance(association, Association):
        asn = association
    elif isinstance(association, (list, tuple)):
        files = [str(Path(f)) for f in association]
        asn = product_for_files(files) if per_product else files_association(files)
    else:
        asn = read_association(association)
    runner = run_products if per_product else run_members
    return runner(asn, StepFactory(cls, config_file, params), jobs=jobs, scheduler=scheduler, progress=progress)
