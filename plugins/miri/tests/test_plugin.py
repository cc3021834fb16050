"""The plugin's declarations and its manners towards other instruments' modes."""
import webbcal_miri.plugin as plugin
from webbcal.modes import Mode


def test_declares_three_modes_and_all_reference_types(host):
    keys = {(m.instrument, e) for m in host.modes for e in m.exp_types}
    assert keys == {("MIRI", "MIR_LRS-FIXEDSLIT"), ("MIRI", "MIR_LRS-SLITLESS"), ("MIRI", "MIR_IMAGE")}
    lrs = host.modes.find("MIRI", "MIR_LRS-SLITLESS")
    assert lrs.product == "tso" and lrs.dispersion_axis == 2 and lrs.pipeline == "spec2"
    assert host.modes.find("MIRI", "MIR_IMAGE").recipe == ("assign_wcs", "flat_field", "photom")
    names = {rt.name for rt in host.reftypes.for_instrument("MIRI")}
    assert names == {"distortion", "specwcs", "flat", "photom", "area", "extract1d", "apcorr"}


def test_hooks_answer_none_for_other_instruments():
    other = Mode(instrument="NIRSPEC", exp_types=("NRS_FIXEDSLIT",), name="fs", plugin="webbcal-nirspec",
                 product="slit", pipeline="spec2", recipe=("extract_1d",), dispersion_axis=1)
    assert plugin.webbcal_simulate(mode=other, params={}) is None
    for hook in (plugin.webbcal_assign_wcs, plugin.webbcal_flat_field, plugin.webbcal_photom,
                 plugin.webbcal_extract_targets):
        assert hook(model=None, mode=other, refs=None, params={}) is None
