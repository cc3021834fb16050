"""Write the embedded default NIRCam reference files (synthetic, PEDIGREE DUMMY).

    python make_defaults.py      # in this folder

Shapes like the flight files, numbers chosen to look like NIRCam, none a calibration:

- ``jwst_nircam_distortion_{sw,lw}_dummy.asdf``: imaging DISTORTION of a short- (0.031
  arcsec/pixel) and a long-wavelength (0.063) detector, full-frame pixels -> V2/V3 with a
  fitted inverse; the reference point at the detector centre, module-A-like V2/V3;
- ``jwst_nircam_flat_dummy.fits``: FLAT, full frame, a smooth pattern of a few per cent,
  the 4-pixel reference border and some dead pixels flagged (DQ_DEF);
- ``jwst_nircam_area_dummy.fits``: pixel-area map relative to PIXAR_SR;
- ``jwst_nircam_photom_{sw,lw}_dummy.fits``: PHOTOM (filter, pupil, order, photmjsr, ...):
  imaging rows (PUPIL CLEAR, order 0) for the channel's filters and, long wave, grism rows
  (PUPIL GRISMR, order 1) with a smooth relative response across each filter's band;
  PIXAR_SR of the channel's pixel;
- ``jwst_nircam_specwcs_grismr_dummy.asdf``: grism SPECWCS in the NIRCAMGrismModel layout,
  order 1: wavelength 2.4 + 2.6 t micron, x offset from the source -1550 + 2600 t pixels
  (1 nm per pixel, with a slight dependence on the source column), y offset
  0.5 + 2 t - t**2 pixels.
"""
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
FULL = (2048, 2048)
REFPIX = 4
SCALE = {"sw": 0.031, "lw": 0.063}
V2V3 = {"sw": (120.6, -527.3), "lw": (86.1, -493.2)}
ANGLE = -0.55
XREF = YREF = 1023.5
SW_FILTERS = {"F070W": 0.30, "F090W": 0.24, "F115W": 0.20, "F150W": 0.17, "F200W": 0.15, "F212N": 1.9,
              "F150W2": 0.06, "F182M": 0.45, "F210M": 0.50}
LW_FILTERS = {"F250M": 0.40, "F277W": 0.13, "F300M": 0.30, "F322W2": 0.06, "F335M": 0.26, "F356W": 0.12,
              "F360M": 0.26, "F410M": 0.24, "F444W": 0.13, "F460M": 0.45, "F480M": 0.40}
#: grism rows: band (micron) and PHOTMJSR of order 1
GRISM = {"F322W2": (2.40, 4.02, 640.0), "F444W": (3.83, 5.05, 840.0), "F277W": (2.40, 3.13, 800.0),
         "F356W": (3.10, 4.01, 610.0)}


def primary(reftype, **extra):
    h = fits.PrimaryHDU()
    for k, v in dict(TELESCOP="JWST", INSTRUME="NIRCAM", REFTYPE=reftype, PEDIGREE="DUMMY",
                     AUTHOR="webbcal make_defaults.py", USEAFTER="2022-01-01T00:00:00",
                     DESCRIP=f"synthetic {reftype} for webbcal offline runs -- not a calibration", **extra).items():
        h.header[k] = v
    return h


def pixar(channel):
    a2 = SCALE[channel] ** 2
    return a2 * (np.pi / 180.0 / 3600.0) ** 2, a2


def distortion(channel):
    import asdf

    from webbcal.plugin_api import synthetic_distortion

    model = synthetic_distortion((XREF, YREF), V2V3[channel], SCALE[channel], ANGLE, FULL, quad=2.0e-8,
                                 name=f"nircam_{channel}_distortion")
    meta = {"reftype": "distortion", "instrument": {"name": "NIRCAM", "channel": "LONG" if channel == "lw" else "SHORT"},
            "exposure": {"type": "NRC_IMAGE|NRC_TSIMAGE"}, "pedigree": "DUMMY", "useafter": "2022-01-01T00:00:00",
            "author": "webbcal make_defaults.py", "input_units": "pixel", "output_units": "arcsec",
            "description": "synthetic NIRCam imaging distortion for webbcal offline runs -- not a calibration"}
    asdf.AsdfFile({"meta": meta, "model": model}).write_to(HERE / f"jwst_nircam_distortion_{channel}_dummy.asdf",
                                                           all_array_storage="inline")


def flat():
    from webbcal.plugin_api import write_flat_file

    y, x = np.mgrid[0:FULL[0], 0:FULL[1]].astype(np.float64)
    u, v = (x - 1024) / 1024, (y - 1024) / 1024
    pattern = 0.02 * (0.8 * u ** 2 + v ** 2) + 0.006 * u * v - 0.01 * np.sin(np.pi * u) * np.cos(0.5 * np.pi * v)
    rng = np.random.default_rng(20240301)
    dead = (rng.integers(20, FULL[0] - 20, 60), rng.integers(20, FULL[1] - 20, 60))
    write_flat_file(HERE / "jwst_nircam_flat_dummy.fits", primary("FLAT", DETECTOR="ANY", FILTER="ANY",
                                                                  SUBARRAY="FULL"),
                    1.0 + np.round(pattern * 1024.0) / 1024.0, border=REFPIX, error=0.003, dead=dead)


def area():
    from webbcal.plugin_api import write_area_file

    y, x = np.mgrid[0:FULL[0], 0:FULL[1]].astype(np.float64)
    u, v = (x - XREF) / 1024.0, (y - YREF) / 1024.0
    sr, a2 = pixar("lw")
    write_area_file(HERE / "jwst_nircam_area_dummy.fits", primary("AREA", DETECTOR="ANY", FILTER="ANY", SUBARRAY="FULL"),
                    1.0 - 0.002 * u + 0.003 * v + 0.001 * u * v, sr, a2)


def photom(channel):
    n = 300
    rows = []
    for f, value in (SW_FILTERS if channel == "sw" else LW_FILTERS).items():
        rows.append((f, "CLEAR", 0, value, 0.01 * value, 0, np.zeros(n), np.zeros(n)))
    if channel == "lw":
        for f, (lo, hi, value) in GRISM.items():
            wl = np.linspace(lo, hi, n)
            x = (wl - lo) / (hi - lo)
            rel = 0.2 + 0.8 * np.sin(np.pi * np.clip(x, 0, 1)) ** 0.5 * (1 + 0.1 * np.cos(6 * np.pi * x))
            rows.append((f, "GRISMR", 1, value, 0.01 * value, n, wl, rel))
    cols = [fits.Column(name="filter", format="12A", array=[r[0] for r in rows]),
            fits.Column(name="pupil", format="15A", array=[r[1] for r in rows]),
            fits.Column(name="order", format="I", array=[r[2] for r in rows]),
            fits.Column(name="photmjsr", format="E", array=[r[3] for r in rows]),
            fits.Column(name="uncertainty", format="E", array=[r[4] for r in rows]),
            fits.Column(name="nelem", format="I", array=[r[5] for r in rows]),
            fits.Column(name="wavelength", format=f"{n}E", array=np.array([r[6] for r in rows])),
            fits.Column(name="relresponse", format=f"{n}E", array=np.array([r[7] for r in rows]))]
    sr, a2 = pixar(channel)
    fits.HDUList([primary("PHOTOM", DETECTOR="NRCALONG" if channel == "lw" else "NRCA1", PIXAR_SR=sr, PIXAR_A2=a2),
                  fits.BinTableHDU.from_columns(cols, name="PHOTOM")]).writeto(
        HERE / f"jwst_nircam_photom_{channel}_dummy.fits", overwrite=True)


def specwcs():
    import asdf
    from astropy.modeling import models

    displ = [models.Polynomial1D(1, c0=2.4, c1=2.6, name="displ_+1")]
    dispx = [[models.Polynomial2D(1, c0_0=-1550.0, c1_0=0.002, name="dispx_c0_+1"),
              models.Polynomial2D(1, c0_0=2600.0, name="dispx_c1_+1")]]
    dispy = [[models.Polynomial2D(1, c0_0=0.5, name="dispy_c0_+1"), models.Polynomial2D(1, c0_0=2.0, name="dispy_c1_+1"),
              models.Polynomial2D(1, c0_0=-1.0, name="dispy_c2_+1")]]
    meta = {"reftype": "specwcs", "model_type": "NIRCAMGrismModel", "pedigree": "DUMMY",
            "instrument": {"name": "NIRCAM", "module": "A", "pupil": "GRISMR", "filter": "ANY", "detector": "NRCALONG"},
            "exposure": {"type": "NRC_TSGRISM"}, "useafter": "2022-01-01T00:00:00", "author": "webbcal make_defaults.py",
            "description": "synthetic NIRCam GRISMR dispersion for webbcal offline runs -- not a calibration"}
    asdf.AsdfFile({"meta": meta, "orders": [1], "displ": displ, "dispx": dispx, "dispy": dispy,
                   "invdispl": [], "invdispx": [], "invdispy": []}).write_to(
        HERE / "jwst_nircam_specwcs_grismr_dummy.asdf", all_array_storage="inline")


#: stage-1 detector values of the synthetic references (NIRCam-like magnitudes)
GAIN, READNOISE, BIAS, SATURATION = 2.0, 9.0, 12000.0, 60000.0
#: frames in the synthetic DARK, its dark signal per frame (DN), the quadratic LINEARITY term
DARK_FRAMES, DARK_PER_FRAME, LIN_C2 = 40, 0.02, 2.0e-6


def detector_references():
    """SATURATION, SUPERBIAS, LINEARITY, DARK, GAIN, READNOISE, MASK: full frame, constant
    values with the reference border flagged (the core's writer)."""
    from webbcal.plugin_api import reference_border_dq, write_stage1_defaults

    write_stage1_defaults(HERE, "jwst_nircam", primary, FULL, reference_border_dq(FULL, REFPIX),
                          dict(gain=GAIN, readnoise=READNOISE, saturation=SATURATION, bias=BIAS, lin_c2=LIN_C2,
                               dark_frames=DARK_FRAMES, dark_per_frame=DARK_PER_FRAME))


if __name__ == "__main__":
    for ch in ("sw", "lw"):
        distortion(ch)
        photom(ch)
    flat()
    area()
    specwcs()
    detector_references()
