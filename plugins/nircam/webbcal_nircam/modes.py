"""The NIRCam observing modes webbcal handles, as data (:class:`webbcal.modes.Mode`)."""
from webbcal.plugin_api import Mode, detector1_recipe

from .detector import FULL_SHAPE

PLUGIN = "webbcal-nircam"
INSTRUMENT = "NIRCAM"

SW_FILTERS = ("F070W", "F090W", "F115W", "F140M", "F150W", "F150W2", "F162M", "F164N", "F182M", "F187N",
              "F200W", "F210M", "F212N")
LW_FILTERS = ("F250M", "F277W", "F300M", "F322W2", "F323N", "F335M", "F356W", "F360M", "F405N", "F410M",
              "F430M", "F444W", "F460M", "F466N", "F470N", "F480M")
IMAGING_REFTYPES = {"assign_wcs": ("distortion", "filteroffset"), "flat_field": ("flat",), "photom": ("photom", "area")}
#: stage 1 (raw ramps -> rates) of every NIRCam mode here (docs/detector1.md)
DETECTOR1, DETECTOR1_REFTYPES, DETECTOR1_KINDS = detector1_recipe()

IMAGE = Mode(
    instrument=INSTRUMENT,
    exp_types=("NRC_IMAGE",),
    name="image",
    plugin=PLUGIN,
    product="image",
    pipeline="image2",
    recipe=("assign_wcs", "flat_field", "photom"),
    dispersion_axis=None,
    reftypes={**IMAGING_REFTYPES, **DETECTOR1_REFTYPES},
    model_kinds=DETECTOR1_KINDS,
    detector1=DETECTOR1,
    keyword_values={"FILTER": SW_FILTERS + LW_FILTERS},
    detector_shape=FULL_SHAPE,
    description="NIRCam imaging (short- and long-wavelength detectors)",
    demo=True,
)

TSIMAGE = Mode(
    instrument=INSTRUMENT,
    exp_types=("NRC_TSIMAGE",),
    name="tsimage",
    plugin=PLUGIN,
    product="tso",
    pipeline="image2",
    # the calibration of imaging on calints, then aperture photometry per integration
    recipe=("assign_wcs", "flat_field", "photom", "tso_photometry"),
    dispersion_axis=None,
    reftypes={**IMAGING_REFTYPES, **DETECTOR1_REFTYPES},
    model_kinds={"image2": ("CubeModel", "ImageModel"), **DETECTOR1_KINDS},
    detector1=DETECTOR1,
    keyword_values={"FILTER": SW_FILTERS + LW_FILTERS},
    detector_shape=FULL_SHAPE,
    description="NIRCam time-series imaging (aperture photometry per integration)",
    demo=True,
)

#: filters used with the row grism in time series
GRISM_FILTERS = ("F277W", "F322W2", "F356W", "F444W")

TSGRISM = Mode(
    instrument=INSTRUMENT,
    exp_types=("NRC_TSGRISM",),
    name="tsgrism",
    plugin=PLUGIN,
    product="tso",
    pipeline="spec2",
    # column_noise (1/f) is skipped unless asked for; photom before extract_1d (per pixel,
    # at each column's wavelength), as the official pipeline does for NIRCam grisms
    recipe=("assign_wcs", "column_noise", "flat_field", "photom", "extract_1d", "white_light"),
    dispersion_axis=1,
    reftypes={"assign_wcs": ("specwcs",), "column_noise": ("specwcs",), "flat_field": ("flat",),
              "photom": ("photom",), "extract_1d": ("specwcs",), **DETECTOR1_REFTYPES},
    model_kinds={"spec2": ("ImageModel", "CubeModel"), "extract_1d": ("ImageModel", "CubeModel"), **DETECTOR1_KINDS},
    detector1=DETECTOR1,
    step_defaults={"column_noise": {"skip": True}},
    keyword_values={"PUPIL": ("GRISMR",), "FILTER": GRISM_FILTERS},
    detector_shape=FULL_SHAPE,
    description="NIRCam grism time series (GRISMR; SUBGRISM64/128/256, full frame)",
    demo=True,
)

MODES = (IMAGE, TSIMAGE, TSGRISM)
