"""Speed and memory of 1-D extraction on time-series cubes (prints figures; not a test).

Two synthetic float32 cubes shaped like real time series:

- ``miri``:   1000 x 416 x 72   (nints, ny, nx), dispersion along y (MIRI LRS slitless-like)
- ``nircam``: 2000 x 64 x 2048  (nints, ny, nx), dispersion along x (NIRCam grism TSO-like)

each with SCI, VAR_POISSON, VAR_RNOISE (float32) and DQ (uint32).  Cases, each run in
its own subprocess so that memory peaks do not mix:

``floor``     plain numpy: the weighted sum over the cross axis of SCI and of the two
              variance arrays (einsum), i.e. the minimum work of a box extraction
``box``       :func:`webbcal.extract.box.extract_box` (what the extract_1d step calls)
``box_crop``  extract_box given only the cross-dispersion rows the aperture touches
              (what the caller can do today; see docs/performance.md)
``step``      the full extract_1d step (:class:`webbcal.steps.extract_1d.Extract1dStep`)
              on an in-memory CubeModel, through a benchmark plugin declaring the mode
``optimal``   :func:`webbcal.extract.optimal.extract_optimal` with a fixed profile,
              ``return_model=False`` (spectrum only: what the step needs when no
              scene-model / residual product is asked for)
``optimal_threads`` the same with ``threads=None`` (memory chunks on every available core)
``optimal_model`` the same returning the model, residual and variance cubes
``step_optimal`` the extract_1d step with ``extraction_type="optimal"`` and a fitted
              Gaussian profile (profile fit + extraction, as a user runs it)
``memmap``    the cube written to a FITS file, opened memory-mapped
              (``datamodels.open(path, memmap=True)``), extract_box in chunks of
              ``--chunk`` integrations
``memmap_step`` the extract_1d step on the memory-mapped CubeModel

Each case runs twice in fresh processes: timed (``--repeat`` calls, default 3; the
fastest is reported and the first, cold call -- page faults of fresh output arrays,
first-use costs -- is shown beside it), then once under tracemalloc for memory.
Printed per case: wall time, integrations/s, GB/s of SCI read, and the peak memory
allocated during the call (tracemalloc: numpy buffers included, memory-mapped file pages
excluded) relative to the input arrays; the process's peak RSS is shown for reference.
Targets (issue 3): box <= 3x floor, optimal <= 3x box, peak <= 1.5x input (in-memory:
input + extra allocations; memory-mapped: the extra allocations must be bounded by the
chunk, independent of the cube size).

Usage::

    python benchmarks/bench_extract.py            # full sizes (several GB of RAM)
    python benchmarks/bench_extract.py --quick    # small cubes, seconds
    python benchmarks/bench_extract.py --sizes miri --cases floor,box
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

SIZES = {
    # name: (nints, ny, nx, dispersion_axis, extract_width)
    "miri": (1000, 416, 72, 2, 8.0),
    "nircam": (2000, 64, 2048, 1, 10.0),
}
QUICK = {
    "miri": (100, 416, 72, 2, 8.0),
    "nircam": (100, 64, 512, 1, 10.0),
}
CASES = ("floor", "box", "box_crop", "step", "optimal", "optimal_threads", "optimal_model", "step_optimal",
         "memmap", "memmap_step")
SIGMA = 1.5


# ----------------------------------------------------------------------------- data
def make_cube(nints, ny, nx, axis, seed=1, chunk=64):
    """SCI, VAR_POISSON, VAR_RNOISE (float32), DQ (uint32), filled chunk by chunk."""
    rng = np.random.default_rng(seed)
    ncross = nx if axis == 2 else ny
    ndisp = ny if axis == 2 else nx
    centre = ncross / 2.0 - 0.3
    yy = np.arange(ncross)[:, None]
    prof = np.exp(-0.5 * ((yy - centre) / SIGMA) ** 2) / (np.sqrt(2 * np.pi) * SIGMA)
    spec = 1000.0 * (1 + 0.3 * np.sin(np.arange(ndisp) / 50.0))
    mean = (prof * spec[None, :] + 5.0).astype(np.float32)            # (ncross, ndisp)
    if axis == 2:
        mean = mean.T                                                 # detector (ny, nx)
    sci = np.empty((nints, ny, nx), np.float32)
    vp = np.empty_like(sci)
    for i0 in range(0, nints, chunk):
        i1 = min(nints, i0 + chunk)
        noise = rng.standard_normal((i1 - i0, ny, nx), dtype=np.float32)
        np.multiply(noise, np.sqrt(mean + 16.0), out=noise)
        np.add(noise, mean, out=sci[i0:i1])
        np.maximum(sci[i0:i1], 0.0, out=vp[i0:i1])
    vr = np.full((nints, ny, nx), 16.0, np.float32)
    dq = np.zeros((nints, ny, nx), np.uint32)
    dq.fill(0)   # touch the pages, as a DQ read from a file would be (np.zeros maps them lazily)
    dq[:, 3, 5] = 1                                                   # one bad pixel
    return sci, vp, vr, dq, centre


def weights(ncross, ndisp, centre, width):
    from webbcal.extract.aperture import pixel_overlap

    return pixel_overlap(np.full(ndisp, centre - width / 2), np.full(ndisp, centre + width / 2), ncross)


def profile(ncross, ndisp, centre):
    from webbcal.extract.profiles import gaussian_pixel_integral

    y = np.arange(ncross, dtype=float)[:, None]
    p = gaussian_pixel_integral(y, np.full((1, ndisp), centre), SIGMA)
    return p[np.newaxis]


# ----------------------------------------------------------------------------- plugin
class BenchPlugin:
    """A minimal instrument plugin: one TSO mode per dispersion axis, whole-array target."""

    def __init__(self):
        from webbcal.modes import Mode

        self.modes = {
            axis: Mode(instrument="BENCH", exp_types=(f"BENCH_TSO_{axis}",), name=f"tso{axis}", plugin="bench",
                       product="tso", pipeline="spec2", recipe=("extract_1d",), dispersion_axis=axis,
                       step_defaults={"extract_1d": {"bkg_fit": None}})
            for axis in (1, 2)
        }
        self.width = 8.0
        self.centre = 0.0

    def webbcal_modes(self):
        return list(self.modes.values())

    def webbcal_extract_targets(self, model, mode, refs, params):
        from webbcal.extract import ExtractionTarget

        if mode.instrument != "BENCH":
            return None
        ny, nx = model.data.shape[-2:]
        axis = mode.dispersion_axis
        ndisp = ny if axis == 2 else nx
        wl = np.linspace(5.0, 12.0, ndisp)
        wl2d = np.broadcast_to(wl[:, None], (ny, nx)) if axis == 2 else np.broadcast_to(wl[None, :], (ny, nx))
        return [ExtractionTarget(
            name="BENCH", model=model, dispersion_axis=axis, wavelength=np.array(wl2d), source_type="POINT",
            source_position=self.centre, aperture_defaults={"extract_width": self.width},
            pixel_area_sr=1.0e-12,   # FLUX in Jy (without a pixel area FLUX is NaN and the step refuses)
        )]


def bench_host(width, centre):
    from webbcal.hookspecs import hookimpl
    from webbcal.plugins import PluginHost, set_host

    plugin = BenchPlugin()
    plugin.width, plugin.centre = width, centre
    # pluggy needs the hookimpl marker on the bound functions
    for name in ("webbcal_modes", "webbcal_extract_targets"):
        hookimpl(getattr(BenchPlugin, name))
    host = PluginHost(load_entry_points=False, extra=[("bench", plugin)])
    set_host(host)
    return host, plugin


def cube_model(sci, vp, vr, dq, axis):
    from webbcal import datamodels as dm

    m = dm.CubeModel()
    m.data, m.var_poisson, m.var_rnoise, m.dq = sci, vp, vr, dq
    m.meta.instrument.name = "BENCH"
    m.meta.exposure.type = f"BENCH_TSO_{axis}"
    m.meta.bunit_data = "MJy/sr"
    return m


# ----------------------------------------------------------------------------- one case
def run_case(case, size, quick, chunk, trace=True, repeat=1):
    from webbcal.extract.orient import orient

    nints, ny, nx, axis, width = (QUICK if quick else SIZES)[size]
    sci, vp, vr, dq, centre = make_cube(nints, ny, nx, axis)
    ncross, ndisp = (nx, ny) if axis == 2 else (ny, nx)
    input_bytes = sum(a.nbytes for a in (sci, vp, vr, dq))
    sci_bytes = sci.nbytes
    w = weights(ncross, ndisp, centre, width)
    extra = {}
    tmpdir = None
    mm = None
    if case.startswith("memmap"):
        from astropy.io import fits

        tmpdir = tempfile.mkdtemp(prefix="webbcal_bench_")
        path = Path(tmpdir) / "bench_calints.fits"
        hdr = fits.Header({"INSTRUME": "BENCH", "EXP_TYPE": f"BENCH_TSO_{axis}", "DATAMODL": "CubeModel"})
        fits.HDUList([fits.PrimaryHDU(header=hdr), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(dq, name="DQ"),
                      fits.ImageHDU(vp, name="VAR_POISSON"), fits.ImageHDU(vr, name="VAR_RNOISE")]).writeto(path)
        del sci, vp, vr, dq
        gc.collect()
        from webbcal import datamodels as dm

        mm = dm.open(path, memmap=True)
        extra["file_GB"] = round(path.stat().st_size / 1e9, 3)

    host = plugin = None
    if case in ("step", "step_optimal", "memmap_step"):
        host, plugin = bench_host(width, centre)

    # imports and the fixed profile outside the timed call (importing
    # webbcal.extract.profiles pulls in scipy: ~0.2-0.4 s that is not extraction)
    import webbcal.extract.box  # noqa: F401
    import webbcal.extract.optimal  # noqa: F401
    prof = profile(ncross, ndisp, centre) if case.startswith("optimal") else None
    if case.startswith("memmap"):
        extra["chunk"] = chunk

    def work():
        if case == "floor":
            d, p_, r_ = (orient(a, axis) for a in (sci, vp, vr))
            w32 = w.astype(np.float32)
            w2 = (w * w).astype(np.float32)
            flux = np.einsum("nyd,yd->nd", d, w32)
            var = np.einsum("nyd,yd->nd", p_, w2) + np.einsum("nyd,yd->nd", r_, w2)
            return flux, var
        elif case == "box":
            from webbcal.extract.box import extract_box

            return extract_box(orient(sci, axis), w, None, orient(vp, axis), orient(vr, axis), None,
                              mask=orient(dq, axis), bkg_fit=None)
        elif case == "box_crop":
            from webbcal.extract.box import extract_box

            rows = np.flatnonzero((w > 0).any(axis=1))
            sl = slice(rows[0], rows[-1] + 1)
            return extract_box(orient(sci, axis)[:, sl], w[sl], None, orient(vp, axis)[:, sl], orient(vr, axis)[:, sl],
                              None, mask=orient(dq, axis)[:, sl], bkg_fit=None)
        elif case in ("optimal", "optimal_threads", "optimal_model"):
            from webbcal.extract.optimal import extract_optimal

            return extract_optimal(orient(sci, axis), prof, var_rnoise=orient(vr, axis), var_poisson=orient(vp, axis),
                                  mask=orient(dq, axis), return_model=case == "optimal_model",
                                  threads=None if case == "optimal_threads" else 1)
        elif case in ("step", "step_optimal"):
            from webbcal.steps.extract_1d import Extract1dStep

            model = cube_model(sci, vp, vr, dq, axis)
            kw = dict(extraction_type="optimal", profile_type="gaussian") if case == "step_optimal" else {}
            step = Extract1dStep(host=host, save_results=False, apply_apcorr=False, log_increment=0, **kw)
            return step.run_model(model, host.modes.for_model(model))
        elif case == "memmap":
            from webbcal.extract.box import extract_box

            return extract_box(orient(mm.data, axis), w, None, orient(mm.var_poisson, axis), orient(mm.var_rnoise, axis),
                              None, mask=orient(mm.dq, axis), bkg_fit=None, chunk_size=chunk)
        elif case == "memmap_step":
            from webbcal.steps.extract_1d import Extract1dStep

            step = Extract1dStep(host=host, save_results=False, apply_apcorr=False, log_increment=0, chunk_size=chunk)
            return step.run_model(mm, host.modes.for_model(mm))

    if case not in CASES:
        raise SystemExit(f"unknown case {case}")
    times = []
    peak = float("nan")
    for rep in range(1 if trace else max(1, repeat)):
        gc.collect()
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        out = work()
        times.append(time.perf_counter() - t0)
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        del out
    elapsed = min(times)
    extra["first_seconds"] = times[0]
    if mm is not None:
        mm.close()
    if tmpdir:
        import shutil

        shutil.rmtree(tmpdir, ignore_errors=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    chunk_bytes = chunk * ny * nx * 4 if case.startswith("memmap") else None
    return {
        "size": size, "case": case, "shape": [nints, ny, nx], "seconds": elapsed,
        "ints_per_s": nints / elapsed, "sci_GB_per_s": sci_bytes / elapsed / 1e9,
        "input_GB": input_bytes / 1e9, "peak_extra_GB": peak / 1e9,
        "peak_ratio": (peak + (0 if case.startswith("memmap") else input_bytes)) / input_bytes,
        "chunk_GB": None if chunk_bytes is None else chunk_bytes / 1e9,
        "max_rss_GB": rss / 1e9, **extra,
    }


# ----------------------------------------------------------------------------- driver
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cubes (100 integrations)")
    ap.add_argument("--sizes", default="miri,nircam")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--chunk", type=int, default=32, help="integrations per chunk for memory-mapped input")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed calls per case in its process; the fastest is reported (default 3)")
    ap.add_argument("--run-case", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_case:
        print(json.dumps(run_case(args.run_case, args.size, args.quick, args.chunk, trace=args.trace,
                                    repeat=args.repeat)))
        return 0

    rows = []
    for size in args.sizes.split(","):
        for case in args.cases.split(","):
            # two runs in fresh processes: one timed, one under tracemalloc for the memory
            # peak (tracemalloc slows allocation-heavy code by up to 2x)
            results = []
            for trace in (False, True):
                cmd = [sys.executable, __file__, "--run-case", case, "--size", size, "--chunk", str(args.chunk),
                       "--repeat", str(args.repeat)]
                cmd += ["--quick"] if args.quick else []
                cmd += ["--trace"] if trace else []
                env = dict(os.environ, WEBBCAL_PLUGINS="none")
                res = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if res.returncode != 0:
                    print(f"{size}/{case}: FAILED\n{res.stderr[-2000:]}", file=sys.stderr)
                    break
                results.append(json.loads(res.stdout.strip().splitlines()[-1]))
            if len(results) < 2:
                continue
            row = results[0]
            for key in ("peak_extra_GB", "peak_ratio"):
                row[key] = results[1][key]
            row["max_rss_GB"] = max(results[0]["max_rss_GB"], results[1]["max_rss_GB"])
            rows.append(row)
            print(f"  {size:7s} {case:12s} {row['seconds']:8.2f} s", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def print_table(rows):
    print()
    head = (f"{'cube':8s} {'case':12s} {'shape':>16s} {'time s':>8s} {'first s':>8s} {'ints/s':>9s} {'SCI GB/s':>9s} "
            f"{'x floor':>8s} {'input GB':>9s} {'peak+ GB':>9s} {'peak/in':>8s} {'maxRSS GB':>10s}")
    print(head)
    print("-" * len(head))
    floors = {r["size"]: r["seconds"] for r in rows if r["case"] == "floor"}
    for r in rows:
        rel = r["seconds"] / floors[r["size"]] if r["size"] in floors else float("nan")
        ratio = f"{r['peak_ratio']:.2f}" if not r["case"].startswith("memmap") else f"chunk {r['peak_extra_GB'] / r['chunk_GB']:.1f}x"
        print(f"{r['size']:8s} {r['case']:12s} {'x'.join(map(str, r['shape'])):>16s} {r['seconds']:8.2f} "
              f"{r.get('first_seconds', r['seconds']):8.2f} {r['ints_per_s']:9.1f} {r['sci_GB_per_s']:9.3f} {rel:8.2f} {r['input_GB']:9.3f} "
              f"{r['peak_extra_GB']:9.3f} {ratio:>8s} {r['max_rss_GB']:10.2f}")
    print("\npeak+ = memory allocated during the call (tracemalloc); peak/in = (input + peak+) / input;"
          "\nfor memory-mapped input, peak+ / (chunk of SCI) -- bounded means independent of the cube size.")
    # targets
    by = {(r["size"], r["case"]): r for r in rows}
    for size in dict.fromkeys(r["size"] for r in rows):
        f, b, o = by.get((size, "floor")), by.get((size, "box")), by.get((size, "optimal"))
        if f and b:
            print(f"{size}: box / floor = {b['seconds'] / f['seconds']:.2f} (target <= 3)")
        if b and o:
            print(f"{size}: optimal / box = {o['seconds'] / b['seconds']:.2f} (target <= 3)")
        ot = by.get((size, "optimal_threads"))
        if b and ot:
            print(f"{size}: optimal on {os.cpu_count()} cores / box on one = {ot['seconds'] / b['seconds']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
