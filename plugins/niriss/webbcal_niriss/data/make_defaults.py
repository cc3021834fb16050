"""Write the embedded default NIRISS reference files, SOSS and imaging (synthetic, PEDIGREE DUMMY).

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
- ``jwst_niriss_distortion_image_dummy.asdf``: imaging DISTORTION (full-frame 0-based
  pixels -> V2/V3 arcsec), the NIS_CEN reference point (V2, V3) = (-290.1, -697.5) at the
  detector centre, 0.0656 arcsec/pixel, axes turned -0.57 deg from V2/V3, a gentle
  quadratic term, with a fitted inverse.
- ``jwst_niriss_flat_image_dummy.fits``: imaging FLAT, full frame 2048 x 2048 (SCI, ERR,
  DQ, DQ_DEF; tile-compressed): a smooth pattern of a few per cent, the 4-pixel
  reference-pixel border flagged, a few dead pixels.
- ``jwst_niriss_flat_soss_dummy.fits``: SOSS FLAT, full frame, all ones (ERR 0) with the
  reference-pixel border flagged: flat_field runs on SOSS and changes no value.
- ``jwst_niriss_area_image_dummy.fits``: pixel-area map (relative to PIXAR_SR), smooth.
- ``jwst_niriss_photom_image_dummy.fits``: PHOTOM with the imaging rows (order 0): the
  short-wavelength filters in the pupil wheel with FILTER=CLEAR, the long-wavelength
  ones in the filter wheel with PUPIL=CLEARP, photmjsr of the right order of magnitude.
- ``jwst_niriss_{mask,saturation,superbias,linearity,dark,gain,readnoise}_dummy.fits``:
  the stage-1 references (core writer ``write_stage1_defaults``), full frame, constant:
  gain 1.6 e/DN, read noise 11 DN per CDS pair, bias 12000 DN, saturation 60000 DN,
  linearity ``D + 2e-6 D^2``, dark 0.02 DN per frame over 40 frames; the reference
  border flagged (EXP_TYPE ANY: every NIRISS mode).
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
    for k, v in {**dict(TELESCOP="JWST", INSTRUME="NIRISS", DETECTOR="NIS", EXP_TYPE="NIS_SOSS", REFTYPE=reftype,
                        PUPIL="GR700XD", PEDIGREE="DUMMY", AUTHOR="webbcal make_defaults.py",
                        DESCRIP=f"synthetic {reftype} for webbcal offline runs -- not a calibration",
                        USEAFTER="2022-01-01T00:00:00"), **extra}.items():
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


# --------------------------------------------------------------------------------------
# imaging
# --------------------------------------------------------------------------------------
FULL = (2048, 2048)
REFPIX = 4
XREF = YREF = 1023.5
V2REF, V3REF = -290.10, -697.50
SCALE = 0.0656
ANGLE = -0.57
PIXAR_A2 = SCALE ** 2
PIXAR_SR = PIXAR_A2 * (np.pi / 180.0 / 3600.0) ** 2
#: synthetic PHOTMJSR (MJy/sr per DN/s) of the imaging (FILTER, PUPIL) pairs
IMAGING_PHOTMJSR = {
    ("CLEAR", "F090W"): 0.37, ("CLEAR", "F115W"): 0.33, ("CLEAR", "F140M"): 0.78, ("CLEAR", "F150W"): 0.37,
    ("CLEAR", "F158M"): 0.70, ("CLEAR", "F200W"): 0.34, ("F277W", "CLEARP"): 0.28, ("F356W", "CLEARP"): 0.26,
    ("F380M", "CLEARP"): 1.31, ("F430M", "CLEARP"): 1.64, ("F444W", "CLEARP"): 0.29, ("F480M", "CLEARP"): 1.47,
}


def imaging_primary(reftype, **extra):
    h = primary(reftype, **extra)
    h.header["EXP_TYPE"] = "NIS_IMAGE"
    h.header["PUPIL"] = "ANY"
    return h


def distortion():
    import asdf

    from webbcal.plugin_api import synthetic_distortion

    model = synthetic_distortion((XREF, YREF), (V2REF, V3REF), SCALE, ANGLE, FULL, quad=1.0e-7,
                                 name="niriss_imaging_distortion")
    meta = {"reftype": "distortion", "instrument": {"name": "NIRISS", "detector": "NIS", "pupil": "ANY"},
            "exposure": {"type": "NIS_IMAGE"}, "pedigree": "DUMMY", "useafter": "2022-01-01T00:00:00",
            "author": "webbcal make_defaults.py", "input_units": "pixel", "output_units": "arcsec",
            "description": "synthetic NIRISS imaging distortion for webbcal offline runs -- not a calibration"}
    asdf.AsdfFile({"meta": meta, "model": model}).write_to(HERE / "jwst_niriss_distortion_image_dummy.asdf",
                                                           all_array_storage="inline")


def flat():
    from webbcal.plugin_api import write_flat_file

    ny, nx = FULL
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    u, v = (x - nx / 2) / (nx / 2), (y - ny / 2) / (ny / 2)
    pattern = 0.025 * (u ** 2 + 0.7 * v ** 2) - 0.01 * u * v + 0.008 * np.cos(np.pi * 1.5 * u) * np.cos(np.pi * v)
    rng = np.random.default_rng(20230101)
    dead = (rng.integers(20, ny - 20, 60), rng.integers(20, nx - 20, 60))
    write_flat_file(HERE / "jwst_niriss_flat_image_dummy.fits",
                    imaging_primary("FLAT", FILTER="ANY", SUBARRAY="FULL"),
                    1.0 + np.round(pattern * 1024.0) / 1024.0, border=REFPIX, error=0.004, dead=dead)


def flat_soss():
    """A unity SOSS flat (full frame): the step runs and flags the reference pixels, the
    values stay as they are -- a real SOSS FLAT is for WEBBCAL_REFS / CRDS."""
    from webbcal.plugin_api import write_flat_file

    write_flat_file(HERE / "jwst_niriss_flat_soss_dummy.fits", primary("FLAT", FILTER="ANY", SUBARRAY="FULL"),
                    np.ones(FULL), border=REFPIX, error=0.0)


def area():
    from webbcal.plugin_api import write_area_file

    y, x = np.mgrid[0:FULL[0], 0:FULL[1]].astype(np.float64)
    u, v = (x - XREF) / 1024.0, (y - YREF) / 1024.0
    write_area_file(HERE / "jwst_niriss_area_image_dummy.fits",
                    imaging_primary("AREA", FILTER="ANY", SUBARRAY="FULL"),
                    1.0 + 0.003 * u - 0.002 * v + 0.0015 * u * v, PIXAR_SR, PIXAR_A2)


def photom_image():
    pairs = sorted(IMAGING_PHOTMJSR)
    n = len(pairs)
    cols = [fits.Column(name="filter", format="12A", array=[f for f, _ in pairs]),
            fits.Column(name="pupil", format="15A", array=[p for _, p in pairs]),
            fits.Column(name="order", format="I", array=np.zeros(n, np.int16)),
            fits.Column(name="photmjsr", format="E", array=[IMAGING_PHOTMJSR[k] for k in pairs]),
            fits.Column(name="uncertainty", format="E", array=[0.01 * IMAGING_PHOTMJSR[k] for k in pairs]),
            fits.Column(name="nelem", format="I", array=np.zeros(n, np.int16)),
            fits.Column(name="wavelength", format="1E", array=np.zeros(n)),
            fits.Column(name="relresponse", format="1E", array=np.zeros(n))]
    tab = fits.BinTableHDU.from_columns(cols, name="PHOTOM")
    fits.HDUList([imaging_primary("PHOTOM", SUBARRAY="GENERIC", PIXAR_SR=PIXAR_SR, PIXAR_A2=PIXAR_A2), tab]).writeto(
        HERE / "jwst_niriss_photom_image_dummy.fits", overwrite=True)


#: stage-1 values (NIRISS-like magnitudes): gain (e/DN), read noise (DN per CDS pair), bias
#: and saturation (DN), quadratic LINEARITY term, DARK frames and dark per frame (DN)
GAIN, READNOISE, BIAS, SATURATION, LIN_C2, DARK_FRAMES, DARK_PER_FRAME = 1.6, 11.0, 12000.0, 60000.0, 2.0e-6, 40, 0.02


def detector_references():
    """MASK, SATURATION, SUPERBIAS, LINEARITY, DARK, GAIN, READNOISE (core writer)."""
    from webbcal.plugin_api import reference_border_dq, write_stage1_defaults

    def stage1_primary(reftype, **kw):
        h = primary(reftype, **kw)
        h.header["EXP_TYPE"], h.header["PUPIL"] = "ANY", "ANY"
        return h

    write_stage1_defaults(HERE, "jwst_niriss", stage1_primary, FULL, reference_border_dq(FULL, 4),
                          dict(gain=GAIN, readnoise=READNOISE, saturation=SATURATION, bias=BIAS, lin_c2=LIN_C2,
                               dark_frames=DARK_FRAMES, dark_per_frame=DARK_PER_FRAME))


if __name__ == "__main__":
    detector_references()
    spectrace()
    photom()
    distortion()
    flat()
    flat_soss()
    area()
    photom_image()
