"""Thin construction helpers over :mod:`webbcal.datamodels` used by this plugin."""
from __future__ import annotations

import numpy as np

__all__ = ["set_keywords", "new_image", "new_cube", "new_slit", "new_multislit"]


def set_keywords(model, keywords, hdu="PRIMARY"):
    """Write ``keywords`` (name -> value, None skipped) into header ``hdu`` of ``model``, numpy scalars
    as Python values."""
    for key, value in keywords.items():
        if value is None:
            continue
        if isinstance(value, (np.floating, np.integer, np.bool_)):
            value = value.item()
        model.set_keyword(key, value, hdu) if _takes_hdu(model) else model.set_keyword(key, value)


def _takes_hdu(model):
    import inspect

    try:
        return len(inspect.signature(model.set_keyword).parameters) >= 3
    except (TypeError, ValueError):
        return False


def _arrays(model, **arrays):
    for name, arr in arrays.items():
        if arr is not None:
            setattr(model, name, arr)
    return model


def new_image(data, var_poisson, var_rnoise, keywords):
    """A NIRSpec ImageModel (rate) with its variances and primary keywords."""
    from webbcal.plugin_api import datamodels as dm

    data = np.asarray(data, np.float32)
    model = dm.ImageModel(data=data)
    err = np.sqrt(np.asarray(var_poisson) + np.asarray(var_rnoise)).astype(np.float32)
    _arrays(model, err=err, dq=np.zeros(data.shape, np.uint32), var_poisson=np.asarray(var_poisson, np.float32),
            var_rnoise=np.asarray(var_rnoise, np.float32))
    set_keywords(model, keywords)
    return model


def new_cube(data, var_poisson, var_rnoise, keywords, int_times=None):
    """A NIRSpec CubeModel (rateints) with its variances, primary keywords and INT_TIMES."""
    from webbcal.plugin_api import datamodels as dm

    data = np.asarray(data, np.float32)
    model = dm.CubeModel(data=data)
    err = np.sqrt(np.asarray(var_poisson) + np.asarray(var_rnoise)).astype(np.float32)
    _arrays(model, err=err, dq=np.zeros(data.shape, np.uint32), var_poisson=np.asarray(var_poisson, np.float32),
            var_rnoise=np.asarray(var_rnoise, np.float32))
    set_keywords(model, keywords)
    if int_times is not None:
        names = list(int_times)
        table = np.zeros(len(int_times[names[0]]), dtype=[(n, np.int32 if n == "integration_number" else np.float64) for n in names])
        for n in names:
            table[n] = int_times[n]
        model.int_times = table
    return model


def new_slit(**arrays):
    """A SlitModel from its arrays (``data`` and any of the other extensions, by attribute name)."""
    from webbcal.plugin_api import datamodels as dm

    return _arrays(dm.SlitModel(data=arrays.pop("data")), **arrays)


def new_multislit(source_model):
    """An empty MultiSlitModel with the headers of ``source_model``."""
    from webbcal.plugin_api import datamodels as dm

    out = dm.MultiSlitModel()
    out.update(source_model)
    return out
