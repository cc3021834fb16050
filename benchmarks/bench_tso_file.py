"""End-to-end box extraction of a MIRI LRS slitless calints file, opening included
(prints figures; not a test).

The file: the real 4-integration calints of tests/data (MIRISim, written by the official
pipeline 2.0.1) repeated to 300 integrations (300 x 416 x 72, SCI/ERR/DQ/VAR_* float32,
WAVELENGTH, INT_TIMES, the official gwcs), written once to a temporary folder.

``floor``   plain numpy on the same file: astropy memory-mapped open, read SCI and the
            three variance arrays, one weighted sum over the aperture (einsum) -- the
            least any box extraction of that file can cost
``webbcal`` ``webbcal.run("extract_1d", path)`` with its defaults, as a user calls it:
            open, mode lookup, reference files, aperture, box sums, x1dints columns

Each is timed best of ``--repeat`` (default 20) runs, the three cases round-robin after
one warm-up call each, the file in the page cache.  Target (issue 9): webbcal <= 2x
floor.  The second webbcal line is the same run with the in-process cache of reference
objects off (``WEBBCAL_REF_CACHE=0``): the reference files are read again, as for the
first file of a session.

Where the time goes (2026-12-05, 2 cores, ~31 ms in all): the four arrays a box sum
needs (SCI, VAR_POISSON, VAR_RNOISE and DQ -- the floor reads no DQ) read with pread on
two threads, each with its weighted sum, ~12 ms; opening the file (astropy's header
parsing of nine HDUs, INT_TIMES, the ASDF bytes -- no YAML parse) ~6 ms; the 18 x1dints
columns (17 MB of product) ~5 ms; aperture correction, aperture, metadata, hooks ~7 ms;
reading the three reference files when they are not cached another ~4 ms.

Usage::

    python benchmarks/bench_tso_file.py [--nints 300] [--repeat 20]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "miri" / "ERS_NGTS10_2022_new_drift_041_calints.fits"


def build(path, nints):
    with fits.open(SOURCE) as hdul:
        out = fits.HDUList([h.copy() for h in hdul])
    reps = int(np.ceil(nints / out["SCI"].data.shape[0]))
    for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
        if name in out:
            out[name].data = np.ascontiguousarray(np.tile(out[name].data, (reps, 1, 1))[:nints])
    rows = np.zeros(nints, dtype=np.array(out["INT_TIMES"].data).dtype.newbyteorder("="))
    rows["integration_number"] = np.arange(1, nints + 1)
    for col, offset in (("start", 0.0), ("mid", 0.5), ("end", 1.0)):  # 10-s integrations
        rows[f"int_{col}_MJD_UTC"] = 59800.0 + (np.arange(nints) + offset) * 10.0 / 86400.0
        rows[f"int_{col}_BJD_TDB"] = rows[f"int_{col}_MJD_UTC"] + 0.0008
    out["INT_TIMES"] = fits.BinTableHDU(rows, header=out["INT_TIMES"].header, name="INT_TIMES")
    out[0].header["INTSTART"], out[0].header["INTEND"], out[0].header["NINTS"] = 1, nints, nints
    out.writeto(path, overwrite=True)


def floor(path, rows, cols):
    with fits.open(path, memmap=True) as hdul:
        sci = hdul["SCI"].data
        w = np.zeros(sci.shape[-1], np.float32)
        w[cols] = 1.0
        flux = np.einsum("irc,c->ir", sci[:, rows], w)
        var = sum(np.einsum("irc,c->ir", hdul[n].data[:, rows], w)
                  for n in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT") if n in hdul)
        return flux, var


def best_interleaved(fns, repeat):
    """Best time of each of ``fns``, run round-robin ``repeat`` times after one warm-up
    call each (interleaving keeps drifts of a busy machine from favouring one)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [min(t) for t in times]


def _without_ref_cache(fn):
    def run():
        os.environ["WEBBCAL_REF_CACHE"] = "0"
        try:
            return fn()
        finally:
            del os.environ["WEBBCAL_REF_CACHE"]

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nints", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import logging

    import webbcal

    logging.getLogger("webbcal").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_calints.fits"
        build(path, args.nints)
        x1d = webbcal.run("extract_1d", path)
        spec = x1d.spec[0]
        xs, xe = int(round(spec.extraction_xstart)), int(round(spec.extraction_xstop))
        ys, ye = int(round(spec.extraction_ystart)), int(round(spec.extraction_ystop))
        rows, cols = slice(ys, ye + 1), slice(xs, xe + 1)
        ours = lambda: webbcal.run("extract_1d", path)  # noqa: E731
        t_floor, t_ours, t_cold = best_interleaved(
            [lambda: floor(path, rows, cols), ours, _without_ref_cache(ours)], args.repeat)
        size = path.stat().st_size / 1e6
        print(f"file {args.nints} x 416 x 72 ({size:.0f} MB), aperture x {xs}-{xe}, y {ys}-{ye}")
        print(f"  floor   {t_floor * 1e3:8.1f} ms")
        print(f"  webbcal {t_ours * 1e3:8.1f} ms   {t_ours / t_floor:5.2f} x floor   (target <= 2x)")
        print(f"  webbcal {t_cold * 1e3:8.1f} ms   {t_cold / t_floor:5.2f} x floor   (reference files read again: "
              "WEBBCAL_REF_CACHE=0)")


if __name__ == "__main__":
    main()
