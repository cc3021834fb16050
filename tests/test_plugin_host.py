"""Plugin discovery and isolation."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webbcal.modes import Mode
from webbcal.plugins import PluginHost

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / "tests" / "data"


class BrokenPlugin:
    from webbcal.hookspecs import hookimpl

    @hookimpl
    def webbcal_modes(self):
        raise RuntimeError("boom")


class DuplicateModePlugin:
    from webbcal.hookspecs import hookimpl

    @hookimpl
    def webbcal_modes(self):
        return [Mode("TOYSPEC", ("TOY_SPEC",), "dup", "webbcal-dup", "slit", "spec2", ("extract_1d",), 1)]


def test_broken_plugin_is_logged_and_others_load(caplog):
    from toy_plugin import toy

    host = PluginHost(load_entry_points=False, extra=[("broken", BrokenPlugin()), ("toy", toy)])
    assert "broken" in host.broken and "boom" in host.broken["broken"]
    assert host.modes.find("TOYSPEC", "TOY_SPEC") is not None
    assert any("broken" in r.message for r in caplog.records)


def test_conflicting_mode_declaration_is_reported():
    from toy_plugin import toy

    host = PluginHost(load_entry_points=False, extra=[("toy", toy), ("dup", DuplicateModePlugin())])
    assert "dup" in host.broken
    assert host.modes.find("TOYSPEC", "TOY_SPEC").plugin == "webbcal-toyspec"


def test_no_plugin_message_names_package():
    from webbcal.errors import NoPluginError

    host = PluginHost(load_entry_points=False)

    class M:
        class meta:
            class instrument:
                name = "MIRI"

            class exposure:
                type = "MIR_LRS-FIXEDSLIT"

    with pytest.raises(NoPluginError, match="pip install webbcal-miri"):
        host.modes.for_model(M, "x.fits")


def _cli(*args, env_extra=None):
    env = dict(os.environ, WEBBCAL_PLUGINS="none", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "webbcal.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def test_cli_with_no_plugins_lists_none():
    res = _cli("list")
    assert res.returncode == 0, res.stderr
    assert "Installed instrument plugins:\n  none (install" in res.stdout
    assert "Modes" in res.stdout and "extract_1d" in res.stdout


def test_cli_with_no_plugins_on_miri_file(tmp_path):
    f = SHARED / "miri" / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    res = _cli("run", "extract_1d", str(f), "--output-dir", str(tmp_path))
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "webbcal-miri" in lines[0] and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_misspelled_hook_name_marks_the_plugin_broken_naming_the_hook(caplog):
    from webbcal.hookspecs import hookimpl
    from webbcal.plugins import PluginHost

    class Misspelled:
        @hookimpl
        def webbcal_modes(self):
            return []

        @hookimpl
        def webbcal_extract_target(self, model, mode, refs, params):  # the hook is webbcal_extract_targets
            return None

    with caplog.at_level("ERROR"):
        host = PluginHost(load_entry_points=False, extra=[("typo", Misspelled())])
    assert "typo" in host.broken and "webbcal_extract_target" in host.broken["typo"]
    assert "typo" not in host.names
    assert host.pm.get_plugin("typo") is None
    assert any("webbcal_extract_target" in r.getMessage() for r in caplog.records)


def test_the_core_registers_its_steps_through_its_own_plugin_like_any_plugin():
    from webbcal.pipeline import all_steps, get_step_class
    from webbcal.pipeline.builtin import webbcal_steps
    from webbcal.plugins import CORE_PLUGIN, PluginHost
    from webbcal.steps.extract_1d import Extract1dStep

    host = PluginHost(load_entry_points=False)
    assert host.pm.get_plugin(CORE_PLUGIN) is not None and CORE_PLUGIN not in dict(
        (n, d) for n, d, _ in host.describe())  # not listed among the instrument plugins
    assert host.steps == list(webbcal_steps()) and host.extra_steps == []
    assert get_step_class("extract_1d", host) is Extract1dStep
    assert {"assign_wcs", "flat_field", "photom", "extract_1d", "white_light", "spec2", "image2"} <= set(all_steps(host))

    class MyExtract(Extract1dStep):
        name = "extract_1d"

    class Replaces:
        from webbcal.hookspecs import hookimpl

        @hookimpl
        def webbcal_steps(self):
            return [MyExtract]

    host = PluginHost(load_entry_points=False, extra=[("mine", Replaces())])
    assert get_step_class("extract_1d", host) is MyExtract and host.extra_steps == [MyExtract]
