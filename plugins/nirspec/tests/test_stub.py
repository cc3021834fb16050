"""The archived NIRSpec fixed-slit cal header stub opens as a multi-slit product."""
from pathlib import Path

STUB = Path(__file__).resolve().parents[3] / "tests" / "data" / "nirspec" / "nrs_fs_multislit_header_stub_cal.fits"


def test_stub_opens_as_multislit_with_its_slit():
    import webbcal

    model = webbcal.open(STUB)
    assert model.meta.instrument.name == "NIRSPEC"
    assert model.meta.exposure.type == "NRS_FIXEDSLIT"
    assert len(model.slits) == 1
    slit = model.slits[0]
    assert slit.name == "S200A2"
    assert (slit.xstart, slit.xsize, slit.ystart, slit.ysize) == (471, 1466, 1, 49)
    assert slit.source_id == 2 and slit.shutter_id == 1
    assert slit.source_type == "POINT"
    assert slit.data.shape == (2, 5) and slit.wavelength.shape == (2, 5)
    # the plugin finds the mode for it
    from webbcal.plugins import get_host

    mode = get_host().modes.for_model(model)
    assert mode.plugin == "webbcal-nirspec" and mode.product == "multislit"
