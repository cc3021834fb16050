"""Write the embedded default FGS reference files (synthetic, PEDIGREE DUMMY).

    python make_defaults.py      # in this folder

- ``jwst_fgs_distortion_guider{1,2}_dummy.asdf``: DISTORTION, full-frame pixels -> V2/V3
  at 0.069 arcsec/pixel, reference points near the flight ones (V2, V3) = (207.19,
  -697.50) and (24.43, -697.50), fitted inverse;
- ``jwst_fgs_flat_dummy.fits``: FLAT, full frame, a smooth pattern, reference border and
  some dead pixels flagged;
- ``jwst_fgs_mask_dummy.fits``: MASK, the reference border and the flat's dead pixels
  (DO_NOT_USE | DEAD) with DQ_DEF;
- ``jwst_fgs_gain_dummy.fits``: GAIN 2.0 electrons per DN everywhere;
- ``jwst_fgs_readnoise_dummy.fits``: READNOISE 6.0 DN per CDS pair everywhere;
- ``jwst_fgs_{saturation,superbias,linearity,dark}_dummy.fits``: the other stage-1
  references (core writer ``write_stage1_defaults``): saturation 60000 DN, bias 12000 DN,
  linearity ``D + 2e-6 D^2``, dark 0.02 DN per frame over 40 frames, the mask's flags.
"""
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
FULL = (2048, 2048)
REFPIX = 4
SCALE = 0.069
V2V3 = {1: (207.19, -697.50), 2: (24.43, -697.50)}
GAIN, READNOISE = 2.0, 6.0
#: the other stage-1 values (NIR-like magnitudes): saturation, bias (DN), quadratic
#: LINEARITY term, DARK frames and dark per frame (DN)
SATURATION, BIAS, LIN_C2, DARK_FRAMES, DARK_PER_FRAME = 60000.0, 12000.0, 2.0e-6, 40, 0.02


def primary(reftype, **extra):
    h = fits.PrimaryHDU()
    for k, v in {**dict(TELESCOP="JWST", INSTRUME="FGS", REFTYPE=reftype, PEDIGREE="DUMMY", DETECTOR="ANY",
                        AUTHOR="webbcal make_defaults.py", USEAFTER="2022-01-01T00:00:00",
                        DESCRIP=f"synthetic {reftype} for webbcal offline runs -- not a calibration"),
                 **extra}.items():
        h.header[k] = v
    return h


def dead_pixels():
    rng = np.random.default_rng(20220601)
    return rng.integers(20, FULL[0] - 20, 40), rng.integers(20, FULL[1] - 20, 40)


def distortion(guider):
    import asdf

    from webbcal.plugin_api import synthetic_distortion

    model = synthetic_distortion((1023.5, 1023.5), V2V3[guider], SCALE, -1.24 if guider == 1 else -0.45, FULL,
                                 quad=3.0e-8, name=f"fgs_guider{guider}_distortion")
    meta = {"reftype": "distortion", "instrument": {"name": "FGS", "detector": f"GUIDER{guider}"},
            "exposure": {"type": "FGS_IMAGE"}, "pedigree": "DUMMY", "useafter": "2022-01-01T00:00:00",
            "author": "webbcal make_defaults.py", "input_units": "pixel", "output_units": "arcsec",
            "description": "synthetic FGS distortion for webbcal offline runs -- not a calibration"}
    asdf.AsdfFile({"meta": meta, "model": model}).write_to(HERE / f"jwst_fgs_distortion_guider{guider}_dummy.asdf",
                                                           all_array_storage="inline")


def flat():
    from webbcal.plugin_api import write_flat_file

    y, x = np.mgrid[0:FULL[0], 0:FULL[1]].astype(np.float64)
    u, v = (x - 1024) / 1024, (y - 1024) / 1024
    pattern = 0.015 * (u ** 2 + v ** 2) - 0.01 * u * v + 0.005 * np.cos(2.5 * u) * np.sin(1.5 * v)
    write_flat_file(HERE / "jwst_fgs_flat_dummy.fits", primary("FLAT", SUBARRAY="FULL"),
                    1.0 + np.round(pattern * 1024.0) / 1024.0, border=REFPIX, error=0.003, dead=dead_pixels())


def mask_dq():
    """The reference border (DO_NOT_USE | REFERENCE_PIXEL) and the flat's dead pixels
    (DO_NOT_USE | DEAD)."""
    from webbcal.plugin_api import reference_border_dq

    dq = reference_border_dq(FULL, REFPIX)
    dq[dead_pixels()] = 1 | 1024
    return dq


def detector_references():
    """MASK, GAIN, READNOISE, SATURATION, SUPERBIAS, LINEARITY, DARK (core writer)."""
    from webbcal.plugin_api import write_stage1_defaults

    write_stage1_defaults(HERE, "jwst_fgs", primary, FULL, mask_dq(),
                          dict(gain=GAIN, readnoise=READNOISE, saturation=SATURATION, bias=BIAS, lin_c2=LIN_C2,
                               dark_frames=DARK_FRAMES, dark_per_frame=DARK_PER_FRAME))


if __name__ == "__main__":
    distortion(1)
    distortion(2)
    flat()
    detector_references()
