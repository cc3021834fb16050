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
- ``jwst_fgs_readnoise_dummy.fits``: READNOISE 6.0 DN per CDS pair everywhere.
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


def primary(reftype, **extra):
    h = fits.PrimaryHDU()
    for k, v in dict(TELESCOP="JWST", INSTRUME="FGS", REFTYPE=reftype, PEDIGREE="DUMMY", DETECTOR="ANY",
                     AUTHOR="webbcal make_defaults.py", USEAFTER="2022-01-01T00:00:00",
                     DESCRIP=f"synthetic {reftype} for webbcal offline runs -- not a calibration", **extra).items():
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


def mask():
    from webbcal.plugin_api import compressed_image_hdu, dq_def_hdu, zero_gzip_timestamps

    dq = np.zeros(FULL, np.uint32)
    dq[:REFPIX] = dq[-REFPIX:] = 1 | 2 ** 31
    dq[:, :REFPIX] = dq[:, -REFPIX:] = 1 | 2 ** 31
    dq[dead_pixels()] = 1 | 1024
    path = HERE / "jwst_fgs_mask_dummy.fits"
    h = primary("MASK", SUBARRAY="GENERIC")
    h.header["SUBSTRT1"], h.header["SUBSTRT2"] = 1, 1
    fits.HDUList([h, compressed_image_hdu(dq.view(np.int32), "DQ"), dq_def_hdu()]).writeto(path, overwrite=True)
    zero_gzip_timestamps(path)


def value(reftype, number, name):
    from webbcal.plugin_api import compressed_image_hdu, zero_gzip_timestamps

    path = HERE / name
    h = primary(reftype, SUBARRAY="GENERIC")
    h.header["SUBSTRT1"], h.header["SUBSTRT2"] = 1, 1
    fits.HDUList([h, compressed_image_hdu(np.full(FULL, number, np.float32), "SCI")]).writeto(path, overwrite=True)
    zero_gzip_timestamps(path)


if __name__ == "__main__":
    distortion(1)
    distortion(2)
    flat()
    mask()
    value("GAIN", GAIN, "jwst_fgs_gain_dummy.fits")
    value("READNOISE", READNOISE, "jwst_fgs_readnoise_dummy.fits")
