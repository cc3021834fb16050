"""The plugin's declarations, and the host sending it only its own modes."""
import webbcal_miri.plugin as plugin
from webbcal.modes import Mode


def test_declares_three_modes_and_all_reference_types(host):
    keys = {(m.instrument, e) for m in host.modes for e in m.exp_types}
    assert keys == {("MIRI", "MIR_LRS-FIXEDSLIT"), ("MIRI", "MIR_LRS-SLITLESS"), ("MIRI", "MIR_IMAGE")}
    lrs = host.modes.find("MIRI", "MIR_LRS-SLITLESS")
    assert lrs.product == "tso" and lrs.dispersion_axis == 2 and lrs.pipeline == "spec2"
    assert host.modes.find("MIRI", "MIR_IMAGE").recipe == ("assign_wcs", "flat_field", "photom")
    names = {rt.name for rt in host.reftypes.for_instrument("MIRI")}
    assert names == {"distortion", "filteroffset", "specwcs", "flat", "photom", "area", "extract1d", "apcorr",
                     "mask", "saturation", "linearity", "dark", "gain", "readnoise", "reset", "rscd"}


def test_the_host_sends_a_mode_only_to_the_plugin_that_declared_it():
    """No hook here asks 'is this MIRI?': the host calls a mode's hooks on its plugin
    only -- also for a Mode rebuilt by hand with a MIRI exposure type; a mode of a type
    nobody declared goes to every plugin."""
    from dataclasses import replace

    from webbcal.plugins import PluginHost

    host = PluginHost(load_entry_points=False, extra=[("miri", plugin), ("greedy", _Greedy())])
    lrs = host.modes.find("MIRI", "MIR_LRS-FIXEDSLIT")
    copy = replace(lrs)
    assert copy is not lrs and host._owner_of(copy) == host._owner_of(lrs) == "miri"
    assert host.call_for_mode("webbcal_simulate", copy, params={"seed": 1})[0].meta.exposure.type == "MIR_LRS-FIXEDSLIT"
    alien = Mode(instrument="NIRSPEC", exp_types=("NRS_FIXEDSLIT",), name="fs", plugin="x", product="slit",
                 pipeline="spec2", recipe=("extract_1d",), dispersion_axis=1)
    assert host._owner_of(alien) is None
    assert host.call_for_mode("webbcal_flat_field", alien, model=None, refs=None, params={}) == "greedy"


class _Greedy:
    """A plugin that answers every flat_field and simulate call and declares no mode."""

    from webbcal.hookspecs import hookimpl

    @hookimpl
    def webbcal_flat_field(self, model, mode, refs, params):
        return "greedy"

    @hookimpl
    def webbcal_simulate(self, mode, params):
        return "greedy"
