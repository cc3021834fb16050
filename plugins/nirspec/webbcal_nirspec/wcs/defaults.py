"""Synthetic (PEDIGREE DUMMY) NIRSpec WCS reference files.

Nothing here is a flight reference file.  The MSA generator writes the real
CRDS MSA ASDF layout (``Q1``..``Q5`` each with ``model`` and ``data``; Q5 holds
the fixed slits) with approximate apertures:

* S200A1 and S200A2 are placed where their published V2/V3 reference points
  (331.867", -479.418") and (314.985", -489.451") map through the flight FORE
  and OTE models; the other fixed slits are placed plausibly between and
  beside them (S200B1 far enough to disperse onto NRS2), with the slit widths
  of the WAVECORR file.  Good to ~0.1 mm, not for science.
* quadrants 1-4 hold only the first ``n_columns`` columns of shutters on the
  nominal 105 x 204 micron pitch.

:func:`write_embedded_defaults` writes a full, self-consistent synthetic
optical model (linear CAMERA/COLLIMATOR/FORE/OTE, FPA, a DISPERSER for the PRISM
and every grating, MSA, WAVELENGTHRANGE) so the plugin runs on a machine without
CRDS.  :func:`write_grating_dispersers` writes only the DISPERSERs of the
gratings other than G140M (see :data:`SYNTHETIC_GRATINGS` for their geometry).
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from astropy.modeling import models as am

__all__ = ["make_synthetic_msa_reffile", "write_embedded_defaults", "write_grating_dispersers",
           "SYNTHETIC_FIXED_SLITS", "SYNTHETIC_GRATINGS"]

# name -> (x_center, y_center, x_size, y_size) in metres, quadrant-5 frame
SYNTHETIC_FIXED_SLITS = {
    "S200A1": (0.027102, -0.002742, 8.135e-05, 0.001267),
    "S200A2": (0.034665, -0.001296, 8.070e-05, 0.001267),
    "S400A1": (0.031800, -0.000500, 1.5924e-04, 0.001480),
    "S1600A1": (0.029900, -0.002000, 6.3134e-04, 0.000631),
    "S200B1": (-0.030000, 0.001000, 7.926e-05, 0.001267),
}
_FS_ORDER = ("S200A1", "S200A2", "S400A1", "S1600A1", "S200B1")
_IFU_APERTURE = (0.0, 0.0, 0.0031, 0.0031)
_SHUTTER_PITCH = (1.0532e-4, 2.0406e-4)
_SHUTTER_OPEN = (7.8e-5, 1.78e-4)
_QUADRANT_ORIGIN = {1: (0.0035, 0.0025), 2: (0.0035, -0.0375), 3: (-0.0420, 0.0025),
                    4: (-0.0420, -0.0375)}


# Synthetic grating geometry.  G140M: 95400 lines/m at GWA tilt_y -4.2 deg puts its
# nominal F100LP range (0.97-1.89 micron, centre 1.43) on NRS1.  The other M gratings
# keep that tilt with the groove density scaled by 1.43 / (their range centre), so the
# product groove density x wavelength, hence the whole geometry, is the same over their
# nominal ranges (G235M 56488, G395M 33518 lines/m; flight ~56900 and ~34200).  The H
# gratings have 2.7 x the M groove density and a tilt_y chosen (-9.865 deg) so that the
# centre of the nominal range of S200A1 falls in the 2.6 mm NRS1/NRS2 gap: the blue half
# of the range lands on NRS1, the red half on NRS2, as in the instrument; the WCS of one
# detector holds its part (bounding box clipped to the detector).
_G140M_GROOVES, _M_TILT_Y = 95400.0, -4.2
_H_FACTOR, _H_TILT_Y = 2.7, -9.865
_RANGE_CENTRE_UM = {"G140": 1.43, "G235": 0.5 * (1.66 + 3.17), "G395": 0.5 * (2.87 + 5.27)}


def _grating_geometry():
    out = {}
    for band, centre in _RANGE_CENTRE_UM.items():
        m = round(_G140M_GROOVES * _RANGE_CENTRE_UM["G140"] / centre, 1)
        out[band + "M"] = (m, _M_TILT_Y)
        out[band + "H"] = (round(_H_FACTOR * m, 1), _H_TILT_Y)
    return out


#: grating -> (groove density [lines/m], GWA tilt_y [deg]) of the synthetic DISPERSERs
SYNTHETIC_GRATINGS = _grating_geometry()


def _meta(reftype: str, description: str, **extra) -> dict:
    meta = {
        "author": "webbcal_nirspec.wcs.defaults",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "description": description,
        "pedigree": "DUMMY",
        "reftype": reftype,
        "telescope": "JWST",
        "useafter": "2000-01-01T00:00:00",
        "instrument": {"name": "NIRSPEC", "p_detector": "NRS1|NRS2|"},
        "exposure": {"p_exptype": "NRS_FIXEDSLIT|NRS_MSASPEC|NRS_BRIGHTOBJ|", "type": "N/A"},
    }
    meta.update(extra)
    return meta


def _write(path, tree):
    import asdf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    asdf.AsdfFile(tree).write_to(tmp)
    tmp.replace(path)
    return path


def make_synthetic_msa_reffile(path, n_columns: int = 2):
    """Write a synthetic MSA reference file (CRDS layout, PEDIGREE DUMMY)."""
    tree = {"meta": _meta("msa", "Synthetic MSA geometry for tests and demos; fixed slits "
                                 "approximate, quadrants truncated. NOT FOR SCIENCE.",
                          model_type="MSAModel", output_units="m", input_units="m")}
    rows = np.arange(1, 366)
    for q, (x0, y0) in _QUADRANT_ORIGIN.items():
        table = []
        for col in range(1, n_columns + 1):
            for row in rows:
                sid = row + (col - 1) * 365
                table.append((sid, (row - 0.5) * _SHUTTER_PITCH[0], (col - 0.5) * _SHUTTER_PITCH[1],
                              _SHUTTER_OPEN[0], _SHUTTER_OPEN[1]))
        tree[f"Q{q}"] = {"model": am.Shift(x0) & am.Shift(y0),
                         "data": np.array(table, dtype=float)}
    fs = [(i, *SYNTHETIC_FIXED_SLITS[name]) for i, name in enumerate(_FS_ORDER)]
    fs.append((len(fs), *_IFU_APERTURE))
    tree["Q5"] = {"model": am.Rotation2D(0.0) | am.Shift(0.0) & am.Shift(0.0),
                  "data": np.array(fs, dtype=float)}
    return _write(path, tree)


# ---------------------------------------------------------------------------
# a complete synthetic optical model
# ---------------------------------------------------------------------------

def _linear_2d(sx, sy, ox, oy, name):
    fwd = am.Scale(sx) & am.Scale(sy) | am.Shift(ox) & am.Shift(oy)
    fwd.name = name
    return fwd


def write_embedded_defaults(dirpath) -> dict:
    """Write synthetic defaults for every WCS reference type; returns reftype -> path.

    The optical model is linear (no distortion) but self-consistent: a ray from
    the fixed slits reaches NRS1 through the PRISM and every grating (the H gratings:
    the blue part of their range, the red part reaches NRS2).
    """
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    pix = 1.8e-5
    out["fpa"] = _write(d / "nirspec_fpa_synthetic.asdf", {
        "meta": _meta("fpa", "Synthetic FPA: 18 micron pixels, 2.6 mm gap. NOT FOR SCIENCE.",
                      model_type="FPAModel"),
        "nrs1_model": _linear_2d(pix, pix, -0.03817, -0.01842, "fpa_nrs1"),
        "nrs2_model": _linear_2d(-pix, -pix, 0.03817, 0.01842, "fpa_nrs2")})
    out["camera"] = _write(d / "nirspec_camera_synthetic.asdf", {
        "meta": _meta("camera", "Synthetic linear CAMERA. NOT FOR SCIENCE.",
                      model_type="CameraModel"),
        "model": _linear_2d(3.51, 3.72, 0.0001, 0.2936, "camera")})
    out["collimator"] = _write(d / "nirspec_collimator_synthetic.asdf", {
        "meta": _meta("collimator", "Synthetic linear COLLIMATOR. NOT FOR SCIENCE.",
                      model_type="CollimatorModel"),
        "model": (am.Shift(0.0001) & am.Shift(0.2936) | am.Scale(0.635) & am.Scale(0.607))})
    fore = (am.Mapping((0, 1), n_inputs=3) | am.Scale(1.0) & am.Scale(1.0)
            | am.AffineTransformation2D(matrix=[[1.22, 1.09], [-1.07, 1.24]]))
    fore.inverse = (am.Mapping((0, 1), n_inputs=3)
                    | am.AffineTransformation2D(matrix=[[1.22, 1.09], [-1.07, 1.24]]).inverse)
    out["fore"] = _write(d / "nirspec_fore_synthetic.asdf", {
        "meta": _meta("fore", "Synthetic achromatic linear FORE. NOT FOR SCIENCE.",
                      model_type="FOREModel"),
        "model": fore})
    out["ote"] = _write(d / "nirspec_ote_synthetic.asdf", {
        "meta": _meta("ote", "Synthetic linear OTE (deg -> arcsec). NOT FOR SCIENCE.",
                      model_type="OTEModel", output_units="arcsec"),
        "model": (am.AffineTransformation2D(matrix=[[-0.4355, -0.0016], [-0.0016, 0.4357]],
                                            translation=[0.10539, -0.11913])
                  | am.Scale(3600.0) & am.Scale(3600.0))})
    tilt = {"temperatures": [37.0], "tilt_model": am.Polynomial1D(1, c0=0.0, c1=0.0),
            "unit": "arcsec", "zeroreadings": [0.0]}
    out["disperser_prism"] = _write(d / "nirspec_disperser_prism_synthetic.asdf", {
        "meta": _meta("disperser", "Synthetic PRISM (CaF2 Sellmeier). NOT FOR SCIENCE.",
                      model_type="DisperserModel",
                      instrument={"name": "NIRSPEC", "grating": "PRISM",
                                  "p_detector": "NRS1|NRS2|"}),
        "angle": -16.5, "kcoef": [0.5834, 0.4609, 3.8915], "lcoef": [0.002526, 0.010078, 1200.56],
        "tcoef": [-2.66e-05, 0.0, 0.0, 0.0, 0.0, 0.0], "tref": 35.0, "pref": 0.0,
        "theta_x": 0.03, "theta_y": -0.28, "theta_z": -0.14, "tilt_x": 0.0, "tilt_y": 24.29,
        "wbound": [4e-07, 7e-06], "gwa_tiltx": dict(tilt), "gwa_tilty": dict(tilt)})
    out["disperser_g140m"] = _write(d / "nirspec_disperser_g140m_synthetic.asdf", {
        "meta": _meta("disperser", "Synthetic G140M grating. NOT FOR SCIENCE.",
                      model_type="DisperserModel",
                      instrument={"name": "NIRSPEC", "grating": "G140M",
                                  "p_detector": "NRS1|NRS2|"}),
        "groovedensity": 95400.0, "theta_x": 0.036, "theta_y": 0.008, "theta_z": -0.42,
        "tilt_x": 0.0, "tilt_y": -4.2, "gwa_tiltx": dict(tilt), "gwa_tilty": dict(tilt)})
    out.update(write_grating_dispersers(d))
    out["msa"] = make_synthetic_msa_reffile(d / "nirspec_msa_synthetic.asdf")
    sel = ["CLEAR_PRISM", "F100LP_PRISM", "F070LP_G140M", "F100LP_G140M", "F170LP_G235M",
           "F290LP_G395M", "F070LP_G140H", "F100LP_G140H", "F170LP_G235H", "F290LP_G395H"]
    orders = [0, 0, -1, -1, -1, -1, -1, -1, -1, -1]
    ranges = [[6e-07, 5.3e-06], [1e-06, 5.3e-06], [7e-07, 1.27e-06], [9.7e-07, 1.89e-06],
              [1.66e-06, 3.17e-06], [2.87e-06, 5.27e-06], [7e-07, 1.27e-06],
              [9.7e-07, 1.89e-06], [1.66e-06, 3.17e-06], [2.87e-06, 5.27e-06]]
    out["wavelengthrange"] = _write(d / "nirspec_wavelengthrange_synthetic.asdf", {
        "meta": _meta("wavelengthrange", "Nominal NIRSpec filter/grating ranges. DUMMY.",
                      model_type="WavelengthrangeModel", wavelength_units="m"),
        "waverange_selector": sel, "order": orders, "wavelengthrange": ranges})
    return {k: str(v) for k, v in out.items()}


def write_grating_dispersers(dirpath, gratings=("G140H", "G235M", "G235H", "G395M", "G395H")) -> dict:
    """Write the synthetic DISPERSERs of ``gratings`` (not G140M, written by
    :func:`write_embedded_defaults`) in ``dirpath``; returns ``disperser_<grating>`` -> path.

    Same layout and angles as the G140M file, groove density and tilt_y from
    :data:`SYNTHETIC_GRATINGS`.
    """
    d = Path(dirpath)
    d.mkdir(parents=True, exist_ok=True)
    tilt = {"temperatures": [37.0], "tilt_model": am.Polynomial1D(1, c0=0.0, c1=0.0),
            "unit": "arcsec", "zeroreadings": [0.0]}
    out = {}
    for grating in gratings:
        grating = grating.upper()
        grooves, tilt_y = SYNTHETIC_GRATINGS[grating]
        if grating.endswith("M"):
            what = (f"groove density = G140M's x 1.43 um / {_RANGE_CENTRE_UM[grating[:4]]:.3f} um (nominal "
                    "range centres), G140M tilt: the nominal range lands on NRS1 like G140M's.")
        else:
            what = (f"groove density {_H_FACTOR} x the synthetic {grating[:4]}M, GWA tilt_y {tilt_y} deg: the "
                    "range is wider than a detector; its centre falls in the NRS1/NRS2 gap for S200A1, "
                    "the blue half lands on NRS1 and the red half on NRS2, and a WCS holds the part on "
                    "its detector (bounding box clipped to the detector).")
        key = f"disperser_{grating.lower()}"
        out[key] = _write(d / f"nirspec_{key}_synthetic.asdf", {
            "meta": _meta("disperser", f"Synthetic {grating} grating: {what} NOT FOR SCIENCE.",
                          model_type="DisperserModel",
                          instrument={"name": "NIRSPEC", "grating": grating,
                                      "p_detector": "NRS1|NRS2|"}),
            "groovedensity": grooves, "theta_x": 0.036, "theta_y": 0.008, "theta_z": -0.42,
            "tilt_x": 0.0, "tilt_y": tilt_y, "gwa_tiltx": dict(tilt), "gwa_tilty": dict(tilt)})
    return {k: str(v) for k, v in out.items()}


def make_synthetic_wavecorr(path, wcs_refs, detector_of=None):
    """Write a DUMMY WAVECORR in the CRDS layout, geometric from ``wcs_refs``.

    For every fixed slit and for ``MOS`` (a quadrant-1 shutter) the zero-point
    offset is minus the detector-x shift of a source at position ``xpos`` in the
    slit relative to a centred one, through the given optical model (PRISM):
    exactly what a point source much smaller than the slit would show (no PSF
    smoothing, unlike flight files whose edge offsets are ~0.6-0.9 of it).  Tables
    are stored in the documented order, ``points = (wavelength [m], xpos)``.
    """
    from astropy.modeling.models import Tabular2D

    from .build import NirspecSlit, build_slit_wcs, fixed_slit

    lam = np.linspace(0.6e-6, 5.3e-6, 21)
    pos = np.linspace(-0.5, 0.5, 21)
    apertures = []
    slits = [fixed_slit(n) for n in _FS_ORDER] + [NirspecSlit(name="MOS", shutter_id=2 * 365 + 100, quadrant=1)]
    for slit in slits:
        det = (detector_of or {}).get(slit.name, "NRS1")
        meta = {"DETECTOR": det, "GRATING": "PRISM", "FILTER": "CLEAR", "GWA_XTIL": 0.0, "GWA_YTIL": 0.0, "GWA_TILT": 36.0,
                "RA_REF": 0.0, "DEC_REF": 0.0, "V2_REF": 321.0, "V3_REF": -477.0, "ROLL_REF": 0.0,
                "V3I_YANG": 138.5, "VPARITY": -1, "SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": 2048, "SUBSIZE2": 2048}
        wcs = build_slit_wcs(slit, meta, wcs_refs)
        tr = wcs.get_transform("slit_frame", "detector")
        L, P = np.meshgrid(lam, pos, indexing="ij")
        with np.errstate(invalid="ignore"):
            x, _ = tr(P, np.zeros_like(P), L)
            x0, _ = tr(np.zeros_like(P), np.zeros_like(P), L)
        table = -(np.asarray(x) - np.asarray(x0))
        # wavelengths that miss the detector: the shift varies slowly with wavelength
        fill = np.nanmedian(table, axis=0)
        table = np.where(np.isfinite(table), table, fill[None, :])
        if not np.all(np.isfinite(table)):
            raise ValueError(f"synthetic WAVECORR: slit {slit.name} does not reach {det}")
        width = float(SYNTHETIC_FIXED_SLITS[slit.name][2]) if slit.name in SYNTHETIC_FIXED_SLITS else _SHUTTER_PITCH[0]
        apertures.append({"aperture_name": slit.name, "width": width, "variance": np.zeros_like(table),
                          "zero_point_offset": Tabular2D(points=(lam, pos), lookup_table=table, bounds_error=False,
                                                         fill_value=None, name=f"{slit.name}_zero_point_offset")})
    meta = _meta("wavecorr", "Synthetic wavelength zero-point offsets: geometric shift of an off-centre point "
                             "source through the embedded optical model (PRISM). NOT FOR SCIENCE.",
                 model_type="WaveCorrModel")
    return _write(path, {"meta": meta, "apertures": apertures})
