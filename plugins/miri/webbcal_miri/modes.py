"""The MIRI observing modes webbcal handles, as data (:class:`webbcal.modes.Mode`)."""
from webbcal.plugin_api import Mode, detector1_recipe

PLUGIN = "webbcal-miri"
INSTRUMENT = "MIRI"

LRS_RECIPE = ("assign_wcs", "flat_field", "photom", "extract_1d")
LRS_REFTYPES = {
    "assign_wcs": ("distortion", "specwcs"),
    "flat_field": ("flat",),
    "photom": ("photom",),
    # specwcs: the trace position the apertures follow
    "extract_1d": ("extract1d", "apcorr", "specwcs"),
}

#: product classes accepted: one image (fixed slit) or a cube of integrations (slitless);
#: the official pipeline writes the slitless calints as a SlitModel
LRS_KINDS = {"spec2": ("ImageModel", "CubeModel"), "extract_1d": ("ImageModel", "CubeModel", "SlitModel")}

#: stage 1 (raw ramps -> rates) in the official order; not yet: emicorr
#: (docs/detector1.md). MIRI has no superbias (the linearity works on the ramps as read);
#: its reference-pixel correction comes after the dark, on the interleaved amplifiers;
#: firstframe is in the recipe but skipped by default (rscd leaves out the first groups)
DETECTOR1, DETECTOR1_REFTYPES, DETECTOR1_KINDS = detector1_recipe(
    superbias=False, refpix=False, after={"saturation": ("firstframe", "lastframe", "reset"),
                                          "linearity": ("rscd",), "dark_current": ("refpix",)})
DETECTOR1_REFTYPES = {**DETECTOR1_REFTYPES, "reset": ("reset",), "rscd": ("rscd",)}
#: the four amplifiers read interleaved columns, reference columns at both edges
STAGE1_DEFAULTS = {"refpix": {"amplifier_layout": "interleaved"}}

LRS_FIXEDSLIT = Mode(
    instrument=INSTRUMENT,
    exp_types=("MIR_LRS-FIXEDSLIT",),
    name="lrs-fixedslit",
    plugin=PLUGIN,
    product="slit",
    pipeline="spec2",
    recipe=LRS_RECIPE,
    dispersion_axis=2,
    reftypes={**LRS_REFTYPES, **DETECTOR1_REFTYPES},
    model_kinds={**LRS_KINDS, **DETECTOR1_KINDS},
    detector1=DETECTOR1,
    step_defaults=STAGE1_DEFAULTS,
    keyword_values={"FILTER": ("P750L",)},
    detector_shape=(1024, 1032),
    description="MIRI LRS fixed slit (P750L prism), 5-14 micron",
    demo=True,
    use_source_posn=True,
)

LRS_SLITLESS = Mode(
    instrument=INSTRUMENT,
    exp_types=("MIR_LRS-SLITLESS",),
    name="lrs-slitless",
    plugin=PLUGIN,
    product="tso",
    pipeline="spec2",
    # time series: the white-light curve is written with the x1dints
    recipe=LRS_RECIPE + ("white_light",),
    dispersion_axis=2,
    reftypes={**LRS_REFTYPES, **DETECTOR1_REFTYPES},
    model_kinds={**LRS_KINDS, **DETECTOR1_KINDS},
    detector1=DETECTOR1,
    step_defaults=STAGE1_DEFAULTS,
    keyword_values={"FILTER": ("P750L",)},
    detector_shape=(1024, 1032),
    description="MIRI LRS slitless time series (SLITLESSPRISM subarray)",
    demo=True,
)

IMAGE = Mode(
    instrument=INSTRUMENT,
    exp_types=("MIR_IMAGE",),
    name="image",
    plugin=PLUGIN,
    product="image",
    pipeline="image2",
    recipe=("assign_wcs", "flat_field", "photom"),
    dispersion_axis=None,
    reftypes={
        "assign_wcs": ("distortion", "filteroffset"),
        "flat_field": ("flat",),
        "photom": ("photom", "area"),
        **DETECTOR1_REFTYPES,
    },
    model_kinds=DETECTOR1_KINDS,
    detector1=DETECTOR1,
    step_defaults=STAGE1_DEFAULTS,
    description="MIRI imaging (F560W-F2550W)",
    demo=True,
    keyword_values={"FILTER": ("F560W", "F770W", "F1000W", "F1130W", "F1280W", "F1500W", "F1800W",
                               "F2100W", "F2550W", "F2550WR", "FND", "OPAQUE")},
    detector_shape=(1024, 1032),
)

MODES = (LRS_FIXEDSLIT, LRS_SLITLESS, IMAGE)


def is_miri(mode):
    """True when ``mode`` belongs to this plugin."""
    return mode is not None and mode.instrument == INSTRUMENT and mode.plugin == PLUGIN


def is_lrs(mode):
    """True for the MIRI LRS (spectroscopic) modes."""
    return is_miri(mode) and mode.dispersion_axis is not None
