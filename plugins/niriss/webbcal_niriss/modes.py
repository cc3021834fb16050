"""The NIRISS observing modes webbcal handles, as data (:class:`webbcal.modes.Mode`)."""
from webbcal.plugin_api import Mode, ParamAlias, detector1_recipe

PLUGIN = "webbcal-niriss"
#: the box widths (pixels) ``soss_width=optimize`` tries
SOSS_WIDTHS = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
INSTRUMENT = "NIRISS"
#: stage 1 (raw ramps -> rates) of both modes, in the official order; not yet:
#: group_scale, persistence, charge_migration (docs/detector1.md)
DETECTOR1, DETECTOR1_REFTYPES, DETECTOR1_KINDS = detector1_recipe()
#: the NIRISS detector is read along the DMS rows (DMS = the readout frame turned and
#: transposed): refpix works in the readout frame
READOUT = {"refpix": {"readout_transposed": True}}

#: SOSS: the per-order flux conversion (PHOTOM) is applied to the extracted spectra, as
#: the official pipeline does for SOSS (the orders overlap on the detector, so no
#: per-pixel conversion exists); the time series gets its white light per order
SOSS = Mode(
    instrument=INSTRUMENT,
    exp_types=("NIS_SOSS",),
    name="soss",
    plugin=PLUGIN,
    product="tso",
    pipeline="spec2",
    # column_noise (1/f) is in the recipe but skipped unless asked for; soss_background and
    # soss_wave_shift do nothing (SKIPPED) unless given a template (off by default, as in
    # the official pipeline)
    # flat_field after the background, as calwebb_spec2 orders them for SOSS
    recipe=("assign_wcs", "soss_background", "flat_field", "column_noise", "extract_1d", "soss_wave_shift",
            "white_light"),
    dispersion_axis=1,
    reftypes={
        **DETECTOR1_REFTYPES,
        "assign_wcs": ("spectrace", "pastasoss"),
        "column_noise": ("spectrace", "pastasoss"),
        "soss_background": ("spectrace", "pastasoss", "bkg"),
        "flat_field": ("flat",),
        "extract_1d": ("spectrace", "pastasoss", "wavemap", "specprofile", "photom"),
    },
    model_kinds={**DETECTOR1_KINDS, "spec2": ("ImageModel", "CubeModel"), "extract_1d": ("ImageModel", "CubeModel")},
    detector1=DETECTOR1,
    # optimal extraction uses the plugin's per-order profiles and fits the orders jointly
    step_defaults={"extract_1d": {"profile_type": "plugin"}, "column_noise": {"skip": True}, **READOUT},
    # the official pipeline's name for the SOSS box width
    parameter_aliases={"extract_1d": {"soss_width": ParamAlias(
        "extract_width", doc="SOSS box width in pixels (default 40, as the official soss_width), or 'optimize': "
                             "the width of lowest white-light scatter among " + ", ".join(map(str, SOSS_WIDTHS)),
        values={"optimize": ("optimize_width", list(SOSS_WIDTHS))})}},
    keyword_values={"PUPIL": ("GR700XD",), "FILTER": ("CLEAR", "F277W")},
    detector_shape=(2048, 2048),
    description="NIRISS SOSS time series (GR700XD; SUBSTRIP256, SUBSTRIP96, FULL)",
    demo=True,
)

#: imaging: the short-wavelength filters sit in the pupil wheel (FILTER=CLEAR), the
#: long-wavelength ones in the filter wheel (PUPIL=CLEARP)
IMAGE = Mode(
    instrument=INSTRUMENT,
    exp_types=("NIS_IMAGE",),
    name="image",
    plugin=PLUGIN,
    product="image",
    pipeline="image2",
    recipe=("assign_wcs", "flat_field", "photom"),
    dispersion_axis=None,
    reftypes={
        **DETECTOR1_REFTYPES,
        "assign_wcs": ("distortion", "filteroffset"),
        "flat_field": ("flat",),
        "photom": ("photom", "area"),
    },
    model_kinds=DETECTOR1_KINDS,
    detector1=DETECTOR1,
    step_defaults=READOUT,
    keyword_values={"FILTER": ("CLEAR", "F277W", "F356W", "F380M", "F430M", "F444W", "F480M"),
                    "PUPIL": ("CLEARP", "F090W", "F115W", "F140M", "F150W", "F158M", "F200W")},
    detector_shape=(2048, 2048),
    description="NIRISS imaging (F090W-F480M)",
    demo=True,
)

MODES = (SOSS, IMAGE)


def is_soss(mode):
    """Whether ``mode`` is the SOSS time-series mode."""
    return mode is SOSS or (mode is not None and "NIS_SOSS" in mode.exp_types)
