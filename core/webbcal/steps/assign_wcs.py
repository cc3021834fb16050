"""assign_wcs: attach the gwcs built by the instrument plugin."""
from ..pipeline.step import Param, Step


class AssignWcsStep(Step):
    """Attach a detector -> world gwcs (the plugin builds it from its reference files)."""

    name = "assign_wcs"
    aliases = ("AssignWcsStep",)
    suffix = "assign_wcs"
    spec = {
        "sip_approx": Param(bool, False, "also fit a FITS SIP approximation (imaging; not yet written)"),
    }

    def process(self, model, mode, refs, params):
        return self.call_hook("webbcal_assign_wcs", model=model, mode=mode, refs=refs, params=params)


class Extract2dStep(Step):
    """Cut each slit's region out of the detector image (multi-slit instruments)."""

    name = "extract_2d"
    aliases = ("Extract2dStep",)
    suffix = "extract_2d"
    spec = {
        "slit_names": Param(list, None, "only these slits"),
    }

    def process(self, model, mode, refs, params):
        return self.call_hook("webbcal_extract_2d", model=model, mode=mode, refs=refs, params=params)
