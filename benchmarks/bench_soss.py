"""Speed and memory of NIRISS SOSS box extraction (prints figures; not a test).

A SUBSTRIP256 time series of ``--nints`` integrations (default 500; 256 x 2048 float32
SCI, VAR_POISSON, VAR_RNOISE and uint32 DQ, ~4.2 GB) simulated by webbcal-niriss, then

``floor``  plain numpy: for each of the three orders, the weighted sums over rows of SCI
           and of the two variance arrays with that order's box weights (the weights
           computed beforehand) -- the minimum work of a box extraction;
``step``   the extract_1d step on the in-memory CubeModel: trace refinement on the data,
           the three order targets, box sums, x1dints columns with the PHOTOM conversion;
``optimal`` the same step with ``extraction_type="optimal"``: each order's profile with the
           other orders fitted jointly (decontamination), on both cores.

Each is timed ``--repeat`` times (best reported); the step's peak memory allocated during
the call (tracemalloc) is shown against the input arrays. Issue 11 asks: box within 3x
the floor, joint optimal within 5x box, peak memory within 1.5x the input.

    python benchmarks/bench_soss.py [--nints 500] [--repeat 3]
"""
import argparse
import time
import tracemalloc

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nints", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from webbcal.extract.engine import build_aperture
    from webbcal.plugins import get_host
    from webbcal.steps.extract_1d import Extract1dStep
    from webbcal_niriss import extract as soss_extract

    host = get_host()
    mode = host.modes.find("NIRISS", "NIS_SOSS")
    t0 = time.perf_counter()
    model, _ = host.call_for_mode("webbcal_simulate", mode, params={"nints": args.nints, "noise": False})
    print(f"simulated {model.data.shape} in {time.perf_counter() - t0:.1f} s")
    sci, vp, vr, dq = model.data, model.var_poisson, model.var_rnoise, model.dq
    nbytes = sum(a.nbytes for a in (sci, vp, vr, dq))

    step = Extract1dStep(host=host, save_results=False, log_increment=0)
    from webbcal.plugin_api import resolve_references

    refs = resolve_references(model, mode, mode.reftypes_for("extract_1d"))
    targets = soss_extract.extraction_targets(model, mode, refs, {})
    weights = [build_aperture(t, None, {}).src for t in targets]     # (ncross, ndisp) = (256, 2048)

    def floor():
        out = []
        for w in weights:
            rows = np.flatnonzero(w.any(axis=1))
            sl = slice(rows[0], rows[-1] + 1)
            ww = w[sl]
            out.append([np.einsum("nyx,yx->nx", a[:, sl], ww, dtype=np.float64) for a in (sci, vp, vr)])
        return out

    def run_step():
        return step.run_model(model, mode)

    opt_step = Extract1dStep(host=host, save_results=False, log_increment=0, extraction_type="optimal")

    def run_optimal():
        return opt_step.run_model(model, mode)

    def best(fn):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times), times

    tf, _ = best(floor)
    ts, all_s = best(run_step)
    to, all_o = best(run_optimal)
    tracemalloc.start()
    run_step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    run_optimal()
    peak_o = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"cube {args.nints} x 256 x 2048, input {nbytes / 1e9:.2f} GB")
    print(f"  floor   {tf:7.3f} s   (3 orders x SCI, VAR_POISSON, VAR_RNOISE weighted sums)")
    print(f"  step    {ts:7.3f} s   {ts / tf:5.2f} x floor (target <= 3)   runs: "
          + ", ".join(f"{t:.3f}" for t in all_s))
    print(f"  optimal {to:7.3f} s   {to / ts:5.2f} x box (target <= 5)   runs: " + ", ".join(f"{t:.3f}" for t in all_o))
    print(f"  peak allocated during the step: box {peak / 1e9:.2f} GB = (input + peak) / input "
          f"{(nbytes + peak) / nbytes:.2f}, optimal {peak_o / 1e9:.2f} GB = {(nbytes + peak_o) / nbytes:.2f} "
          "(target <= 1.5)")


if __name__ == "__main__":
    main()
