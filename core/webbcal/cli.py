"""The ``webbcal`` command (conventions of the official ``strun``).

::

    webbcal list
    webbcal run <step|pipeline> <file> [--par=value ...] [--override_<reftype>=path]
                [--steps.<step>.<par>=value ...] [--output-dir DIR] [--config FILE]
    webbcal info <file>
    webbcal plot <file> [-o out.png]
    webbcal simulate <instrument> <EXP_TYPE> [-o file] [--nints N] [--seed S] [--noise]
    webbcal demo [--output-dir DIR]

Bad input prints one line naming the file and what was expected, and exits non-zero.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .association import StepFactory as _StepFactory
from .association import files_association as _files_association
from .association import is_association
from .errors import WebbcalError

log = logging.getLogger("webbcal")


def _setup_logging(verbose, quiet):
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("matplotlib", "PIL", "asdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- list -----------------------------------------------------------------------------
def cmd_list(args):
    """`webbcal list`: the installed plugins, their modes and the steps; returns the exit code."""
    from .pipeline import all_steps
    from .plugins import get_host

    host = get_host()
    out = []
    out.append("Installed instrument plugins:")
    rows = host.describe()
    if not rows:
        out.append("  none (install an instrument plugin: pip install webbcal-<instrument>)")
    for name, dist, ver in rows:
        out.append(f"  {name:10s} {dist} {ver}")
    for name, msg in sorted(host.broken.items()):
        out.append(f"  {name:10s} BROKEN: {msg}")
    out.append("")
    out.append("Modes (instrument  EXP_TYPE  product  pipeline: recipe):")
    if len(host.modes) == 0:
        out.append("  none")
    for m in sorted(host.modes, key=lambda m: (m.instrument, m.exp_types)):
        for exp in m.exp_types:
            out.append(f"  {m.instrument:8s} {exp:20s} {m.product:9s} {m.pipeline}: {', '.join(m.recipe)}")
    out.append("")
    out.append("Steps and pipelines:")
    for name, cls in sorted(all_steps(host).items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        aliases = f" (aliases: {', '.join(cls.aliases)})" if cls.aliases else ""
        out.append(f"  {name:14s} {doc}{aliases}")
    print("\n".join(out))
    return 0


# -- run ------------------------------------------------------------------------------
def _parse_extra(tokens):
    """``--name=value`` / ``--name value`` pairs into a dict (names keep dots)."""
    params = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--"):
            raise WebbcalError(f"unexpected argument {tok!r}: step parameters are given as --name=value")
        body = tok[2:]
        if "=" in body:
            key, value = body.split("=", 1)
        else:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                key, value = body, "true"
            else:
                key, value = body, tokens[i + 1]
                i += 1
        params[key.replace("-", "_") if not key.startswith("steps.") else key] = value
        i += 1
    return params


def cmd_run(args, extra):
    """`webbcal run STEP FILE [--par=value ...]`: run a step or pipeline on a file (``extra`` holds the
    parameter options); returns the exit code."""
    from .pipeline import get_step_class

    if args.help:
        print(step_help(get_step_class(args.step)))
        return 0
    if not args.file:
        raise WebbcalError(f"webbcal run {args.step}: give the input file (see: webbcal run {args.step} --help)")
    params = _parse_extra(extra)
    if args.output_dir:
        params["output_dir"] = args.output_dir
    args.file = _expand_globs(args.file)
    parallel = {k: params.pop(k) for k in ("jobs", "scheduler") if k in params}
    cls = get_step_class(args.step)
    one_product = getattr(cls, "per_product", False) or getattr(cls, "takes_list", False)
    separate = len(args.file) > 1 and not one_product and not _segments_of_one(args.file)
    if separate:   # a plain list of exposures: each on its own, as the members of an association
        for path in args.file:
            check_input_file(path)
        args.association = _files_association(args.file)
        return _run_association(args, params, cls, parallel)
    if parallel and not (len(args.file) == 1 and is_association(args.file[0])):
        raise WebbcalError(f"--{next(iter(parallel))} runs the members of an association (or a list of exposures) "
                           "in parallel: give an association (jw..._asn.json) or several files")
    step_params = {k: v for k, v in params.items() if not k.startswith("steps.")}
    step = cls(config_file=args.config, **step_params)
    for key, value in params.items():
        if key.startswith("steps."):
            step.set(key, value)
    for path in args.file:
        check_input_file(path)
    if len(args.file) == 1 and is_association(args.file[0]):
        return _run_association(args, params, cls, parallel)
    step.run(args.file[0] if len(args.file) == 1 else list(args.file))
    for path in getattr(step, "saved", []) or []:
        if path:
            print(f"wrote {path}")
    if args.save_parameters:
        print(f"wrote {step.save_parameters(args.save_parameters)}")
    return 0


def _expand_globs(files):
    """Arguments with wildcards that name no file themselves (a quoted glob) replaced by
    the files they match, sorted; one that matches nothing is an error."""
    import glob

    out = []
    for f in files:
        if any(c in f for c in "*?[") and not Path(f).exists():
            hits = sorted(glob.glob(f))
            if not hits:
                raise WebbcalError(f"{f}: no file matches this pattern")
            out.extend(hits)
        else:
            out.append(f)
    return out


def _segments_of_one(files):
    """Whether the files are the -segNNN segments of one exposure (joined into one product)."""
    from .pipeline.segments import SEGMENT_PATTERN, segment_root

    if not all(SEGMENT_PATTERN.search(Path(f).name) for f in files):
        return False
    return len({segment_root(f) for f in files}) == 1


def _run_association(args, params, cls, parallel=None):
    """`webbcal run STEP asn.json [--jobs N | --scheduler ADDRESS]`: the step on every
    science member (in parallel on Dask when asked); progress per member; a summary
    table; exit code 2 when any member failed (every good product is written)."""
    from .association import read_association, run_members, run_products, summary_table

    asn = args.association if getattr(args, "association", None) is not None else read_association(args.file[0])
    parallel = parallel or {}
    jobs = parallel.get("jobs")
    if jobs is not None:
        try:
            jobs = int(jobs)
        except ValueError:
            raise WebbcalError(f"--jobs={jobs!r}: expected a number of processes") from None
        if jobs < 1:
            raise WebbcalError(f"--jobs={jobs}: expected at least 1 process")

    def progress(done, total, result):
        print(f"[{done}/{total}] {result.member}: {result.status} ({result.seconds:.1f} s)", file=sys.stderr)

    runner = run_products if getattr(cls, "per_product", False) else run_members
    results = runner(asn, _StepFactory(cls, args.config, params), jobs=jobs,
                     scheduler=parallel.get("scheduler"), progress=progress)
    for r in results:
        for path in r.outputs:
            print(f"wrote {path}")
    print(summary_table(results))
    failed = [r for r in results if r.status != "ok"]
    if failed:
        what = "rows" if getattr(cls, "per_product", False) else "members"
        print(f"webbcal: error: {len(failed)} of {len(results)} {what} failed ({', '.join(r.member for r in failed)})",
              file=sys.stderr)
        return 2
    return 0


def check_input_file(path):
    """An input must be an existing regular file (a FIFO or a folder would block or fail late)."""
    from .errors import InputFileError

    p = Path(path)
    if not p.exists():
        raise InputFileError(path, "no such file")
    if not p.is_file():
        raise InputFileError(path, "is not a regular file (expected a FITS product)")


def step_help(cls):
    """``webbcal run STEP --help``: the step's parameters with type, default and meaning,
    and the reference types it reads in each installed mode (``--override_<reftype>``)."""
    from .plugins import get_host

    lines = [f"usage: webbcal run {cls.name} FILE [--<parameter>=value ...] [--override_<reftype>=path|N/A]",
             "", (cls.__doc__ or cls.name).strip().splitlines()[0], "", "parameters (default in brackets):"]
    for name, par in sorted(cls.full_spec().items()):
        choices = f" one of {', '.join(map(str, par.choices))};" if par.choices else ""
        valid = f" {par.valid_range()};" if par.low is not None or par.high is not None else ""
        lines.append(f"  --{name}=<{par.type.__name__}>  [{par.default!r}]{choices}{valid}")
        if par.doc:
            lines.append(f"      {par.doc}")
    aliases = [(a, m, pa) for m in get_host().modes for a, pa in m.aliases_for(cls.name).items()]
    if aliases:
        lines.append("")
        lines.append("parameters of one mode (its own names, as the official pipeline's):")
        for a, m, pa in sorted(aliases, key=lambda t: (t[0], t[1].key)):
            special = "".join(f"; {k!r} sets {t[0]}={t[1]!r}" for k, t in pa.values.items())
            lines.append(f"  --{a}=<value>  ({m.key}) sets {pa.target}{special}")
            if pa.doc:
                lines.append(f"      {pa.doc}")
    reftypes = sorted({rt for m in get_host().modes for rt in m.reftypes_for(cls.name)})
    if reftypes:
        lines.append("")
        lines.append("reference files (override with --override_<reftype>=path or N/A):")
        for rt in reftypes:
            modes = sorted(m.key for m in get_host().modes if rt in m.reftypes_for(cls.name))
            lines.append(f"  --override_{rt}   ({', '.join(modes)})")
    if getattr(cls, "kind", None):
        lines.append("")
        lines.append("step parameters: --steps.<step>.<parameter>=value (see: webbcal run <step> --help)")
    lines.append("")
    lines.append("also: --output-dir DIR, --config FILE (ASDF/JSON, also the official pipeline's), "
                 "--save-parameters FILE")
    return "\n".join(lines)


# -- info -----------------------------------------------------------------------------
def cmd_info(args):
    """`webbcal info FILE`: what the file is (model, mode, arrays, keywords); returns the exit code."""
    from . import datamodels
    from .plugins import get_host

    check_input_file(args.file)
    model = datamodels.open(args.file)
    print(describe_model(model, args.file))
    try:
        mode = get_host().modes.for_model(model, args.file)
        print(f"mode: {mode.key} ({mode.plugin}); pipeline {mode.pipeline}: {', '.join(mode.recipe)}")
    except WebbcalError as exc:
        print(f"mode: none ({exc})")
    return 0


def _arrays(m):
    names = ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat", "wavelength", "area")
    out = []
    for n in names:
        a = getattr(m, n, None)
        if a is not None:
            out.append(f"{'SCI' if n == 'data' else n.upper()}{tuple(a.shape)}")
    return ", ".join(out)


def describe_model(model, path):
    """A few lines a person reads: what the file is, its arrays, slits or spectra."""
    m = model.meta
    lines = [f"{path}: {type(model).__name__}"]
    fields = [
        ("instrument", m.instrument.name), ("detector", m.instrument.detector), ("EXP_TYPE", m.exposure.type),
        ("filter", m.instrument.filter), ("grating", m.instrument.grating), ("pupil", m.instrument.pupil),
        ("subarray", m.subarray.name), ("NINTS", m.exposure.nints), ("SRCTYPE", m.target.source_type),
    ]
    lines.append("  " + ", ".join(f"{k} {v}" for k, v in fields if v not in (None, "")))
    if hasattr(model, "spec"):
        for i, s in enumerate(model.spec, 1):
            t = s.spec_table
            flux = t["FLUX"]
            shape = f"{flux.shape[0]} integrations x {flux.shape[1]} points" if flux.ndim == 2 else f"{len(t)} points"
            lines.append(f"  spectrum {i}: {getattr(s, 'name', None) or ''} order {getattr(s, 'spectral_order', None)}: {shape}")
    elif getattr(model, "slits", None):
        for i, s in enumerate(model.slits, 1):
            lines.append(f"  slit {i}: {s.name} source {s.source_id} ({s.source_type}): {_arrays(s)}")
    else:
        lines.append(f"  arrays: {_arrays(model)}  unit {m.bunit_data}")
        if getattr(model, "int_times", None) is not None:
            lines.append(f"  INT_TIMES: {len(model.int_times)} rows")
    wcs = getattr(m, "wcs", None)
    lines.append(f"  WCS: {'gwcs ' + ' -> '.join(map(str, wcs.available_frames)) if wcs is not None else 'none'}")
    done = [k for k, v in dict(m.cal_step).items() if str(v).upper() == "COMPLETE"]
    if done:
        lines.append("  steps completed: " + ", ".join(done))
    return "\n".join(lines)


# -- plot -----------------------------------------------------------------------------
def cmd_plot(args):
    """`webbcal plot FILE`: a quicklook PNG of an image, cube or spectrum; returns the exit code."""
    from . import datamodels
    from .plot import quicklook

    check_input_file(args.file)
    model = datamodels.open(args.file)
    out = args.output or str(Path(args.file).with_suffix(".png").name)
    quicklook(model, out, source=args.file)
    print(f"wrote {out}")
    return 0


# -- simulate -------------------------------------------------------------------------
def cmd_simulate(args):
    """`webbcal simulate INSTRUMENT EXP_TYPE -o FILE`: a simulated rate file with known truth; returns
    the exit code."""
    from .plugins import get_host

    host = get_host()
    mode = host.modes.find(args.instrument, args.exp_type)
    if mode is None:
        raise WebbcalError(f"no installed plugin declares {args.instrument} {args.exp_type} (see: webbcal list)")
    # parameters the user did not set are absent, never None (the hook contract)
    params = {"seed": args.seed, "noise": args.noise}
    if args.nints is not None:
        params["nints"] = args.nints
    if args.level != "rate":
        params["level"] = args.level
    if args.cosmic_rays is not None:
        params["cosmic_rays"] = args.cosmic_rays
    res = host.call_for_mode("webbcal_simulate", mode, params=params)
    if res is None:
        raise WebbcalError(f"{mode.plugin} cannot simulate {args.exp_type}")
    model, truth = res
    import numpy as np

    if args.level == "uncal" and np.ndim(model.data) != 4:
        raise WebbcalError(f"{mode.plugin} does not simulate raw ramps (--level uncal) for {args.exp_type} yet")
    kind = "uncal" if np.ndim(model.data) == 4 else ("rateints" if model.data.ndim == 3 else "rate")
    out = Path(args.output or f"sim_{args.exp_type.lower()}_{kind}.fits")
    if args.segments:
        from .pipeline.segments import split_segments

        if model.data.ndim != 3:
            raise WebbcalError(f"--segments applies to time series; {args.exp_type} simulates a single image")
        if "_" in out.name:  # the segment number goes before the product suffix
            stem, tail = out.name.rsplit("_", 1)
            tail = "_" + tail
        else:
            stem, tail = out.stem, out.suffix
        for k, seg in enumerate(split_segments(model, args.segments), start=1):
            path = out.with_name(f"{stem}-seg{k:03d}{tail}")
            seg.save(path, overwrite=True)
            print(f"wrote {path}")
        return 0
    model.save(out, overwrite=True)
    print(f"wrote {out}")
    return 0


# -- demo -----------------------------------------------------------------------------
def cmd_demo(args):
    """`webbcal demo`: simulate, calibrate and extract every installed mode (see
    :func:`webbcal.demo.run_demo`); returns the exit code."""
    from .demo import run_demo

    if not args.verbose:  # the demo prints its own summary; step logs only on -v
        logging.getLogger("webbcal").setLevel(logging.WARNING)
    return run_demo(args.output_dir, modes=args.modes)


def build_parser():
    """The argument parser of the ``webbcal`` command and its sub-commands."""
    from . import __version__

    p = argparse.ArgumentParser(prog="webbcal", description="Calibrate JWST exposures and extract their spectra.")
    p.add_argument("--version", action="version", version=f"webbcal {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="installed instruments, modes, steps and pipelines")
    r = sub.add_parser("run", help="run a step or pipeline on a file", add_help=False,
                       description="Extra options: --<par>=value, --override_<reftype>=path|N/A, --steps.<step>.<par>=value")
    r.add_argument("-h", "--help", action="store_true", help="the step's parameters and reference types")
    r.add_argument("step")
    r.add_argument("file", nargs="*", help="input file, association (_asn.json) or quoted glob; several: the "
                                            "segments of one time series (-seg001, -seg002 ...) are joined into "
                                            "one product, other files run one by one (spec3: one product)")
    r.add_argument("--save-parameters", "--save_parameters", dest="save_parameters", default=None,
                   help="write the parameters used to this ASDF or JSON file (read back with --config)")
    r.add_argument("--output-dir", "--output_dir", dest="output_dir", default=None)
    r.add_argument("--config", default=None, help="parameter file (ASDF or JSON)")
    i = sub.add_parser("info", help="summarise a file and the mode that handles it")
    i.add_argument("file")
    pl = sub.add_parser("plot", help="quicklook PNG of a 2D product (with aperture) or a spectrum")
    pl.add_argument("file")
    pl.add_argument("-o", "--output", default=None)
    s = sub.add_parser("simulate", help="write a simulated rate/rateints exposure of an installed mode")
    s.add_argument("instrument")
    s.add_argument("exp_type")
    s.add_argument("-o", "--output", default=None)
    s.add_argument("--nints", type=int, default=None)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--noise", action="store_true")
    s.add_argument("--segments", type=int, default=None,
                   help="time series: write the exposure as this many segment files (-seg001, -seg002 ...)")
    s.add_argument("--level", choices=("rate", "uncal"), default="rate",
                   help="rate: count rates (default); uncal: raw ramps (bias, dark, non-linearity, read noise, "
                        "cosmic rays, saturation) for detector1")
    s.add_argument("--cosmic-rays", "--cosmic_rays", dest="cosmic_rays", type=int, default=None,
                   help="uncal: cosmic rays per integration (default 20)")
    d = sub.add_parser("demo", help="simulate, calibrate and extract the installed modes' demo exposures")
    d.add_argument("--output-dir", "--output_dir", dest="output_dir", default="demo_output")
    d.add_argument("--modes", nargs="*", default=None, help="EXP_TYPEs to run (default: every demo mode)")
    return p


def main(argv=None):
    """Entry point of the ``webbcal`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 on success, non-zero with one error line on bad input.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _setup_logging(args.verbose, args.quiet)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    commands = {"list": cmd_list, "info": cmd_info, "plot": cmd_plot, "simulate": cmd_simulate, "demo": cmd_demo}
    try:
        with quiet_library_warnings():
            rc = cmd_run(args, extra) if args.command == "run" else commands[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not in a traceback at exit
        return rc
    except WebbcalError as exc:
        print(f"webbcal: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("webbcal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (webbcal list | head -1): not an error of ours
        _silence_stdout()
        return 0
    except MemoryError:
        print("webbcal: error: out of memory (try a smaller --chunk_size, or fewer integrations)", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"webbcal: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        if args.verbose:
            import traceback

            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"webbcal: internal error: {type(exc).__name__}{': ' + msg if msg else ''} "
              f"(please report it; -v shows the traceback)", file=sys.stderr)
        return 1


def _silence_stdout():
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class quiet_library_warnings:
    """Warnings that third-party libraries print on ordinary archive files (asdf's
    package-version notices, astropy's FITS fix-ups, numpy's all-NaN slices) are logged at
    DEBUG instead of printed: a normal run prints only webbcal's own log lines."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.showwarning = _log_warning
        return self

    def __exit__(self, *exc):
        return self._catch.__exit__(*exc)


def _log_warning(message, category, filename, lineno, file=None, line=None):
    logging.getLogger("webbcal.warnings").debug("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
