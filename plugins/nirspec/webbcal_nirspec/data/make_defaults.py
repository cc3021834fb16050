"""Write the embedded default reference files of webbcal-nirspec (PEDIGREE DUMMY).

Run from anywhere: ``python plugins/nirspec/webbcal_nirspec/data/make_defaults.py``
(``--dispersers-only``: write just the DISPERSERs of G140H, G235M/H and G395M/H).
Deterministic: the same numbers every run (only the WCS files' creation date changes).

Nothing here is a flight calibration.  The files are small synthetic stand-ins in the
real CRDS formats, so that the plugin runs, and its tests and demo work, on a machine
with no CRDS access:

* optical model (FPA, CAMERA, COLLIMATOR, FORE, OTE, DISPERSER PRISM, G140M/H, G235M/H,
  G395M/H, MSA, WAVELENGTHRANGE): written by :func:`webbcal_nirspec.wcs.write_embedded_defaults`,
  with an MSA of 3 shutter columns per quadrant (slitlets of up to 3 shutters);
* FFLAT (fixed slit: FAST_VARIATION per slit; MOS: per-quadrant SCI/ERR/DQ cubes over
  2 wavelength planes + WAVELENGTH + FAST_VARIATION 'ANY');
* SFLAT (fixed slit: one full-frame plane + FAST_VARIATION per slit; MOS: cube of 2
  planes + WAVELENGTH + FAST_VARIATION 'ANY');
* DFLAT (cube of 3 planes + WAVELENGTH + ERR + DQ + FAST_VARIATION 'ANY');
* PHOTOM (fixed slit rows per filter/grating/slit; MOS rows slit 'ANY');
* AREA (fixed-slit table SLIT_ID / PIXAREA; MOS table quadrant / shutter_x / shutter_y /
  pixarea for every shutter of the synthetic MSA);
* WAVECORR (zero-point offsets per fixed slit and MOS: the geometric detector shift of an
  off-centre point source through the embedded optical model, see
  :func:`webbcal_nirspec.wcs.defaults.make_synthetic_wavecorr`);
* the stage-1 references ``jwst_nirspec_{mask,saturation,superbias,linearity,dark,gain,
  readnoise}_dummy.fits`` (the core's ``write_stage1_defaults``): full frame, constant,
  gain 1.0 e/DN, read noise 14 DN per CDS pair, bias 12000 DN, saturation 55000 DN,
  linearity ``D + 2e-6 D^2``, dark 0.01 DN per frame over 40 frames, the reference border
  flagged. Traditional (not IRS2) readouts.

Full-frame images are spatially uniform and stored tile-compressed (lossless GZIP), so
each file is a few kB; the wavelength dependence and the fast variations are smooth,
known functions (see ``fast_table`` and ``slow_planes``) that tests can check.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
FIXED_SLITS = ("S200A1", "S200A2", "S400A1", "S1600A1", "S200B1")
FILTER_GRATING = (("CLEAR", "PRISM"), ("F070LP", "G140M"), ("F100LP", "G140M"), ("F070LP", "G140H"),
                  ("F100LP", "G140H"), ("F170LP", "G235M"), ("F170LP", "G235H"), ("F290LP", "G395M"),
                  ("F290LP", "G395H"))
#: MJy per (DN/s) of a point source at relresponse 1 (1 DN/s = 20 microJy): DUMMY
PHOTMJ = 2.0e-11
#: pixel solid angles of the fixed slits [arcsec^2]: DUMMY, of the order of 0.1" x 0.1"-0.2"
AREA_A2 = {"S200A1": 0.0200, "S200A2": 0.0200, "S400A1": 0.0400, "S1600A1": 0.1600, "S200B1": 0.0200}
WL_MIN, WL_MAX = 0.55, 5.45  # micron, coverage of every default
#: MSA shutter columns per quadrant in the synthetic MSA (make_synthetic_msa_reffile n_columns)
MSA_COLUMNS = 3


def mos_pixel_area(quadrant, shutter_x, shutter_y):
    """DUMMY MOS pixel area [arcsec^2] of shutter (quadrant, shutter_x = MSA row along the
    dispersion 1..365, shutter_y = MSA column along the slit 1..171): ~0.01 arcsec^2 with a
    known 4 % gradient along x and 1 % steps per quadrant and column, so tests can tell rows apart."""
    return 0.0100 * (1 + 0.04 * (np.asarray(shutter_x) - 183) / 182 + 0.01 * (np.asarray(quadrant) - 2.5)
                     + 0.01 * (np.asarray(shutter_y) - 2))


def fast_table(component, slit_index=0, n=600):
    """(wavelength, data) of a default FAST_VARIATION row: a gentle slope plus a ripple."""
    wl = np.linspace(WL_MIN, WL_MAX, n)
    amp = {"fflat": 0.02, "sflat": 0.03, "dflat": 0.01}[component]
    data = 1.0 + amp * (wl - 3.0) / 2.5 + 0.005 * np.sin(2 * np.pi * wl / (0.37 + 0.01 * slit_index))
    return wl, data


def slow_planes(component):
    """(plane wavelengths, plane values) of a default slow-variation cube (uniform planes)."""
    if component == "dflat":
        return np.array([WL_MIN, 2.5, WL_MAX]), np.array([0.97, 1.00, 1.04])
    return np.array([WL_MIN, WL_MAX]), np.array([0.98, 1.03])


def _primary(reftype, exp_type, description, **kw):
    h = fits.Header()
    h["TELESCOP"] = "JWST"
    h["INSTRUME"] = "NIRSPEC"
    h["REFTYPE"] = reftype.upper()
    h["EXP_TYPE"] = exp_type
    h["PEDIGREE"] = "DUMMY"
    h["USEAFTER"] = "2000-01-01T00:00:00"
    h["AUTHOR"] = "webbcal_nirspec/data/make_defaults.py"
    h["DESCRIP"] = description + " NOT FOR SCIENCE."
    for k, v in kw.items():
        h[k] = v
    return fits.PrimaryHDU(header=h)


def _fast_hdu(rows, name="FAST_VARIATION", ver=1):
    n = max(len(w) for _, w, _ in rows)
    wl = np.zeros((len(rows), n), np.float32)
    data = np.zeros((len(rows), n), np.float32)
    for i, (_, w, d) in enumerate(rows):
        wl[i, : len(w)], data[i, : len(d)] = w, d
    cols = [fits.Column("slit_name", "15A", array=np.array([r[0] for r in rows])),
            fits.Column("nelem", "J", array=np.array([len(r[1]) for r in rows], np.int32)),
            fits.Column("wavelength", f"{n}E", unit="micrometer", array=wl),
            fits.Column("data", f"{n}E", array=data)]
    return fits.BinTableHDU.from_columns(cols, name=name, ver=ver)


def _wave_hdu(wl, ver=1):
    return fits.BinTableHDU.from_columns([fits.Column("wavelength", "E", unit="micrometer", array=np.asarray(wl, np.float32))],
                                         name="WAVELENGTH", ver=ver)


def _image(name, data, ver=1):
    data = np.ascontiguousarray(data)
    if data.size > 100000:  # full frame: tile-compressed, lossless
        kind = "GZIP_2" if data.dtype.kind == "f" else "GZIP_1"
        hdu = fits.CompImageHDU(data, name=name, compression_type=kind, quantize_level=0.0,
                                tile_shape=(1,) * (data.ndim - 2) + data.shape[-2:])
        hdu.header["EXTVER"] = ver
        return hdu
    return fits.ImageHDU(data, name=name, ver=ver)


def _cube(values, shape):
    return np.stack([np.full(shape, v, np.float32) for v in values])


def _write(hdus, name):
    path = HERE / name
    tmp = path.with_name(path.name + ".tmp")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    tmp.replace(path)
    return path


def write_flats():
    ff = (2048, 2048)
    # FFLAT fixed slit: FAST_VARIATION only, one row per slit
    rows = [(s, *fast_table("fflat", i)) for i, s in enumerate(FIXED_SLITS)]
    _write([_primary("fflat", "NRS_FIXEDSLIT", "Synthetic fixed-slit F-flat.", FILTER="ANY", P_EXP_TY="NRS_FIXEDSLIT|NRS_BRIGHTOBJ|"),
            _fast_hdu(rows)], "nirspec_fflat_fs_synthetic.fits")
    # FFLAT MOS: per quadrant SCI/ERR/DQ (planes x 171 shutter columns x 365 shutter rows)
    wp, vals = slow_planes("fflat")
    hdus = [_primary("fflat", "NRS_MSASPEC", "Synthetic MOS F-flat (per-quadrant shutter cubes).", FILTER="ANY")]
    for q in (1, 2, 3, 4):
        hdus += [_image("SCI", _cube(vals, (171, 365)), q), _image("ERR", _cube([0.01, 0.01], (171, 365)), q),
                 _image("DQ", np.zeros((2, 171, 365), np.uint32), q), _wave_hdu(wp, q),
                 _fast_hdu([("ANY", *fast_table("fflat"))], ver=q)]
    _write(hdus, "nirspec_fflat_mos_synthetic.fits")
    # SFLAT fixed slit: a single full-frame plane + FAST_VARIATION per slit
    rows = [(s, *fast_table("sflat", i)) for i, s in enumerate(FIXED_SLITS)]
    _write([_primary("sflat", "NRS_FIXEDSLIT", "Synthetic fixed-slit S-flat.", FILTER="ANY", GRATING="ANY", DETECTOR="ANY",
                     P_EXP_TY="NRS_FIXEDSLIT|NRS_BRIGHTOBJ|"),
            _image("SCI", np.full(ff, 1.0, np.float32)), _image("ERR", np.full(ff, 0.005, np.float32)),
            _image("DQ", np.zeros(ff, np.uint32)), _fast_hdu(rows)], "nirspec_sflat_fs_synthetic.fits")
    # SFLAT MOS: cube over wavelength planes
    wp, vals = slow_planes("sflat")
    _write([_primary("sflat", "NRS_MSASPEC", "Synthetic MOS S-flat.", FILTER="ANY", GRATING="ANY", DETECTOR="ANY"),
            _image("SCI", _cube(vals, ff)), _image("ERR", _cube([0.005, 0.005], ff)),
            _image("DQ", np.zeros((2,) + ff, np.uint32)), _wave_hdu(wp), _fast_hdu([("ANY", *fast_table("sflat"))])],
           "nirspec_sflat_mos_synthetic.fits")
    # DFLAT: cube over 3 planes, 2-D ERR and DQ
    wp, vals = slow_planes("dflat")
    _write([_primary("dflat", "ANY", "Synthetic D-flat (uniform planes).", DETECTOR="ANY"),
            _image("SCI", _cube(vals, ff)), _image("ERR", np.full(ff, 0.002, np.float32)),
            _image("DQ", np.zeros(ff, np.uint32)), _wave_hdu(wp), _fast_hdu([("ANY", *fast_table("dflat"))])],
           "nirspec_dflat_synthetic.fits")


def write_photom():
    n = 150
    rows = []
    for exp_type, slits in (("NRS_FIXEDSLIT", FIXED_SLITS), ("NRS_MSASPEC", ("ANY",))):
        rows = []
        for filt, grat in FILTER_GRATING:
            for slit in slits:
                wl = np.linspace(WL_MIN, WL_MAX, n)
                # a smooth throughput-like relative response peaking mid-band
                rr = 0.8 + 0.2 * np.exp(-0.5 * ((wl - 2.5) / 1.5) ** 2)
                rows.append((filt, grat, slit, PHOTMJ, 0.0, n, wl, rr, np.full(n, 0.01)))
        cols = list(zip(*rows))
        table = fits.BinTableHDU.from_columns([
            fits.Column("filter", "12A", array=np.array(cols[0])), fits.Column("grating", "15A", array=np.array(cols[1])),
            fits.Column("slit", "15A", array=np.array(cols[2])), fits.Column("photmj", "E", array=np.array(cols[3])),
            fits.Column("uncertainty", "E", array=np.array(cols[4])), fits.Column("nelem", "I", array=np.array(cols[5])),
            fits.Column("wavelength", f"{n}E", unit="micrometer", array=np.array(cols[6], np.float32)),
            fits.Column("relresponse", f"{n}E", array=np.array(cols[7], np.float32)),
            fits.Column("reluncertainty", f"{n}E", array=np.array(cols[8], np.float32))], name="PHOTOM")
        tag = "fs" if exp_type == "NRS_FIXEDSLIT" else "mos"
        p_exp = "NRS_FIXEDSLIT|NRS_BRIGHTOBJ|" if tag == "fs" else "NRS_MSASPEC|"
        _write([_primary("photom", exp_type, f"Synthetic {tag.upper()} PHOTOM (1 DN/s = 20 uJy).", P_EXP_TY=p_exp), table],
               f"nirspec_photom_{tag}_synthetic.fits")


def write_area():
    table = fits.BinTableHDU.from_columns([
        fits.Column("SLIT_ID", "15A", unit="UNITLESS", array=np.array(FIXED_SLITS)),
        fits.Column("PIXAREA", "E", unit="arcsec^2", array=np.array([AREA_A2[s] for s in FIXED_SLITS], np.float32))],
        name="AREA")
    _write([_primary("area", "NRS_FIXEDSLIT", "Synthetic fixed-slit pixel areas.", P_EXP_TY="NRS_FIXEDSLIT|NRS_BRIGHTOBJ|"), table],
           "nirspec_area_fs_synthetic.fits")
    # MOS: one row per shutter (quadrant, shutter_x = row along dispersion, shutter_y = column)
    q, x, y = (a.ravel() for a in np.meshgrid([1, 2, 3, 4], np.arange(1, 366), np.arange(1, MSA_COLUMNS + 1), indexing="ij"))
    mos = fits.BinTableHDU.from_columns([
        fits.Column("quadrant", "I", array=q.astype(np.int16)), fits.Column("shutter_x", "I", array=x.astype(np.int16)),
        fits.Column("shutter_y", "I", array=y.astype(np.int16)),
        fits.Column("pixarea", "E", unit="arcsec^2", array=mos_pixel_area(q, x, y).astype(np.float32))], name="AREA")
    _write([_primary("area", "NRS_MSASPEC", "Synthetic MOS pixel areas per shutter.", P_EXP_TY="NRS_MSASPEC|"), mos],
           "nirspec_area_mos_synthetic.fits")


def write_optical_model():
    sys.path.insert(0, str(HERE.parents[1]))
    from webbcal_nirspec.wcs import defaults

    defaults.write_embedded_defaults(HERE)
    defaults.make_synthetic_msa_reffile(HERE / "nirspec_msa_synthetic.asdf", n_columns=3)


def write_dispersers():
    sys.path.insert(0, str(HERE.parents[1]))
    from webbcal_nirspec.wcs import defaults

    defaults.write_grating_dispersers(HERE)


def write_wavecorr():
    sys.path.insert(0, str(HERE.parents[1]))
    from webbcal_nirspec.wcs import defaults, readers

    names = {"fpa": "fpa", "camera": "camera", "collimator": "collimator", "fore": "fore", "ote": "ote",
             "msa": "msa", "wavelengthrange": "wavelengthrange", "disperser": "disperser_prism"}
    refs = {rt: readers.read_reference(rt, HERE / f"nirspec_{n}_synthetic.asdf") for rt, n in names.items()}
    defaults.make_synthetic_wavecorr(HERE / "nirspec_wavecorr_synthetic.asdf", refs, detector_of={"S200B1": "NRS2"})


#: stage-1 values (NIRSpec-like magnitudes): gain (e/DN), read noise (DN per CDS pair),
#: bias and saturation (DN), quadratic LINEARITY term, DARK frames and dark per frame (DN)
GAIN, READNOISE, BIAS, SATURATION, LIN_C2, DARK_FRAMES, DARK_PER_FRAME = 1.0, 14.0, 12000.0, 55000.0, 2.0e-6, 40, 0.01


def write_detector_references():
    """MASK, SATURATION, SUPERBIAS, LINEARITY, DARK, GAIN, READNOISE (core writer)."""
    from webbcal.plugin_api import reference_border_dq, write_stage1_defaults

    def primary(reftype, **kw):
        return _primary(reftype, "ANY", f"Synthetic {reftype} for webbcal offline runs.", **kw)

    full = (2048, 2048)
    write_stage1_defaults(HERE, "jwst_nirspec", primary, full, reference_border_dq(full, 4),
                          dict(gain=GAIN, readnoise=READNOISE, saturation=SATURATION, bias=BIAS, lin_c2=LIN_C2,
                               dark_frames=DARK_FRAMES, dark_per_frame=DARK_PER_FRAME))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--dispersers-only" in argv:
        write_dispersers()
        for p in sorted(HERE.glob("nirspec_disperser_*")):
            print(f"{p.stat().st_size:9d}  {p.name}")
        return
    write_optical_model()
    write_flats()
    write_photom()
    write_area()
    write_wavecorr()
    write_detector_references()
    for p in sorted(HERE.glob("*nirspec_*")):
        print(f"{p.stat().st_size:9d}  {p.name}")


if __name__ == "__main__":
    main()
