"""In-memory models of JWST products and their FITS/ASDF files.

Public API::

    from webbcal import datamodels as dm
    model = dm.open("jw..._calints.fits")          # the right class, by DATAMODL
    model.meta.instrument.name, model.data, model.dq & dm.DQ.DO_NOT_USE
    model.save("out_calints.fits")                  # atomic write

Classes mirror the official JWST datamodels' names and attributes.
"""
from .asdf_io import WcsUnavailableWarning
from .dqflags import DQ, dq_from_names, interpret_dq_def
from .fileio import MODEL_CLASSES, model_class_for, open
from .fitstable import read_table
from .meta import KEYWORDS, REFTYPE_ABBREVIATIONS, STEP_ABBREVIATIONS, Meta, reftype_keyword, step_keyword
from .models import (
    ARRAY_EXTENSIONS,
    SLIT_KEYWORDS,
    CubeModel,
    DataModel,
    GuiderCalModel,
    GuiderRawModel,
    ImageModel,
    Level1bModel,
    MultiSlitModel,
    OutputExistsError,
    RampModel,
    SlitModel,
    slits_of,
)
from .spectra import SPEC_KEYWORDS, CombinedSpec, MultiCombinedSpecModel, MultiSpecModel, SpecModel, TSOMultiSpecModel
from .tables import (
    INT_TIMES_COLUMNS,
    SPEC_COLUMNS,
    SPEC_UNITS,
    TSO_SCALAR_COLUMNS,
    int_times_table,
    new_int_times,
    new_spec_table,
    new_tso_spec_table,
)

__all__ = [
    "open",
    "read_table",
    "model_class_for",
    "MODEL_CLASSES",
    "DataModel",
    "ImageModel",
    "CubeModel",
    "SlitModel",
    "MultiSlitModel",
    "SpecModel",
    "MultiSpecModel",
    "TSOMultiSpecModel",
    "MultiCombinedSpecModel",
    "CombinedSpec",
    "RampModel",
    "Level1bModel",
    "GuiderRawModel",
    "GuiderCalModel",
    "Meta",
    "KEYWORDS",
    "STEP_ABBREVIATIONS",
    "REFTYPE_ABBREVIATIONS",
    "step_keyword",
    "reftype_keyword",
    "ARRAY_EXTENSIONS",
    "SLIT_KEYWORDS",
    "SPEC_KEYWORDS",
    "DQ",
    "interpret_dq_def",
    "dq_from_names",
    "WcsUnavailableWarning",
    "OutputExistsError",
    "slits_of",
    "SPEC_COLUMNS",
    "TSO_SCALAR_COLUMNS",
    "INT_TIMES_COLUMNS",
    "SPEC_UNITS",
    "new_spec_table",
    "new_tso_spec_table",
    "new_int_times",
    "int_times_table",
]
