"""Speed and memory of jump detection + ramp fitting on a full frame (prints figures; not
a test), ours beside the official implementation (stcal) where it is installed.

One integration of 2048 x 2048 pixels and ``--ngroups`` groups (10): Poisson + read-noise
ramps with cosmic rays and saturated pixels. Each case runs in its own process (wall time
and peak resident memory above the process after the ramps are made).

    python benchmarks/bench_detector1.py [--size 2048] [--ngroups 10] [--nints 1]
    python benchmarks/bench_detector1.py --pipeline-tso 300 [--chunk-mb 256 1024]

The second form runs the whole detector1 pipeline (dq_init .. gain_scale) on a simulated
NIRCam grism time series of that many integrations (20 groups of 64 x 2048 pixels, written
to a temporary file first) with each working-memory budget, and prints the wall time and
the peak anonymous memory of the process (sampled every 20 ms; the memory-mapped input
and scratch files are file pages the system can drop, not counted).

Figures on the 2-core development VM (2026-12-05, second session), numba installed:

    webbcal  jump   1.04 s  ramp_fit   1.88 s  total   3.60 s  peak +0.18 GB   (a second run: 4.12 s)
    stcal    jump   9.06 s  ramp_fit   2.54 s  total  12.73 s  peak +1.65 GB

(without numba: jump 7-8 s, ramp_fit 11.8 s.)

The pipeline on a long time series (--pipeline-tso 300: 300 x 20 x 64 x 2048 ramps, 3.0 GB
as float32, a 2.25 GB raw file), same VM:

    chunk_mb    256:   ~100 s  peak anonymous memory +0.74 GB
    chunk_mb   1024:    ~94 s  peak anonymous memory +1.17 GB
    (unchunked, the whole exposure in memory as before: ~16 GB peak resident)

Of the +0.74 GB, ~0.27 GB is the corrections' chunks and the references, ~0.07 GB the
jump / ramp-fit blocks, and ~0.33 GB the writing of the rateints (astropy converts the
uint32 DQ cube to the FITS signed convention in one copy, and byte-swaps in place).
"""
import argparse
import json
import resource
import subprocess
import sys
import time


def make(size, ngroups, nints, seed=1):
    import numpy as np

    rng = np.random.default_rng(seed)
    slope = rng.uniform(0, 300, (size, size)).astype(np.float32)
    slope[: size // 64] = 5000
    t = (np.arange(ngroups, dtype=np.float32) + 1) * 10.7
    data = slope[None, None] * t[None, :, None, None] + rng.normal(0, 6, (nints, ngroups, size, size)).astype(np.float32)
    gdq = np.zeros(data.shape, np.uint8)
    n = size * size // 500
    i, g, y, x = (rng.integers(0, nints, n), rng.integers(1, ngroups, n), rng.integers(0, size, n),
                  rng.integers(0, size, n))
    for k in range(n):
        data[i[k], g[k]:, y[k], x[k]] += 1000
    gdq[data > 60000] = 2
    gdq[np.cumsum(gdq == 2, axis=1) > 0] |= 2
    return data, gdq


def run_case(case, size, ngroups, nints):
    import numpy as np

    data, gdq = make(size, ngroups, nints)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gain, rn, tg = 2.0, 9.0, 10.7
    t0 = time.perf_counter()
    if case.startswith("webbcal"):       # "webbcal-exact": ramp_fit's exact variances
        from webbcal.detector.jump import detect_jumps
        from webbcal.detector.ramp_fit import fit_ramps

        t = time.perf_counter()
        g2 = detect_jumps(data, gdq, gain, rn)
        tj = time.perf_counter() - t
        t = time.perf_counter()
        fit_ramps(data, g2, gain, rn, tg, variance="exact" if case.endswith("exact") else "official")
        tr = time.perf_counter() - t
    else:
        from stcal.jump.jump import detect_jumps_data
        from stcal.jump.jump_class import JumpData
        from stcal.ramp_fitting.ramp_fit import ramp_fit_data
        from stcal.ramp_fitting.ramp_fit_class import RampData

        jd = JumpData(gain2d=np.full((size, size), gain, np.float32), rnoise2d=np.full((size, size), rn, np.float32),
                      dqflags={"GOOD": 0, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 2**19, "DO_NOT_USE": 1,
                               "REFERENCE_PIXEL": 2**31})
        jd.data, jd.gdq, jd.pdq = data, gdq.copy(), np.zeros((size, size), np.uint32)
        jd.nframes, jd.max_cores = 1, "none"
        jd.dt_group, jd.n_reads_groupdiff = np.ones(1), np.full(1, 2.0)
        t = time.perf_counter()
        g2 = detect_jumps_data(jd)[0]
        tj = time.perf_counter() - t
        rd = RampData()
        rd.set_arrays(data, g2, np.zeros((size, size), np.uint32), np.zeros((size, size), np.float32))
        rd.set_meta(name="NIRCAM", frame_time=tg, group_time=tg, groupgap=0, nframes=1, drop_frames1=None)
        rd.set_dqflags({"DO_NOT_USE": 1, "SATURATED": 2, "JUMP_DET": 4, "NO_GAIN_VALUE": 8, "PERSISTENCE": 32,
                        "CHARGELOSS": 128, "UNRELIABLE_SLOPE": 2**24})
        rd.suppress_one_group_ramps = False
        rd.start_row, rd.num_rows = 0, size
        t = time.perf_counter()
        ramp_fit_data(rd, False, np.full((size, size), rn, np.float32), np.full((size, size), gain, np.float32),
                      "OLS_C", "optimal", "none")
        tr = time.perf_counter() - t
    total = time.perf_counter() - t0
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024 ** 2
    return {"case": case, "jump": tj, "ramp_fit": tr, "total": total, "peak_gb_above": peak}


def _anon_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_pipeline(path, chunk_mb, outdir):
    """detector1 on ``path``: wall time and peak anonymous memory above the start (MB)."""
    import threading

    from webbcal.pipeline import get_step_class

    base = _anon_mb()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _anon_mb())
            done.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t = time.perf_counter()
    get_step_class("detector1")(output_dir=outdir, save_results=True, chunk_mb=chunk_mb).run(path)
    wall = time.perf_counter() - t
    done.set()
    th.join()
    return {"chunk_mb": chunk_mb, "wall": wall, "peak_anon_mb": peak[0] - base}


def pipeline_tso(nints, budgets):
    import logging
    import tempfile
    from pathlib import Path

    import numpy as np

    logging.disable(logging.WARNING)
    from webbcal.plugins import get_host

    host = get_host()
    mode = host.modes.find("NIRCAM", "NRC_TSGRISM")
    tmp = Path(tempfile.mkdtemp(prefix="bench_d1_"))
    model, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": nints, "level": "uncal", "seed": 1,
                                                                     "cosmic_rays": 20})
    path = tmp / "tso_uncal.fits"
    model.save(path)
    shape = np.shape(model.data)
    del model
    size_mb = int(np.prod(shape)) * 4 / 2 ** 20
    print(f"detector1 on {' x '.join(map(str, shape))} ramps ({size_mb:.0f} MB as float32, "
          f"{path.stat().st_size / 2 ** 20:.0f} MB raw file)")
    for mb in budgets:
        out = subprocess.run([sys.executable, __file__, "--run-pipeline", str(path), "--chunk-mb", str(mb)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(f"  chunk_mb {mb}: failed ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ''})")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  chunk_mb {mb:6.0f}: {r['wall']:7.1f} s  peak anonymous memory +{r['peak_anon_mb']:.0f} MB")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--ngroups", type=int, default=10)
    ap.add_argument("--nints", type=int, default=1)
    ap.add_argument("--run-case", default=None)
    ap.add_argument("--pipeline-tso", type=int, default=None, help="integrations of the detector1 pipeline case")
    ap.add_argument("--chunk-mb", type=float, nargs="+", default=[256.0, 1024.0])
    ap.add_argument("--run-pipeline", default=None)
    args = ap.parse_args()
    if args.run_case:
        print(json.dumps(run_case(args.run_case, args.size, args.ngroups, args.nints)))
        return
    if args.run_pipeline:
        import logging
        import tempfile

        logging.disable(logging.WARNING)
        print(json.dumps(run_pipeline(args.run_pipeline, args.chunk_mb[0], tempfile.mkdtemp(prefix="bench_d1o_"))))
        return
    if args.pipeline_tso:
        pipeline_tso(args.pipeline_tso, args.chunk_mb)
        return
    rows = []
    for case in ("webbcal", "webbcal-exact", "stcal"):
        out = subprocess.run([sys.executable, __file__, "--run-case", case, "--size", str(args.size), "--ngroups",
                              str(args.ngroups), "--nints", str(args.nints)], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{case}: not run ({out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'failed'})")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.nints} x {args.ngroups} x {args.size} x {args.size}: jump + ramp_fit")
    for r in rows:
        print(f"  {r['case']:13s} jump {r['jump']:6.2f} s  ramp_fit {r['ramp_fit']:6.2f} s  total {r['total']:6.2f} s  "
              f"peak +{r['peak_gb_above']:.2f} GB")


if __name__ == "__main__":
    main()
