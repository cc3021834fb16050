"""The command line users know from ``strun``: version, per-step help, the official
pipeline's parameter files, no traceback for anything a user can do, outputs whole or
not at all and never over an input."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from webbcal.cli import main
from webbcal.hookspecs import hookimpl
from webbcal.plugins import PluginHost, get_host, set_host


def _errors(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [ln for ln in err.splitlines() if "error" in ln.lower()]


def test_version(capsys):
    import webbcal

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"webbcal {webbcal.__version__}"


def test_run_step_help_lists_parameters_defaults_and_reference_types(toy_host, capsys):
    from webbcal.steps.extract_1d import Extract1dStep

    assert main(["run", "extract_1d", "--help"]) == 0
    out = capsys.readouterr().out
    for name, par in Extract1dStep.full_spec().items():
        assert f"--{name}=<{par.type.__name__}>  [{par.default!r}]" in out, name
    assert "--override_extract1d" in out  # the toy mode reads an EXTRACT1D in extract_1d
    assert "--bkg_order=<int>  [None] >= 0;" in out and "--extract_width=<float>  [None] > 0;" in out


def test_official_parameter_file_is_accepted_with_a_warning(rate, tmp_path, caplog):
    """An Extract1dStep parameter file as the official pipeline exports it: parameters
    webbcal does not implement are named in one warning; None means 'the default'."""
    import asdf

    par = tmp_path / "jwst_extract1d.asdf"
    asdf.AsdfFile({"class": "jwst.extract_1d.extract_1d_step.Extract1dStep", "name": "extract_1d",
                   "parameters": {"center_xy": None, "ifu_autocen": False, "soss_atoca": True,
                                  "pre_hooks": [], "input_dir": "", "bkg_order": None,
                                  "extraction_type": "box", "apply_apcorr": False}}).write_to(par)
    out = tmp_path / "out"
    with caplog.at_level("WARNING"):
        assert main(["run", "spec2", str(rate), "--output-dir", str(out)]) == 0
        cal = out / "toy_cal.fits"
        assert main(["run", "extract_1d", str(cal), "--config", str(par), "--output-dir", str(out / "x")]) == 0
    warned = [r.getMessage() for r in caplog.records if "does not implement" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "center_xy" in warned[0] and "soss_atoca" in warned[0] and "pre_hooks" not in warned[0]
    assert (out / "x" / "toy_x1d.fits").is_file()


def test_a_pipeline_parameter_file_with_steps_we_do_not_run(rate, tmp_path, caplog):
    par = tmp_path / "spec2.json"
    par.write_text(json.dumps({"class": "jwst.pipeline.Spec2Pipeline", "name": "calwebb_spec2", "parameters": {},
                               "steps": [{"name": "imprint_subtract", "parameters": {"skip": False}},
                                         {"name": "extract_1d", "parameters": {"soss_modelname": None,
                                                                                "extraction_type": "box"}}]}))
    with caplog.at_level("WARNING"):
        assert main(["run", "spec2", str(rate), "--config", str(par), "--output-dir", str(tmp_path / "o")]) == 0
    msgs = " | ".join(r.getMessage() for r in caplog.records)
    assert "imprint_subtract" in msgs and "soss_modelname" in msgs


def test_save_parameters_round_trip(rate, tmp_path):
    out = tmp_path / "out"
    saved = tmp_path / "pars.asdf"
    assert main(["run", "spec2", str(rate), "--steps.extract_1d.extraction_type=optimal",
                 "--output-dir", str(out), "--save-parameters", str(saved)]) == 0
    import asdf

    with asdf.open(saved) as af:
        steps = {s["name"]: s["parameters"] for s in af.tree["steps"]}
        assert af.tree["name"] == "spec2"
    assert steps["extract_1d"]["extraction_type"] == "optimal"
    # read back: the same choice without the flag
    from webbcal.pipeline import Spec2Pipeline

    again = Spec2Pipeline(config_file=saved)
    assert again._file_substeps["extract_1d"]["extraction_type"] == "optimal"
    # a step's own file
    single = tmp_path / "x1d.json"
    assert main(["run", "extract_1d", str(out / "toy_cal.fits"), "--bkg_fit=median",
                 "--output-dir", str(tmp_path / "o2"), "--save-parameters", str(single)]) == 0
    assert json.loads(single.read_text())["parameters"]["bkg_fit"] == "median"


def test_simulate_without_nints_uses_the_plugin_default(toy_host, tmp_path, capsys):
    """Unset parameters are absent from ``params`` (the hook contract), never None."""
    out = tmp_path / "sim.fits"
    assert main(["simulate", "TOYSPEC", "TOY_SPEC", "-o", str(out)]) == 0
    assert out.is_file()
    # and the plugins installed here accept it as well
    set_host(PluginHost())
    try:
        for inst, exp in [(m.instrument, m.exp_types[0]) for m in get_host().modes if m.demo]:
            path = tmp_path / f"{exp}.fits"
            assert main(["simulate", inst, exp, "-o", str(path)]) == 0, _errors(capsys)
            assert path.is_file()
    finally:
        set_host(toy_host)


def test_list_into_a_closed_pipe_prints_no_traceback():
    code = ("import subprocess, sys\n"
            "p = subprocess.Popen([sys.executable, '-m', 'webbcal.cli', 'list'], stdout=subprocess.PIPE, "
            "stderr=subprocess.PIPE)\n"
            "p.stdout.readline(); p.stdout.close(); err = p.stderr.read(); p.wait()\n"
            "sys.stderr.write(err.decode())\n")
    for _ in range(3):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


HOOKS = ["webbcal_assign_wcs", "webbcal_flat_field", "webbcal_photom", "webbcal_extract_targets"]


def _raising_plugin(hookname):
    from toy_plugin import toy

    class Raising:
        """Declares the toy mode and delegates to the toy physics, except one hook that raises."""

        @hookimpl
        def webbcal_modes(self):
            return [toy.MODE]

        @hookimpl
        def webbcal_reference_types(self):
            return toy.webbcal_reference_types()

    for name in HOOKS + ["webbcal_simulate"]:
        if name == hookname:
            def impl(self, **kw):
                raise KeyError("boom inside the plugin")
        else:
            impl = (lambda fn: lambda self, **kw: fn(**kw))(getattr(toy, name))
        import inspect

        params = list(inspect.signature(getattr(toy, name)).parameters)
        ns = {}
        exec(f"def {name}(self, {', '.join(params)}):\n    return _impl(self, {', '.join(f'{p}={p}' for p in params)})",
             {"_impl": impl}, ns)
        setattr(Raising, name, hookimpl(ns[name]))
    return Raising()


@pytest.mark.parametrize("hookname", HOOKS)
def test_an_exception_inside_a_plugin_hook_is_one_line_and_nonzero(toy_host, rate, tmp_path, capsys, hookname):
    host = PluginHost(load_entry_points=False, extra=[("raising", _raising_plugin(hookname))])
    old = get_host()
    set_host(host)
    try:
        code = main(["run", "spec2", str(rate), "--output-dir", str(tmp_path / "out")])
    finally:
        set_host(old)
    lines = _errors(capsys)
    assert code != 0 and len(lines) == 1, lines
    assert hookname in lines[0] and "KeyError" in lines[0] and "boom" in lines[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_plugin_cannot_answer_for_a_mode_it_did_not_declare(toy_host, rate, tmp_path):
    """A third-party plugin without modes that answers assign_wcs unguarded, registered
    after the owner, does not take over the owner's exposures."""
    calls = []

    class Greedy:
        @hookimpl(tryfirst=True)
        def webbcal_assign_wcs(self, model, mode, refs, params):
            calls.append(mode.key)
            raise AssertionError("a foreign plugin answered")

    from toy_plugin import toy

    host = PluginHost(load_entry_points=False, extra=[("toy", toy), ("greedy", Greedy())])
    old = get_host()
    set_host(host)
    try:
        assert main(["run", "spec2", str(rate), "--output-dir", str(tmp_path / "out")]) == 0
    finally:
        set_host(old)
    assert calls == []


# -- outputs ------------------------------------------------------------------------------
def test_plot_refuses_to_write_over_its_input(rate, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "spec2", str(rate), "--output-dir", str(out)]) == 0
    x1d = out / "toy_x1d.fits"
    before = x1d.read_bytes()
    assert main(["plot", str(x1d), "-o", str(x1d)]) != 0
    lines = _errors(capsys)
    assert len(lines) == 1 and "input" in lines[0] and x1d.name in lines[0]
    assert x1d.read_bytes() == before


@pytest.mark.parametrize("errno_name,words", [("EACCES", "permission denied"), ("ENOSPC", "no space left"),
                                              ("EROFS", "read-only")])
def test_write_failures_are_one_line_and_leave_nothing(rate, tmp_path, capsys, monkeypatch, errno_name, words):
    """A read-only folder or a full disk (simulated: this suite runs as root, for whom
    permissions do not stop a write) ends the run with one line and no partial file."""
    import errno

    from webbcal.datamodels import atomic

    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)), str(dst))

    out = tmp_path / "out"
    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    assert main(["run", "spec2", str(rate), "--output-dir", str(out)]) != 0
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    lines = _errors(capsys)
    assert len(lines) == 1 and words in lines[0], lines
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("case", ["output_dir_is_a_file", "simulate_into_a_folder", "name_too_long",
                                  "output_dir_under_a_file"])
def test_unwritable_outputs_are_one_line_and_leave_nothing(toy_host, rate, tmp_path, capsys, case):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    if case == "output_dir_is_a_file":
        args = ["run", "spec2", str(rate), "--output-dir", str(a_file)]
    elif case == "output_dir_under_a_file":
        args = ["run", "spec2", str(rate), "--output-dir", str(a_file / "sub")]
    elif case == "simulate_into_a_folder":
        args = ["simulate", "TOYSPEC", "TOY_SPEC", "-o", str(tmp_path)]
    else:
        args = ["run", "spec2", str(rate), "--output_file", "x" * 300, "--output-dir", str(tmp_path / "long")]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(args) != 0
    lines = _errors(capsys)
    assert len(lines) == 1, lines
    after = sorted(p.name for p in tmp_path.rglob("*"))
    assert [n for n in after if n not in before and n != "long"] == []
    assert a_file.read_text() == "x"


def test_fifo_input_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "pipe_rate.fits"
    os.mkfifo(fifo)
    assert main(["run", "extract_1d", str(fifo)]) != 0
    lines = _errors(capsys)
    assert len(lines) == 1 and "regular file" in lines[0] and fifo.name in lines[0]


def test_non_ascii_paths_simply_work(rate, tmp_path):
    src = tmp_path / "données_Ω" / "toy_rate.fits"
    src.parent.mkdir()
    src.write_bytes(rate.read_bytes())
    out = tmp_path / "sortie_é"
    assert main(["run", "spec2", str(src), "--output-dir", str(out)]) == 0
    assert (out / "toy_x1d.fits").is_file()


def test_products_have_the_usual_file_mode(rate, tmp_path):
    """Every product, the white-light ECSV included, gets 0666 less the umask (not 0600)."""
    from webbcal.datamodels.atomic import _umask

    out = tmp_path / "out"
    assert main(["run", "spec2", str(rate), "--output-dir", str(out)]) == 0
    files = [p for p in out.iterdir() if p.is_file()]
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~_umask(), p.name


def test_a_normal_run_prints_only_our_log_lines(tmp_path):
    """A run on a real archive-format file: stderr holds only webbcal's own lines."""
    import re

    data = Path(__file__).parent / "data" / "miri" / "ERS_NGTS10_2022_new_drift_041_calints.fits"
    res = subprocess.run([sys.executable, "-m", "webbcal.cli", "run", "extract_1d", str(data),
                          "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    ours = re.compile(r"^\d\d:\d\d:\d\d webbcal[.\w]* (INFO|WARNING|ERROR|DEBUG): ")
    foreign = [ln for ln in res.stderr.splitlines() if ln.strip() and not ours.match(ln)]
    assert foreign == [], foreign


def test_library_warnings_go_to_the_debug_log(capsys, caplog):
    """What asdf (AsdfPackageVersionWarning on archive files), astropy or numpy warn
    during a command is logged at DEBUG, not printed."""
    import warnings

    from webbcal.cli import quiet_library_warnings

    class AsdfPackageVersionWarning(UserWarning):
        pass

    with caplog.at_level("DEBUG", logger="webbcal.warnings"), quiet_library_warnings():
        warnings.warn("File was created with extension asdf-astropy 99.0", AsdfPackageVersionWarning)
        warnings.warn("Mean of empty slice", RuntimeWarning)
    assert capsys.readouterr().err == ""
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "AsdfPackageVersionWarning" in logged and "Mean of empty slice" in logged
