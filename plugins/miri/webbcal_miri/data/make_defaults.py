"""Write the embedded default MIRI reference files (synthetic, PEDIGREE DUMMY).

Run from anywhere: ``python make_defaults.py``; the files are written next to this
script.  The output is deterministic (no random numbers without a fixed seed, no
timestamps in the data) so that re-running it reproduces the committed files.

The files use the real CRDS layouts so the readers are exercised on the formats of the
flight files, but every number here is SYNTHETIC: smooth shapes chosen to look like
MIRI (pixel scale, trace position, the prism's non-linear dispersion, a response curve
falling at the band edges), not calibration data.  Do not use them for science.

Full-frame images (flat, area) are stored as losslessly tile-compressed images
(GZIP_2, no quantization) whose values lie on a 1/1024 (flat) or 1/4096 (area) grid,
so they compress to a few kilobytes; astropy opens them transparently as ``SCI``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

SYNTHETIC_NOTE = "SYNTHETIC webbcal default: not flight calibration data, do not use for science"
USEAFTER = "2022-01-01T00:00:00"

NY, NX = 1024, 1032
REFCOLS = 4

# imager reference point (0-based full-frame pixel) and its V2/V3 (arcsec); MIRI-like
XREF, YREF = 692.5, 511.5
V2REF, V3REF = -453.56, -373.81
SCALE = 0.1108  # arcsec / pixel
ANGLE = 4.45  # degrees: rotation of the detector axes relative to V2/V3
QUAD = 2.0e-7  # arcsec / pixel^2: a gentle quadratic distortion

# LRS zero points (1-based full-frame pixels), close to the nominal slit / slitless positions
IMX, IMY = 326.13, 300.70
IMXSLTL, IMYSLTL = 38.5, 829.0

# prism dispersion: wavelength (micron) and trace x shift (pixels) at rows relative to the
# zero point; a smooth monotonic curve through these anchors approximates the shape of
# the flight solution (steep at the short-wavelength end)
ANCHOR_DY = [-293, -283, -263, -233, -203, -173, -143, -113, -83, -53, -23, 7, 27, 47, 67, 77, 85, 90]
ANCHOR_WAVE = [14.05, 13.91, 13.63, 13.20, 12.74, 12.25, 11.73, 11.17, 10.57, 9.92, 9.19, 8.37, 7.75, 7.05, 6.23, 5.73, 5.24, 4.83]
ANCHOR_XSHIFT = [-1.148, -1.090, -0.977, -0.819, -0.673, -0.539, -0.416, -0.306, -0.208, -0.122, -0.048, 0.013, 0.048, 0.077, 0.101, 0.111, 0.118, 0.122]
# cross-dispersion extent of the calibrated region around the trace (pixels)
BOX_LEFT, BOX_RIGHT = -22.0, 21.0

IMAGER_FILTERS = {  # synthetic PHOTMJSR (MJy/sr per DN/s)
    "F560W": 0.62, "F770W": 0.25, "F1000W": 0.32, "F1130W": 1.05, "F1280W": 0.37,
    "F1500W": 0.33, "F1800W": 0.46, "F2100W": 0.35, "F2550W": 1.20,
}
IMAGER_SUBARRAYS = ("FULL", "BRIGHTSKY", "SUB256", "SUB128", "SUB64")
LRS_PHOTMJSR = 60.0
PIXEL_SCALE = 0.11
PIXAR_A2 = PIXEL_SCALE**2
PIXAR_SR = PIXAR_A2 * (np.pi / 180.0 / 3600.0) ** 2

DQ_DEF = [  # the JWST bit meanings used by the synthetic flat
    (0, 1, "DO_NOT_USE", "Bad pixel not to be used for science"),
    (10, 1024, "DEAD", "Dead pixel"),
    (18, 2**18, "NO_FLAT_FIELD", "No flat-field value"),
    (25, 2**25, "UNRELIABLE_FLAT", "Flat value is uncertain"),
    (31, 2**31, "REFERENCE_PIXEL", "Reference pixel"),
]


def primary_header(reftype, description, **keys):
    from astropy.io import fits

    h = fits.Header()
    h["REFTYPE"] = reftype
    h["TELESCOP"] = "JWST"
    h["INSTRUME"] = "MIRI"
    h["DETECTOR"] = "MIRIMAGE"
    h["PEDIGREE"] = "DUMMY"
    h["USEAFTER"] = USEAFTER
    h["AUTHOR"] = "webbcal make_defaults.py"
    h["DESCRIP"] = description[:68]
    for k, v in keys.items():
        h[k.replace("_", "-") if k == "DATE_OBS" else k] = v
    h["COMMENT"] = SYNTHETIC_NOTE
    h["HISTORY"] = "Written by webbcal_miri/data/make_defaults.py (deterministic)."
    return h


# --------------------------------------------------------------------------------------
def distortion_model():
    """Full-frame 0-based (x, y) -> (V2, V3) arcsec, with a fitted polynomial inverse."""
    from webbcal.plugin_api import synthetic_distortion

    return synthetic_distortion((XREF, YREF), (V2REF, V3REF), SCALE, ANGLE, (NY, NX), quad=QUAD,
                                name="miri_imager_distortion")


def write_distortion(path):
    import asdf

    meta = {
        "reftype": "distortion",
        "instrument": {"name": "MIRI", "detector": "MIRIMAGE"},
        "exposure": {"type": "MIR_IMAGE|MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS"},
        "pedigree": "DUMMY",
        "useafter": USEAFTER,
        "author": "webbcal make_defaults.py",
        "description": "Synthetic MIRI imager distortion: full-frame 0-based pixels -> V2,V3 (arcsec). " + SYNTHETIC_NOTE,
        "input_units": "pixel",
        "output_units": "arcsec",
    }
    af = asdf.AsdfFile({"meta": meta, "model": distortion_model()})
    af.write_to(path, all_array_storage="inline")


# --------------------------------------------------------------------------------------
def specwcs_rows():
    from scipy.interpolate import PchipInterpolator

    dy = np.arange(ANCHOR_DY[0], ANCHOR_DY[-1] + 1, dtype=np.float64)
    wave = PchipInterpolator(ANCHOR_DY, ANCHOR_WAVE)(dy)
    xc = PchipInterpolator(ANCHOR_DY, ANCHOR_XSHIFT)(dy)
    return xc, dy, wave


def write_specwcs(path):
    from astropy.io import fits

    xc, yc, wave = specwcs_rows()
    cols = {
        "X_CENTER": xc, "Y_CENTER": yc, "WAVELENGTH": wave,
        "X0": xc + BOX_LEFT, "Y0": yc + 0.5, "X1": xc + BOX_RIGHT, "Y1": yc + 0.5,
        "X2": xc + BOX_RIGHT, "Y2": yc - 0.5, "X3": xc + BOX_LEFT, "Y3": yc - 0.5,
    }
    units = {"WAVELENGTH": "micron"}
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name=k, format="E", array=v.astype(np.float32), unit=units.get(k, "pixel")) for k, v in cols.items()],
        name="WAVETABLE",
    )
    zero = {"IMX": IMX, "IMY": IMY, "IMXSLTL": IMXSLTL, "IMYSLTL": IMYSLTL}
    for k, v in zero.items():
        table.header[k] = v
    hdr = primary_header("SPECWCS", "Synthetic MIRI LRS wavelength table", EXP_TYPE="MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS",
                         FILTER="P750L", SUBARRAY="GENERIC", **zero)
    fits.HDUList([fits.PrimaryHDU(header=hdr), table]).writeto(path, overwrite=True)


# --------------------------------------------------------------------------------------
def flat_arrays():
    y, x = np.mgrid[0:NY, 0:NX].astype(np.float64)
    u, v = (x - NX / 2) / (NX / 2), (y - NY / 2) / (NY / 2)
    pattern = 0.03 * (u**2 + 0.6 * v**2) - 0.015 * u * v + 0.01 * np.cos(np.pi * 1.5 * u) * np.cos(np.pi * v)
    flat = 1.0 + np.round(pattern * 1024.0) / 1024.0  # exactly representable steps: compresses well
    dq = np.zeros((NY, NX), np.uint32)
    dq[:, :REFCOLS] = 1 | 2**31
    dq[:, NX - REFCOLS:] = 1 | 2**31
    flat[:, :REFCOLS] = 1.0
    flat[:, NX - REFCOLS:] = 1.0
    # a few dead pixels in the imager field (x >= 400), away from the LRS traces
    rng = np.random.default_rng(20220712)
    dx = rng.integers(420, NX - 20, 40)
    dyy = rng.integers(20, NY - 20, 40)
    flat[dyy, dx] = np.nan
    dq[dyy, dx] = 1 | 1024 | 2**18
    err = np.full((NY, NX), 0.005)
    return flat.astype(np.float32), err.astype(np.float32), dq


def compressed(data, name):
    from astropy.io import fits

    return fits.CompImageHDU(data=data, name=name, compression_type="GZIP_2", quantize_level=0.0)


def dq_def_hdu():
    from astropy.io import fits

    bits, values, names, descs = zip(*DQ_DEF)
    return fits.BinTableHDU.from_columns([
        fits.Column(name="BIT", format="J", array=np.array(bits, np.int32)),
        fits.Column(name="VALUE", format="K", array=np.array(values, np.int64)),
        fits.Column(name="NAME", format="40A", array=np.array(names)),
        fits.Column(name="DESCRIPTION", format="80A", array=np.array(descs)),
    ], name="DQ_DEF")


def write_flat(path):
    from astropy.io import fits

    flat, err, dq = flat_arrays()
    hdr = primary_header("FLAT", "Synthetic MIRI imager flat (full frame)", EXP_TYPE="MIR_IMAGE|MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS",
                         FILTER="ANY", READPATT="ANY", SUBARRAY="GENERIC", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=NX, SUBSIZE2=NY)
    fits.HDUList([
        fits.PrimaryHDU(header=hdr), compressed(flat, "SCI"), compressed(err, "ERR"),
        compressed(dq.view(np.int32), "DQ"), dq_def_hdu(),
    ]).writeto(path, overwrite=True)
    from webbcal.plugin_api import zero_gzip_timestamps

    zero_gzip_timestamps(path)
    # the DQ is stored as int32 bit patterns (REFERENCE_PIXEL is the sign bit)


# --------------------------------------------------------------------------------------
def lrs_throughput(wave):
    """Synthetic relative throughput of the prism: 1 near 8 micron, lower at the band edges."""
    wave = np.asarray(wave, float)
    return 0.25 + 0.75 * np.exp(-0.5 * ((wave - 8.0) / 3.2) ** 2) * (1 - np.exp(-(wave - 4.0) / 0.8))


def write_photom(path_image, path_lrs):
    from astropy.io import fits

    filters, subs, phot, unc = [], [], [], []
    for f, p in IMAGER_FILTERS.items():
        for s in IMAGER_SUBARRAYS:
            filters.append(f)
            subs.append(s)
            phot.append(p)
            unc.append(0.01 * p)
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="FILTER", format="12A", array=np.array(filters)),
        fits.Column(name="SUBARRAY", format="15A", array=np.array(subs)),
        fits.Column(name="PHOTMJSR", format="E", array=np.array(phot, np.float32), unit="(MJy/sr)/(DN/s)"),
        fits.Column(name="UNCERTAINTY", format="E", array=np.array(unc, np.float32), unit="(MJy/sr)/(DN/s)"),
    ], name="PHOTOM")
    hdr = primary_header("PHOTOM", "Synthetic MIRI imager photometric calibration", EXP_TYPE="MIR_IMAGE",
                         PIXAR_SR=PIXAR_SR, PIXAR_A2=PIXAR_A2)
    fits.HDUList([fits.PrimaryHDU(header=hdr), table]).writeto(path_image, overwrite=True)

    nmax, wave = 120, np.round(np.arange(4.5, 14.5001, 0.1), 2)
    n = wave.size
    w = np.zeros((2, nmax), np.float32)
    r = np.zeros((2, nmax), np.float32)
    ru = np.zeros((2, nmax), np.float32)
    w[:, :n] = wave
    r[:, :n] = 1.0 / lrs_throughput(wave)
    ru[:, :n] = 0.02 * r[:, :n]
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="FILTER", format="12A", array=np.array(["P750L", "P750L"])),
        fits.Column(name="SUBARRAY", format="15A", array=np.array(["FULL", "SLITLESSPRISM"])),
        fits.Column(name="PHOTMJSR", format="E", array=np.array([LRS_PHOTMJSR] * 2, np.float32), unit="(MJy/sr)/(DN/s)"),
        fits.Column(name="UNCERTAINTY", format="E", array=np.array([0.02 * LRS_PHOTMJSR] * 2, np.float32), unit="(MJy/sr)/(DN/s)"),
        fits.Column(name="NELEM", format="I", array=np.array([n, n], np.int16)),
        fits.Column(name="WAVELENGTH", format=f"{nmax}E", array=w, unit="micron"),
        fits.Column(name="RELRESPONSE", format=f"{nmax}E", array=r),
        fits.Column(name="RELUNCERTAINTY", format=f"{nmax}E", array=ru),
    ], name="PHOTOM")
    hdr = primary_header("PHOTOM", "Synthetic MIRI LRS photometric calibration", EXP_TYPE="MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS",
                         FILTER="P750L", PIXAR_SR=PIXAR_SR, PIXAR_A2=PIXAR_A2)
    fits.HDUList([fits.PrimaryHDU(header=hdr), table]).writeto(path_lrs, overwrite=True)


def area_array():
    y, x = np.mgrid[0:NY, 0:NX].astype(np.float64)
    u, v = (x - XREF) / 512.0, (y - YREF) / 512.0
    rel = 1.0 + 0.004 * u - 0.003 * v + 0.002 * u * v
    return (np.round(rel * 4096.0) / 4096.0).astype(np.float32)


def write_area(path):
    from astropy.io import fits

    hdr = primary_header("AREA", "Synthetic MIRI imager pixel-area map (relative)", EXP_TYPE="MIR_IMAGE",
                         FILTER="ANY", SUBARRAY="GENERIC", PIXAR_SR=PIXAR_SR, PIXAR_A2=PIXAR_A2)
    fits.HDUList([fits.PrimaryHDU(header=hdr), compressed(area_array(), "SCI")]).writeto(path, overwrite=True)
    from webbcal.plugin_api import zero_gzip_timestamps

    zero_gzip_timestamps(path)


# --------------------------------------------------------------------------------------
def write_extract1d(path):
    """Box apertures 12 pixels wide around the nominal traces, over the calibrated rows.

    Detector frame of the cal products (webbcal extracts LRS fixed-slit spectra from the
    unresampled cal image): fixed slit on the full frame, slitless on SLITLESSPRISM.
    """
    xc, yc, wave = specwcs_rows()
    fs_x = IMX - 1 + xc.mean()
    sl_x = IMXSLTL - 1 + xc.mean()
    fs_y = (IMY - 1 + yc.min(), IMY - 1 + yc.max())
    sl_y = (IMYSLTL - 1 - 528 + yc.min(), IMYSLTL - 1 - 528 + yc.max())
    half = 6.0
    tree = {
        "reftype": "EXTRACT1D",
        "instrument": "MIRI",
        "detector": "MIRIMAGE",
        "exp_type": "MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS",
        "pedigree": "DUMMY",
        "useafter": USEAFTER,
        "author": "webbcal make_defaults.py",
        "description": "Synthetic MIRI LRS extraction apertures (detector frame of cal products). " + SYNTHETIC_NOTE,
        "apertures": [
            {"id": "MIR_LRS-FIXEDSLIT", "region_type": "target", "dispaxis": 2, "bkg_order": 0,
             "xstart": round(fs_x - half + 0.5, 2), "xstop": round(fs_x + half - 0.5, 2),
             "ystart": int(np.ceil(fs_y[0])), "ystop": int(np.floor(fs_y[1]))},
            {"id": "MIR_LRS-SLITLESS", "region_type": "target", "dispaxis": 2, "bkg_order": 0,
             "xstart": round(sl_x - half + 0.5, 2), "xstop": round(sl_x + half - 0.5, 2),
             "ystart": int(np.ceil(sl_y[0])), "ystop": int(np.floor(sl_y[1]))},
        ],
    }
    with open(path, "w") as f:
        json.dump(tree, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------------------
def psf_sigma(wave):
    """Gaussian sigma (pixels) of a diffraction-limited 6.5 m PSF (FWHM = 1.03 lambda/D)."""
    return 1.03 * np.asarray(wave, float) * 1e-6 / 6.5 * 206264.806 / PIXEL_SCALE / 2.3548


def write_apcorr(path):
    """apcorr = 1 / (fraction of a pixel-integrated Gaussian PSF inside a centred box)."""
    from astropy.io import fits
    from scipy.special import erf

    wave = np.round(np.arange(4.5, 14.5001, 0.5), 2)
    size = np.arange(1, 21, dtype=np.uint8)
    sig = np.sqrt(psf_sigma(wave) ** 2 + 1.0 / 12.0)
    frac = erf(size[:, None] / 2.0 / (np.sqrt(2.0) * sig[None, :]))
    ac = (1.0 / frac).astype(np.float32)
    err = (0.01 * (ac - 1.0)).astype(np.float32)
    nsz, nwl = ac.shape
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="SUBARRAY", format="15A", array=np.array(["FULL", "SLITLESSPRISM"])),
        fits.Column(name="WAVELENGTH", format=f"{nwl}E", array=np.tile(wave.astype(np.float32), (2, 1)), unit="micron"),
        fits.Column(name="NELEM_WL", format="I", array=np.array([nwl, nwl], np.int16)),
        fits.Column(name="SIZE", format=f"{nsz}B", array=np.tile(size, (2, 1)), unit="pixels"),
        fits.Column(name="NELEM_SIZE", format="I", array=np.array([nsz, nsz], np.int16)),
        fits.Column(name="APCORR", format=f"{nsz * nwl}E", dim=f"({nwl},{nsz})", array=np.stack([ac, ac])),
        fits.Column(name="APCORR_ERR", format=f"{nsz * nwl}E", dim=f"({nwl},{nsz})", array=np.stack([err, err])),
    ], name="APCORR")
    table.header["SIZEUNIT"] = "pixels"
    table.header["WAVEUNIT"] = "micron"
    hdr = primary_header("APCORR", "Synthetic MIRI LRS aperture correction (Gaussian PSF)",
                         EXP_TYPE="MIR_LRS-FIXEDSLIT|MIR_LRS-SLITLESS", FILTER="P750L")
    fits.HDUList([fits.PrimaryHDU(header=hdr), table]).writeto(path, overwrite=True)


#: stage-1 values of the synthetic references (MIRI-like magnitudes; no superbias: MIRI has none)
STAGE1 = dict(gain=4.0, readnoise=10.0, saturation=60000.0, lin_c2=1.0e-6, dark_frames=40, dark_per_frame=0.05)


def write_stage1(outdir):
    """MASK, SATURATION, LINEARITY, DARK, GAIN, READNOISE over the full 1024 x 1032 frame:
    constant values, the 4 reference columns on each side flagged REFERENCE_PIXEL (the core's writer)."""
    from astropy.io import fits

    from webbcal.plugin_api import write_stage1_defaults

    full = (1024, 1032)
    dq = np.zeros(full, np.uint32)
    dq[:, :4] = dq[:, -4:] = 2 ** 31     # REFERENCE_PIXEL only, as flight masks: refpix uses them

    def prim(reftype, **keys):
        keys.pop("DETECTOR", None)       # the MIRI header says MIRIMAGE
        return fits.PrimaryHDU(header=primary_header(reftype, f"synthetic MIRI {reftype} for offline runs", **keys))

    write_stage1_defaults(outdir, "jwst_miri", prim, full, dq, STAGE1)


#: synthetic reset anomaly: uniform offsets (DN) halving group by group, the first
#: integration's twice the later ones'
RESET = dict(nints=2, ngroups=10, first=40.0, later=20.0)
#: synthetic RSCD rows: groups left out of the first integration / of the others
RSCD_SKIP = (1, 3)
MIRI_SUBARRAYS = ("FULL", "BRIGHTSKY", "SUB256", "SUB128", "SUB64", "SLITLESSPRISM", "MASK1065", "MASK1140",
                  "MASK1550", "MASKLYOT")
MIRI_READPATTS = ("FAST", "FASTR1", "SLOW", "SLOWR1", "FASTR100", "FASTGRPAVG", "FASTGRPAVG8", "FASTGRPAVG16",
                  "FASTGRPAVG32", "FASTGRPAVG64")


def write_reset(path):
    """RESET: SCI (nints, ngroups, 1024, 1032) of uniform planes, ERR, DQ (none flagged), DQ_DEF."""
    from astropy.io import fits

    g = np.arange(RESET["ngroups"])
    levels = np.stack([RESET["first"] * 0.5 ** g] + [RESET["later"] * 0.5 ** g] * (RESET["nints"] - 1))
    sci = np.broadcast_to(levels[:, :, None, None], (RESET["nints"], RESET["ngroups"], NY, NX)).astype(np.float32)
    prim = fits.PrimaryHDU(header=primary_header("RESET", "synthetic MIRI reset anomaly for offline runs",
                                                 NINTS=RESET["nints"], NGROUPS=RESET["ngroups"], READPATT="ANY",
                                                 SUBARRAY="FULL", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=NX, SUBSIZE2=NY))
    # one tile per plane: constant planes compress to almost nothing
    tile = (1, 1, NY, NX)
    fits.HDUList([prim, fits.CompImageHDU(np.ascontiguousarray(sci), name="SCI", compression_type="GZIP_2",
                                          quantize_level=0.0, tile_shape=tile),
                  fits.CompImageHDU(np.zeros_like(sci), name="ERR", compression_type="GZIP_2", quantize_level=0.0,
                                    tile_shape=tile),
                  compressed(np.zeros((NY, NX), np.int32), "DQ"), dq_def_hdu()]).writeto(path, overwrite=True)


def write_rscd(path):
    """RSCD: the RSCD_GROUP_SKIP table, one row per MIRI subarray and readout pattern."""
    from astropy.io import fits

    rows = [(sub, rp) for sub in MIRI_SUBARRAYS for rp in MIRI_READPATTS]
    prim = fits.PrimaryHDU(header=primary_header("RSCD", "synthetic MIRI RSCD groups to skip for offline runs"))
    # lower-case column names, as the official data models write (and require) them
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="subarray", format="17A", array=np.array([r[0] for r in rows])),
        fits.Column(name="readpatt", format="12A", array=np.array([r[1] for r in rows])),
        fits.Column(name="group_skip1", format="J", array=np.full(len(rows), RSCD_SKIP[0], np.int32)),
        fits.Column(name="group_skip", format="J", array=np.full(len(rows), RSCD_SKIP[1], np.int32)),
    ], name="RSCD_GROUP_SKIP")
    fits.HDUList([prim, table]).writeto(path, overwrite=True)


def main(outdir=HERE):
    outdir = Path(outdir)
    write_distortion(outdir / "jwst_miri_distortion_dummy.asdf")
    write_specwcs(outdir / "jwst_miri_specwcs_lrs_dummy.fits")
    write_flat(outdir / "jwst_miri_flat_dummy.fits")
    write_photom(outdir / "jwst_miri_photom_image_dummy.fits", outdir / "jwst_miri_photom_lrs_dummy.fits")
    write_area(outdir / "jwst_miri_area_dummy.fits")
    write_extract1d(outdir / "jwst_miri_extract1d_dummy.json")
    write_apcorr(outdir / "jwst_miri_apcorr_lrs_dummy.fits")
    write_stage1(outdir)
    write_reset(outdir / "jwst_miri_reset_dummy.fits")
    write_rscd(outdir / "jwst_miri_rscd_dummy.fits")
    total = sum(p.stat().st_size for p in outdir.iterdir() if p.suffix in (".fits", ".asdf", ".json"))
    print(f"wrote MIRI defaults to {outdir} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
