"""The NIRSpec observing modes this plugin declares (data, not code paths)."""
from webbcal.plugin_api import Mode, detector1_recipe

PLUGIN = "webbcal-nirspec"

#: reference types of the optical model, read by assign_wcs (and extract_2d, which
#: rebuilds a slit's WCS when the model arrives without one, e.g. read from disk)
WCS_REFTYPES = ("fpa", "camera", "collimator", "disperser", "msa", "fore", "ote", "wavelengthrange")

GRATINGS = ("G140M", "G140H", "G235M", "G235H", "G395M", "G395H", "PRISM")
FILTERS = ("F070LP", "F100LP", "F170LP", "F290LP", "CLEAR")

#: JWST calwebb_spec2 order: wavecorr (a step of this plugin) after the cut-outs and
#: before the flat, which is synthesised at the corrected wavelengths
_SPEC2_RECIPE = ("assign_wcs", "extract_2d", "wavecorr", "flat_field", "photom", "extract_1d")


#: stage 1 (raw ramps -> rates) of every NIRSpec mode: the official order; traditional
#: readouts only (IRS2 is refused by refpix, docs/detector1.md)
DETECTOR1, DETECTOR1_REFTYPES, DETECTOR1_KINDS = detector1_recipe()


#: NRS1 and NRS2 are read along the DMS rows (the detector frame is the DMS one
#: transposed): refpix works in the readout frame
_STEP_DEFAULTS = {"refpix": {"readout_transposed": True}}


def _reftypes():
    return {
        **DETECTOR1_REFTYPES,
        "assign_wcs": WCS_REFTYPES,
        "extract_2d": WCS_REFTYPES,
        "wavecorr": ("wavecorr",),
        "flat_field": ("fflat", "sflat", "dflat"),
        "photom": ("photom", "area"),
        # no embedded defaults: the plugin's aperture defaults apply, no aperture correction
        "extract_1d": ("extract1d", "apcorr"),
    }


#: product classes each step / pipeline accepts: count-rate images (a cube for BOTS) into
#: spec2; cut-outs into extract_1d, as a multi-slit product or as one slit on its own (a
#: MOS slitlet or fixed-slit source written alone, one slit's s2d, an official BOTS calints)
_KINDS = {
    **DETECTOR1_KINDS,
    "spec2": ("ImageModel",),
    "extract_1d": ("MultiSlitModel", "SlitModel"),
}
_KINDS_TSO = dict(_KINDS, spec2=("ImageModel", "CubeModel"))
#: the optical elements the plugin models; anything else is refused by name
_KEYWORDS = {"GRATING": GRATINGS, "FILTER": FILTERS}
_DETECTOR = (2048, 2048)


FIXED_SLIT = Mode(
    instrument="NIRSPEC", exp_types=("NRS_FIXEDSLIT",), name="fixedslit", plugin=PLUGIN,
    product="multislit", pipeline="spec2", recipe=_SPEC2_RECIPE, dispersion_axis=1,
    reftypes=_reftypes(), step_defaults=_STEP_DEFAULTS, model_kinds=_KINDS, keyword_values=_KEYWORDS, detector_shape=_DETECTOR,
    detector1=DETECTOR1,
    description="NIRSpec fixed slits S200A1/A2, S400A1, S1600A1, S200B1 (gratings and PRISM)",
    demo=True,
    use_source_posn=True,  # the official default for NIRSpec FS, MOS and BOTS point sources
)

MOS = Mode(
    instrument="NIRSPEC", exp_types=("NRS_MSASPEC",), name="mos", plugin=PLUGIN,
    product="multislit", pipeline="spec2", recipe=_SPEC2_RECIPE, dispersion_axis=1,
    reftypes=_reftypes(), step_defaults=_STEP_DEFAULTS, model_kinds=_KINDS, keyword_values=_KEYWORDS, detector_shape=_DETECTOR,
    detector1=DETECTOR1,
    description="NIRSpec multi-object spectroscopy through the micro-shutter array (MSAMETFL)",
    demo=True,
    use_source_posn=True,  # the official default for NIRSpec FS, MOS and BOTS point sources
)

BRIGHT_OBJECT = Mode(
    instrument="NIRSPEC", exp_types=("NRS_BRIGHTOBJ",), name="bots", plugin=PLUGIN,
    product="tso", pipeline="spec2", recipe=_SPEC2_RECIPE + ("white_light",), dispersion_axis=1,
    reftypes=_reftypes(), step_defaults=_STEP_DEFAULTS, model_kinds=_KINDS_TSO, keyword_values=_KEYWORDS, detector_shape=_DETECTOR,
    detector1=DETECTOR1,
    description="NIRSpec bright-object time series through S1600A1 (rateints -> x1dints)",
    demo=True,
    use_source_posn=True,  # the official default for NIRSpec FS, MOS and BOTS point sources
)

MODES = (FIXED_SLIT, MOS, BRIGHT_OBJECT)


def is_nirspec(mode):
    """True when ``mode`` is one of this plugin's modes (hooks return None otherwise)."""
    return mode is not None and mode.plugin == PLUGIN and mode.instrument == "NIRSPEC"
