"""The FGS observing modes webbcal handles, as data (:class:`webbcal.modes.Mode`)."""
from webbcal.plugin_api import Mode, detector1_recipe

PLUGIN = "webbcal-fgs"
INSTRUMENT = "FGS"
FULL_SHAPE = (2048, 2048)
#: stage 1 of FGS imaging (raw ramps -> rates), in the official order; the guider modes
#: have their own pipeline (guider_cds)
DETECTOR1, DETECTOR1_REFTYPES, DETECTOR1_KINDS = detector1_recipe()

#: FGS imaging: no photom (FGS has no photometric calibration) -- the recipe says so
IMAGE = Mode(
    instrument=INSTRUMENT,
    exp_types=("FGS_IMAGE",),
    name="image",
    plugin=PLUGIN,
    product="image",
    pipeline="image2",
    recipe=("assign_wcs", "flat_field"),
    dispersion_axis=None,
    reftypes={**DETECTOR1_REFTYPES, "assign_wcs": ("distortion",), "flat_field": ("flat",)},
    model_kinds=DETECTOR1_KINDS,
    detector1=DETECTOR1,
    keyword_values={"DETECTOR": ("GUIDER1", "GUIDER2")},
    detector_shape=FULL_SHAPE,
    description="FGS imaging (GUIDER1, GUIDER2; no photometric calibration)",
    demo=True,
)

#: the guider modes: raw guider ramps -> one count-rate plane per integration
GUIDER_EXP_TYPES = ("FGS_ID-IMAGE", "FGS_ID-STACK", "FGS_ACQ1", "FGS_ACQ2", "FGS_TRACK", "FGS_FINEGUIDE")

GUIDER = Mode(
    instrument=INSTRUMENT,
    exp_types=GUIDER_EXP_TYPES,
    name="guider",
    plugin=PLUGIN,
    product="image",
    pipeline="guider",
    recipe=("dq_init", "guider_cds", "flat_field"),
    dispersion_axis=None,
    reftypes={"dq_init": ("mask",), "guider_cds": ("gain", "readnoise"), "flat_field": ("flat",)},
    model_kinds={"guider": ("Level1bModel", "GuiderRawModel", "RampModel"),
                 "dq_init": ("Level1bModel", "GuiderRawModel", "RampModel"),
                 "guider_cds": ("Level1bModel", "GuiderRawModel", "RampModel")},
    keyword_values={"DETECTOR": ("GUIDER1", "GUIDER2")},
    detector_shape=FULL_SHAPE,
    description="FGS guider data (ID, ACQ1/2, TRACK, FINEGUIDE): guider ramps to count rates",
)

MODES = (IMAGE, GUIDER)
