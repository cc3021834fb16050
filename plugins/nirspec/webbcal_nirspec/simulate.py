"""Synthetic NIRSpec exposures with a known injected spectrum (hook webbcal_simulate).

Fixed slit (S200A1, PRISM/CLEAR by default), MOS (three 3-shutter slitlets, with a
synthetic MSA metadata file written next to the exposure) and bright-object TSO
(S1600A1 rateints with a transit-like light curve and an INT_TIMES table).

The count rate of a pixel is what stage 2 inverts: for a source of flux density
F(lam) [Jy] the calibrated column sum must be F, so

    rate(pixel) = profile(y) * F(lam) / (1e6 * photmj * relresponse(lam)) * flat(pixel)

with ``profile`` a pixel-integrated Gaussian (sigma ``psf_sigma`` pixels) centred on the
source trace in each column, the flat the FFLAT x SFLAT x DFLAT product of the same
reference files the pipeline reads, and lam the wavelength of the source's light at
each pixel.  For a source centred across the slit that is the slit WCS's wavelength;
a source at SRCXPOS != 0 (along the dispersion) sends its light through another line of
the aperture and lands shifted along x, so its lam comes from the optical model of the
aperture moved by SRCXPOS widths (:func:`source_wavelength_map`) -- the physical shift
the pipeline's wavecorr step has to undo.
Options (``params``): seed, noise (bool), nints, flux (callable lam[micron] -> Jy),
grating, filter, psf_sigma, source_ypos and source_xpos (fixed slits, slit units;
MOS positions come from the ``slitlets`` dithers, ``(column, x, y)`` with x, y in
0..1 across the shutter), directory (for the MSA file), nod, flat_errors.

``noise`` draws Poisson and read noise (the VAR_POISSON and VAR_RNOISE the pipeline
propagates).  The flats painted are the reference flats themselves unless
``flat_errors`` is true: then the simulated response is the reference drawn within its
ERR (:func:`realise_flat_errors`), so the reference is off by what VAR_FLAT says.
``truth["flat_errors_realised"]`` tells which.

``nod`` simulates a nod-subtracted exposure (keywords PATTTYPE, NUMDTHPT, PATT_NUM=1
and S_BKDSUB='COMPLETE'): the rate is A - mean(others), so the source is painted
positive at its position and negative, with weight 1/(npts-1), at the other nods.
Fixed slit: ``"2-POINT-NOD"`` (partner at -source_ypos, source_ypos default 0.25) or
``"3-POINT-NOD"`` (others at 0 and -source_ypos).  MOS: ``"2-POINT-NOD"`` (the
source in the middle shutter at dither 1 and the upper one at dither 2, i.e. the
other nod one shutter pitch below in slit coordinates) or ``"3-POINT-NOD"`` (middle,
then lower, then upper shutter: negatives one pitch either side).  ``truth["negative_ypos"]``
lists the slit positions of the painted negative traces per slit.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from . import flat as flatmod
from . import photom as photmod
from .refs import default_path
from webbcal.plugin_api import gaussian_pixels

__all__ = ["simulate", "default_flux", "BASE_KEYWORDS"]

BASE_KEYWORDS = dict(
    TELESCOP="JWST", INSTRUME="NIRSPEC", DETECTOR="NRS1", GWA_XTIL=0.0, GWA_YTIL=0.0, GWA_TILT=36.0,
    RA_REF=53.16, DEC_REF=-27.78, V2_REF=321.0, V3_REF=-477.0, ROLL_REF=30.0, V3I_YANG=138.5, VPARITY=-1,
    READPATT="NRSRAPID", EFFEXPTM=1000.0, EXPSTART=60000.0, EXPEND=60000.0116, PATT_NUM=1,
    FASTAXIS=2, SLOWAXIS=1,     # NRS1: the detector rows are the readout columns
)


def default_flux(lam_um):
    """1 mJy at 2 micron falling as lam^-1, with a gentle bump: a smooth continuum [Jy]."""
    lam = np.asarray(lam_um, dtype=np.float64)
    return 1e-3 * (2.0 / lam) * (1 + 0.2 * np.exp(-0.5 * ((lam - 3.0) / 0.4) ** 2))


def _gauss_profile(ny, centre, sigma):
    """Pixel-integrated unit Gaussian along axis 0 (rows) for each column's centre."""
    return gaussian_pixels(ny, np.asarray(centre, dtype=np.float64), sigma)

class _Keywords:
    """Minimal stand-in with get_keyword, for resolving embedded defaults before a model exists."""

    def __init__(self, kw, companions=()):
        self.kw = kw
        self.companions = list(companions)

    def get_keyword(self, key):
        return self.kw.get(key)


_SCRATCH = []


def _scratch_directory():
    """A new directory for a simulation's MSA file when the caller names none.

    All of them sit in one temporary directory of this process, removed when the
    interpreter exits (the file must outlive the call: the model names it and
    assign_wcs reads it), so that simulating in a loop leaves nothing behind.
    """
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="webbcal_nirspec_"))
    return tempfile.mkdtemp(dir=_SCRATCH[0].name)


def _refs_for(kw):
    from .modes import WCS_REFTYPES
    from .wcs import readers

    probe = _Keywords(kw)
    wcs_refs = {rt: readers.read_reference(rt, default_path(rt, probe)) for rt in WCS_REFTYPES}
    fflat = flatmod.read_fflat(default_path("fflat", probe))
    sflat = flatmod.read_sflat(default_path("sflat", probe))
    dflat = flatmod.read_dflat(default_path("dflat", probe))
    phot = photmod.read_photom(default_path("photom", probe))
    area_path = default_path("area", probe)
    area = photmod.read_area(area_path) if area_path else None
    return wcs_refs, (fflat, sflat, dflat), phot, area


def realise_flat_errors(component, rng):
    """A copy of a flat component whose values are drawn within their stated errors.

    The reference flat is an estimate of the instrument's response with an error per
    element (ERR, the VAR_FLAT the pipeline propagates); a simulated instrument that
    differs from its reference by that error is ``sci + err * z``, z ~ N(0, 1), one draw
    per spatial element -- a detector pixel for SFLAT and DFLAT, a shutter for the MOS
    FFLAT -- shared by the element's wavelength planes (the error of one pixel's or
    shutter's response, smooth in wavelength).  The draw is fixed for the exposure (all
    integrations see the same flat).  Elements without an error keep their value.
    """
    from dataclasses import replace

    if component is None:
        return None
    if component.quadrants:
        return replace(component, quadrants={q: realise_flat_errors(c, rng) for q, c in component.quadrants.items()})
    if component.sci is None or component.err is None:
        return component
    err = np.nan_to_num(np.asarray(component.err, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    z = rng.standard_normal(component.sci.shape[-2:])
    sci = np.asarray(component.sci, dtype=np.float64) + err * z
    return replace(component, sci=sci.astype(component.sci.dtype))


def _paint(rate, info, kw, wcs_refs, flats, phot, flux, sigma, scale=1.0):
    """Add one slit's source to ``rate`` (ny, nx) of the exposure; return its truth."""
    from . import slits

    meta = {k: kw[k] for k in slits._WCS_KEYWORDS if k in kw}
    wcs = slits.slit_wcs(info, meta, wcs_refs)
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box()
    x0, y0 = int(round(x0 + 0.5)), int(round(y0 + 0.5))
    nx, ny = int(round(x1 + 0.5)) - x0, int(round(y1 + 0.5)) - y0
    cw = slits.cutout_wcs(wcs, x0, y0, nx, ny)
    if info.source_xpos:
        lam = source_wavelength_map(info, meta, wcs_refs, x0, y0, nx, ny)
    else:
        lam = slits.wavelength_map(cw, ny, nx)
    xt, yt, _ = slits.slit_trace(cw, info.source_xpos, info.source_ypos)
    cols = np.arange(nx, dtype=np.float64)
    centre = np.interp(cols, xt, yt, left=np.nan, right=np.nan)
    profile = _gauss_profile(ny, np.where(np.isfinite(centre), centre, -100.0), sigma)
    iy, ix = np.mgrid[0:ny, 0:nx]
    sub1, sub2 = int(kw.get("SUBSTRT1", 1)), int(kw.get("SUBSTRT2", 1))
    fflat, sflat, dflat = flats
    row = col = None
    if info.shutter_row is not None:
        row, col = info.shutter_row, info.shutter_column
    fl, _, _ = flatmod.synthesize_slit_flat(lam, iy + y0 + sub2 - 1, ix + x0 + sub1 - 1, info.name, fflat, sflat, dflat,
                                            quadrant=info.quadrant, shutter_row=row, shutter_column=col)
    prow = phot.find(kw["FILTER"], kw["GRATING"], info.name)
    rr = prow.response(lam)
    with np.errstate(invalid="ignore", divide="ignore"):
        signal = scale * profile * flux(lam) / (1e6 * prow.photmj * rr) * fl
    signal = np.where(np.isfinite(signal), signal, 0.0)
    rate[..., y0:y0 + ny, x0:x0 + nx] += signal
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lam_trace = np.nanmean(np.where(profile > 0.05, lam, np.nan), axis=0)
    return {"slit": info.name, "x0": x0, "y0": y0, "nx": nx, "ny": ny, "trace_y": centre, "wavelength": lam_trace}


def source_wavelength_map(info, meta, wcs_refs, x0, y0, nx, ny):
    """Wavelength [micron] of the light of ``info``'s source reaching each cut-out pixel.

    The slit WCS assumes light crossing the aperture's centre line (x_slit = 0).  A
    point source at ``source_xpos`` (slit widths along the dispersion) sends its light
    through x_slit = source_xpos instead, so it lands shifted along the detector
    x axis.  The exact wavelength it puts on a pixel is that of the centre-line WCS of
    the same aperture moved by ``source_xpos`` widths along x in the MSA plane (the
    quadrant transform is affine in the aperture's centre): the optical model itself,
    not the WAVECORR table the pipeline corrects with.
    """
    from dataclasses import replace

    from . import slits

    xpos = float(info.source_xpos or 0.0)
    slit = info.slit
    if xpos != 0.0 and np.isfinite(xpos):
        row, _ = wcs_refs["msa"].aperture(slit.quadrant, slit.shutter_id)
        xcen = float(row[1]) if slit.xcen is None else float(slit.xcen)
        xsize = float(row[3]) if slit.xsize is None else float(slit.xsize)
        slit = replace(slit, xcen=xcen + xpos * xsize, xsize=xsize, source_xpos=0.0)
    wcs = slits.slit_wcs(replace(info, slit=slit), meta, wcs_refs)
    return slits.wavelength_map(slits.cutout_wcs(wcs, x0, y0, nx, ny), ny, nx)


def _subarray_around(kw, info, wcs_refs, margin=6):
    from . import slits

    meta = {k: kw[k] for k in slits._WCS_KEYWORDS if k in kw}
    meta.update(SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048)
    wcs = slits.slit_wcs(info, meta, wcs_refs)
    (_, _), (y0, y1) = wcs.bounding_box.bounding_box()
    start = max(1, int(round(y0 + 0.5)) - margin + 1)
    stop = min(2048, int(round(y1 + 0.5)) + margin)
    return start, stop - start + 1


def simulate(mode, params):
    """(model, truth) of a synthetic exposure of ``mode`` (see module docstring);
    ``level="uncal"``: the raw ramps of the noiseless rates (``ngroups``, default 10,
    frames of the subarray's readout time; truth ``rate`` and ``cosmic_rays``)."""
    params = dict(params or {})
    from webbcal.plugin_api import simulation_level

    level = simulation_level(params)
    if level == "rate":
        return _simulate_rates(mode, params)
    from webbcal.plugin_api import readout_frame_time, uncal_from_rates

    from .refs import stage1_defaults

    model, truth = _simulate_rates(mode, {**params, "noise": False})
    ny, nx = np.shape(model.data)[-2:]
    full = (ny, nx) == (2048, 2048)
    return uncal_from_rates(model, truth, stage1_defaults(), params,
                            frame_time=readout_frame_time(nx, ny, 4 if full else 1), noutputs=4 if full else 1)


def _simulate_rates(mode, params):
    """The count-rate exposure and its truth."""
    from . import slits
    from . import models
    from .msa import write_msa_metadata
    from .wcs import fixed_slit

    params = dict(params or {})
    rng = np.random.default_rng(params.get("seed", 1))
    flux = params.get("flux") or default_flux
    sigma = float(params.get("psf_sigma", 1.0))
    exp_type = mode.exp_types[0]
    grating = str(params.get("grating", "PRISM")).upper()
    filt = str(params.get("filter", "CLEAR" if grating == "PRISM" else "F100LP")).upper()
    kw = dict(BASE_KEYWORDS, EXP_TYPE=exp_type, GRATING=grating, FILTER=filt)
    nints = int(params.get("nints", 1 if exp_type != "NRS_BRIGHTOBJ" else 20))
    nod = str(params.get("nod") or "").strip().upper() or None
    if nod not in (None, "2-POINT-NOD", "3-POINT-NOD"):
        raise ValueError(f"simulate: nod must be '2-POINT-NOD' or '3-POINT-NOD', not {nod!r}")
    if nod:
        kw.update(PATTTYPE=nod, NUMDTHPT=int(nod[0]), PATT_NUM=1, S_BKDSUB="COMPLETE")
    truth = {"slits": [], "negative_ypos": {}}
    companions = []
    if exp_type == "NRS_MSASPEC":
        directory = Path(params.get("directory") or _scratch_directory())
        directory.mkdir(parents=True, exist_ok=True)
        nod_cols = {"2-POINT-NOD": (2, 3), "3-POINT-NOD": (2, 1, 3)}.get(nod, (2,))
        specs = params.get("slitlets") or [
            dict(slitlet_id=1, quadrant=1, row=60, columns=[1, 2, 3], source_id=101,
                 dithers=[(c, 0.5, 0.5) for c in nod_cols]),
            dict(slitlet_id=2, quadrant=1, row=300, columns=[1, 2, 3], source_id=102,
                 dithers=[(c, 0.5, 0.65) for c in nod_cols]),
            dict(slitlet_id=3, quadrant=2, row=180, columns=[1, 2, 3], source_id=103,
                 dithers=[(c, 0.5, 0.40) for c in nod_cols]),
        ]
        sources = [dict(source_id=s["source_id"], source_name=f"sim_{s['source_id']}", ra=53.16, dec=-27.78, stellarity=1.0)
                   for s in specs if s.get("source_id")]
        msa_path = write_msa_metadata(directory / "jw99999001001_01_msa.fits", specs, sources, msa_metadata_id=1)
        # the keyword names the file alone (as in archive products); the model carries it
        # as a companion that is saved next to it
        companions.append(Path(msa_path))
        kw.update(MSAMETFL=Path(msa_path).name, MSAMETID=1, SUBARRAY="FULL", SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=2048, SUBSIZE2=2048)
        shape = (2048, 2048)
    else:
        name = "S1600A1" if exp_type == "NRS_BRIGHTOBJ" else str(params.get("slit", "S200A1")).upper()
        wcs_refs, *_ = _refs_for(kw)
        probe = slits.ApertureInfo(name=name, slit=fixed_slit(name))
        sub2, size2 = _subarray_around(kw, probe, wcs_refs)
        kw.update(FXD_SLIT=name, SUBARRAY="SUB2048" if exp_type == "NRS_BRIGHTOBJ" else f"SUB{name}",
                  SUBSTRT1=1, SUBSTRT2=sub2, SUBSIZE1=2048, SUBSIZE2=size2, SRCTYAPT="POINT")
        shape = (size2, 2048)
    wcs_refs, flats, phot, area = _refs_for(kw)
    if params.get("flat_errors", False):
        # the simulated instrument's response: the reference flats drawn within their errors
        flat_rng = np.random.default_rng(rng.integers(2**32))
        flats = tuple(realise_flat_errors(c, flat_rng) for c in flats)
    rate = np.zeros(shape)
    if exp_type == "NRS_MSASPEC":
        infos = slits.open_apertures(_Keywords(kw, companions), _mode_of(exp_type), _LoadedRefs({"msa": wcs_refs["msa"]}))
    else:
        ypos = float(params.get("source_ypos", 0.25 if nod else 0.0))
        xpos = float(params.get("source_xpos", 0.0))
        info = slits.ApertureInfo(name=kw["FXD_SLIT"], slit=fixed_slit(kw["FXD_SLIT"]), source_xpos=xpos,
                               source_ypos=ypos, quadrant=5)
        meta = {k: kw[k] for k in slits._WCS_KEYWORDS if k in kw}
        wcs = slits.slit_wcs(info, meta, wcs_refs)
        lo, hi = wcs.nirspec_wavelength_range
        ra, dec, _ = wcs.get_transform("slit_frame", "world")(xpos, ypos, 0.5 * (lo + hi))
        kw.update(TARG_RA=float(ra), TARG_DEC=float(dec))
        infos = [info]
    import dataclasses

    for info in infos:
        if info.primary:
            truth["slits"].append(_paint(rate, info, kw, wcs_refs, flats, phot, flux, sigma))
            if nod:
                if exp_type == "NRS_MSASPEC":
                    others = tuple(info.nod_offsets)
                else:
                    others = (-info.source_ypos,) if nod == "2-POINT-NOD" else (0.0, -info.source_ypos)
                for y in others:
                    _paint(rate, dataclasses.replace(info, source_ypos=y), kw, wcs_refs, flats, phot, flux, sigma,
                           scale=-1.0 / len(others))
                truth["negative_ypos"][info.name] = others
    background = float(params.get("background", 0.0))
    rate += background
    # noise model: Poisson on the accumulated electrons (gain 1) plus read noise
    t_exp = float(kw["EFFEXPTM"]) / nints
    rnoise = float(params.get("read_noise", 0.0 if not params.get("noise", False) else 0.005))
    if exp_type == "NRS_BRIGHTOBJ":
        depth = float(params.get("transit_depth", 0.01))
        phase = np.linspace(-1, 1, nints)
        lc = 1 - depth * (np.abs(phase) < 0.4)
        cube = rate[None] * lc[:, None, None]
        truth["light_curve"] = lc
        data = cube
    else:
        data = rate
    var_poisson = np.abs(data) / t_exp
    var_rnoise = np.full(data.shape, rnoise ** 2)
    if params.get("noise", False):
        data = rng.poisson(np.maximum(data, 0) * t_exp) / t_exp + rng.normal(0, rnoise, data.shape) if rnoise else rng.poisson(np.maximum(data, 0) * t_exp) / t_exp
    truth.update(wavelength=np.linspace(0.6, 5.3, 500), flux_jy=flux(np.linspace(0.6, 5.3, 500)), flux=flux,
                 keywords=dict(kw), flat_errors_realised=bool(params.get("flat_errors", False)))
    kw.update(EFFINTTM=t_exp)    # the effective integration time (the combine_1d weight)
    if exp_type == "NRS_BRIGHTOBJ":
        kw.update(NINTS=nints, TSOVISIT=True)
        from webbcal.plugin_api import datamodels

        int_times_table = datamodels.int_times_table

        table = int_times_table(kw["EXPSTART"], kw["EXPEND"], nints, kw.get("TARG_RA", kw.get("RA_REF")),
                                kw.get("TARG_DEC", kw.get("DEC_REF")))
        times = {name: table[name] for name in table.dtype.names}
        model = models.new_cube(data, var_poisson, var_rnoise, kw, int_times=times)
        truth["int_mid_mjd"] = times["int_mid_MJD_UTC"]
    else:
        kw.update(NINTS=1)
        model = models.new_image(data, var_poisson, var_rnoise, kw)
    model.companions = companions
    return model, truth


class _LoadedRefs:
    """RefSet-like holder of already-read reference objects."""

    def __init__(self, objs):
        self.objs = objs

    def __contains__(self, key):
        return key in self.objs

    def load(self, key):
        return self.objs.get(key)


def _mode_of(exp_type):
    from .modes import MODES

    return next(m for m in MODES if exp_type in m.exp_types)
