"""Write the embedded default NIRISS SOSS reference files (synthetic, PEDIGREE DUMMY).

    python make_defaults.py      # in this folder

- ``jwst_niriss_spectrace_dummy.fits``: SPECTRACE in the flight layout (one ORDER table
  per order, WAVELENGTH / X / Y / THROUGHPUT / TILT, SUBSTRIP256 frame). The traces are
  smooth polynomials of x shaped like the flight traces (order 1 from row ~84 at the red
  end, dipping to ~39 and rising to ~75 at the blue end; order 2 above it and overlapping
  it at the red end of order 2; order 3 higher still, leaving the subarray near x=1300):
  a default to run offline, not a calibration.
- ``jwst_niriss_photom_soss_dummy.fits``: PHOTOM with SOSS rows (CLEAR and F277W with
  GR700XD, orders 1-3): photmj (MJy per DN/s of the extracted order: 1e-10 for order 1,
  so a 0.2 Jy star gives ~2000 DN/s per column) and a smooth relative response.
"""
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
P = np.polynomial.polynomial

#: polynomial coefficients in t = x / 1000 (x: 0-based SUBSTRIP256 column)
TRACE_Y = {1: [84.46, -59.21, 54.58, -51.41, 18.43],
           2: [102.82, -49.39, 111.20, -112.06, 50.23],
           3: [143.34, 18.95, 3.28, 56.14, -0.18]}
TRACE_WL = {1: [2.8314, -0.98174, -0.01781, 0.01131],
            2: [1.40893, -0.44481, -0.04911, 0.0225],
            3: [0.95683, -0.34354, 0.06854, -0.01926]}
#: peak throughput per order (relative)
PEAK = {1: 0.55, 2: 0.35, 3: 0.025}


def primary(reftype, **extra):
    h = fits.PrimaryHDU()
    for k, v in dict(TELESCOP="JWST", INSTRUME="NIRISS", DETECTOR="NIS", EXP_TYPE="NIS_SOSS", REFTYPE=reftype,
                     PUPIL="GR700XD", PEDIGREE="DUMMY", AUTHOR="webbcal make_defaults.py",
                     DESCRIP=f"synthetic {reftype} for webbcal offline runs -- not a calibration",
                     USEAFTER="2022-01-01T00:00:00", **extra).items():
        h.header[k] = v
    return h


def spectrace():
    hdus = [primary("SPECTRACE", SUBARRAY="SUBSTRIP256", FILTER="CLEAR")]
    x = np.arange(-50.0, 2100.0, 2.0)
    for order in (1, 2, 3):
        t = x / 1000.0
        y = P.polyval(t, TRACE_Y[order])
        wl = P.polyval(t, TRACE_WL[order])
        keep = (y > -20) & (y < 300)
        mid = 0.5 * (wl[keep].min() + wl[keep].max())
        thr = PEAK[order] * np.exp(-0.5 * ((wl - mid) / (0.45 * (wl[keep].max() - wl[keep].min()))) ** 2)
        cols = [fits.Column(name=n, format="D", array=a[keep]) for n, a in
                (("WAVELENGTH", wl), ("X", x), ("Y", y), ("THROUGHPUT", thr), ("TILT", np.zeros_like(x)))]
        h = fits.BinTableHDU.from_columns(cols, name="ORDER")
        h.header["EXTVER"] = order
        h.header["ORDER"] = order
        hdus.append(h)
    fits.HDUList(hdus).writeto(HERE / "jwst_niriss_spectrace_dummy.fits", overwrite=True)


def photom():
    n = 400
    rows = []
    for filt, order, lo, hi in (("CLEAR", 1, 0.80, 2.90), ("CLEAR", 2, 0.55, 1.45), ("CLEAR", 3, 0.55, 0.98),
                                ("F277W", 1, 2.40, 2.90)):
        wl = np.linspace(lo, hi, n)
        rel = 1.0 + 0.2 * np.cos(2 * np.pi * (wl - lo) / (hi - lo))
        # about 2000 DN/s per column for a 0.2 Jy star in order 1, fainter orders 2 and 3
        factor = {1: 1.0e-10, 2: 2.0e-10, 3: 1.0e-9}[order]
        rows.append((filt, "GR700XD", order, factor, 0.02 * factor, n, wl, rel, 0.01 * rel))
    cols = [fits.Column(name="filter", format="12A", array=[r[0] for r in rows]),
            fits.Column(name="pupil", format="15A", array=[r[1] for r in rows]),
            fits.Column(name="order", format="I", array=[r[2] for r in rows]),
            fits.Column(name="photmj", format="E", array=[r[3] for r in rows]),
            fits.Column(name="uncertainty", format="E", array=[r[4] for r in rows]),
            fits.Column(name="nelem", format="I", array=[r[5] for r in rows]),
            fits.Column(name="wavelength", format=f"{n}E", array=np.array([r[6] for r in rows])),
            fits.Column(name="relresponse", format=f"{n}E", array=np.array([r[7] for r in rows])),
            fits.Column(name="reluncertainty", format=f"{n}E", array=np.array([r[8] for r in rows]))]
    tab = fits.BinTableHDU.from_columns(cols, name="PHOTOM")
    tab.header["PIXAR_SR"] = 1.0e-13
    tab.header["PIXAR_A2"] = 0.0043
    fits.HDUList([primary("PHOTOM", SUBARRAY="GENERIC", PIXAR_SR=1.0e-13, PIXAR_A2=0.0043), tab]).writeto(
        HERE / "jwst_niriss_photom_soss_dummy.fits", overwrite=True)


if __name__ == "__main__":
    spectrace()
    photom()
