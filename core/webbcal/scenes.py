"""Synthetic scenes with known truth: pixel-integrated trace profiles and noisy cubes, for
simulators (the plugins' `webbcal_simulate`) and tests (re-exported by webbcal.testing and
webbcal.plugin_api)."""
from __future__ import annotations

import numpy as np

__all__ = ["gaussian_pixels", "moffat_pixels", "trace_image", "noisy_cube", "set_exposure_timing", "point_sources",
           "noisy_rate", "reference_pixel_dq", "window_from_params"]


def _pixel_edges(n):
    return np.arange(n + 1) - 0.5  # pixel i spans [i - 0.5, i + 0.5]


def gaussian_pixels(n, centre, sigma):
    """The fraction of a Gaussian falling in each of ``n`` pixels, integrated exactly
    (error functions) over each pixel ``[i - 0.5, i + 0.5]``.

    Parameters
    ----------
    n : int
        Number of pixels (cross-dispersion rows).
    centre, sigma : float or array_like
        Centre and standard deviation in pixels; arrays, shape ``(ndisp,)``, give one
        profile per dispersion column.

    Returns
    -------
    ndarray
        Shape ``(n,)``, or ``(n, ndisp)`` for array arguments.
    """
    from scipy.special import erf

    c = np.asarray(centre, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    edges = _pixel_edges(n).reshape((-1,) + (1,) * max(c.ndim, s.ndim))
    cdf = 0.5 * (1.0 + erf((edges - c) / (np.sqrt(2.0) * s)))
    return np.diff(cdf, axis=0)


def moffat_pixels(n, centre, alpha, beta=2.5):
    """The fraction of a Moffat profile ``(1 + (x/alpha)**2)**-beta`` falling in each of
    ``n`` pixels (its cumulative integral, exact), like :func:`gaussian_pixels`.

    Parameters
    ----------
    n : int
        Number of pixels.
    centre, alpha : float or array_like
        Centre and core width in pixels (arrays: one profile per dispersion column).
    beta : float
        Power of the wings (> 0.5).

    Returns
    -------
    ndarray
        Shape ``(n,)`` or ``(n, ndisp)``.
    """
    from scipy.special import betainc

    c = np.asarray(centre, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    edges = _pixel_edges(n).reshape((-1,) + (1,) * max(c.ndim, a.ndim))
    u = (edges - c) / a
    # the normalised cumulative integral of (1 + u^2)^-beta from -inf to u
    t = u * u / (1.0 + u * u)
    half = 0.5 * betainc(0.5, beta - 0.5, t)
    cdf = 0.5 + np.sign(u) * half
    return np.diff(cdf, axis=0)


def trace_image(ncross, ndisp, flux, centre, width, profile="gaussian", background=0.0, beta=2.5):
    """A 2-D spectrum: a trace of known flux on a constant background.

    Parameters
    ----------
    ncross, ndisp : int
        Image shape ``(ncross, ndisp)``, dispersion along the last axis.
    flux : float or array_like
        Total flux per dispersion column (scalar or ``(ndisp,)``).
    centre : float, array_like or callable
        Trace centre (pixels): scalar, ``(ndisp,)``, or a function of the dispersion pixel.
    width : float or array_like
        Gaussian sigma or Moffat alpha (pixels).
    profile : {"gaussian", "moffat"}
        Cross-dispersion profile.
    background : float
        Constant added to every pixel.
    beta : float
        Moffat power (``profile="moffat"``).

    Returns
    -------
    ndarray, shape (ncross, ndisp)

    Raises
    ------
    ValueError
        An unknown profile.
    """
    x = np.arange(ndisp, dtype=np.float64)
    c = centre(x) if callable(centre) else np.broadcast_to(np.asarray(centre, dtype=np.float64), x.shape)
    w = np.broadcast_to(np.asarray(width, dtype=np.float64), x.shape)
    if profile == "gaussian":
        prof = gaussian_pixels(ncross, c, w)
    elif profile == "moffat":
        prof = moffat_pixels(ncross, c, w, beta)
    else:
        raise ValueError(f"profile={profile!r}: expected 'gaussian' or 'moffat'")
    return prof * np.broadcast_to(np.asarray(flux, dtype=np.float64), x.shape) + background


def noisy_cube(signal, nints, read_noise=5.0, gain=1.0, seed=0, dtype=np.float32):
    """Noisy integrations of a known signal, with the variance arrays JWST products carry.

    Parameters
    ----------
    signal : array_like, 2-D
        Expected signal (electrons per pixel); negative values are clipped to 0.
    nints : int
        Number of integrations.
    read_noise : float
        Gaussian read noise (data units).
    gain : float
        Electrons per data unit (Poisson noise of ``signal * gain`` electrons).
    seed : int
        Seed of the random generator.
    dtype : numpy dtype
        Type of the returned arrays.

    Returns
    -------
    data, var_poisson, var_rnoise : ndarray, shape (nints, ny, nx)
        VAR_POISSON is the expected signal / gain (not the noisy one, so the propagated
        variance is exact); VAR_RNOISE is ``read_noise**2``.
    """
    rng = np.random.default_rng(seed)
    signal = np.clip(np.asarray(signal, dtype=np.float64), 0.0, None)
    counts = rng.poisson(np.broadcast_to(signal * gain, (nints,) + signal.shape)) / gain
    data = counts + rng.normal(0.0, read_noise, counts.shape)
    var_poisson = np.broadcast_to(signal / gain, data.shape)
    var_rnoise = np.full(data.shape, float(read_noise) ** 2)
    return data.astype(dtype), np.array(var_poisson, dtype=dtype), var_rnoise.astype(dtype)


def set_exposure_timing(model, start, nints, ngroups, frame_time, integration_time, reset_time=None):
    """Write the exposure timing keywords of a simulated exposure.

    Sets NINTS, INTSTART / INTEND, NGROUPS, NFRAMES (1), GROUPGAP (0), TFRAME / TGROUP,
    EFFINTTM, EFFEXPTM, DURATION, EXPSTART / EXPMID / EXPEND (MJD UTC), DATE-OBS and
    TIME-OBS, consistently.

    Parameters
    ----------
    model : DataModel
        The simulated exposure (changed in place).
    start : str
        Exposure start, ISO UTC (``"2022-08-18T13:19:28"``).
    nints, ngroups : int
        Integrations and groups per integration.
    frame_time : float
        Seconds per frame (= per group: one frame per group).
    integration_time : float
        Effective integration time (seconds).
    reset_time : float, optional
        Seconds between integrations (default one frame).
    """
    from astropy.time import Time, TimeDelta

    ex = model.meta.exposure
    ex.nints = int(nints)
    ex.integration_start, ex.integration_end = 1, int(nints)
    ex.ngroups, ex.nframes, ex.groupgap = int(ngroups), 1, 0
    ex.frame_time = ex.group_time = float(frame_time)
    ex.integration_time = float(integration_time)
    ex.exposure_time = float(integration_time) * nints
    ex.duration = (float(integration_time) + float(frame_time if reset_time is None else reset_time)) * nints
    t0 = Time(start, scale="utc")
    t1 = t0 + TimeDelta(ex.duration, format="sec")
    ex.start_time, ex.end_time = float(t0.mjd), float(t1.mjd)
    ex.mid_time = float(0.5 * (t0.mjd + t1.mjd))
    date, time = t0.isot.split("T")
    model.meta.observation.date = date
    model.meta.observation.time = time.split(".")[0]


def point_sources(shape, x, y, flux_jy, sigma, pixar_sr, sky=0.0, half=None):
    """Surface brightness (MJy/sr) of point sources of known flux density on a flat sky.

    Each source is a pixel-integrated circular Gaussian; its surface brightness summed
    over the pixels times ``pixar_sr`` x 1e6 is its flux density in Jy (the light that
    falls on the image).

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)``.
    x, y : array_like
        0-based pixel positions of the sources.
    flux_jy : array_like
        Their flux densities (Jy).
    sigma : float
        Gaussian sigma (pixels).
    pixar_sr : float
        Solid angle of a pixel (sr).
    sky : float
        Flat sky (MJy/sr).
    half : int, optional
        Paint each source within +-``half`` pixels of its centre only (default: 8 sigma,
        at least 5), which holds all but ~1e-15 of its light.

    Returns
    -------
    ndarray, shape (ny, nx)
    """
    ny, nx = shape
    half = int(half if half is not None else max(5, np.ceil(8 * sigma)))
    out = np.full((ny, nx), float(sky))
    for xc, yc, f in zip(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux_jy)):
        y0, y1 = max(0, int(np.floor(yc)) - half), min(ny, int(np.floor(yc)) + half + 1)
        x0, x1 = max(0, int(np.floor(xc)) - half), min(nx, int(np.floor(xc)) + half + 1)
        if y1 <= y0 or x1 <= x0:
            continue
        # the share of the whole Gaussian in each pixel (not renormalised to the cut-out)
        py = _gaussian_share(np.arange(y0, y1), yc, sigma)
        px = _gaussian_share(np.arange(x0, x1), xc, sigma)
        out[y0:y1, x0:x1] += float(f) / (pixar_sr * 1e6) * np.outer(py, px)
    return out


def _gaussian_share(pixels, centre, sigma):
    """Share of a unit Gaussian (centre, sigma) falling in each of ``pixels``."""
    from scipy.special import erf

    lo = (pixels - 0.5 - centre) / (np.sqrt(2) * sigma)
    hi = (pixels + 0.5 - centre) / (np.sqrt(2) * sigma)
    return 0.5 * (erf(hi) - erf(lo))


def noisy_rate(rate, integration_time, gain, read_noise, noise=True, seed=0):
    """A count-rate image or cube (DN/s) with its JWST variance arrays.

    Parameters
    ----------
    rate : array_like
        Expected count rate (DN/s); negative values count as 0 for the Poisson noise.
    integration_time : float
        Seconds of each integration.
    gain : float
        Electrons per DN.
    read_noise : float
        Gaussian read noise of a rate (DN/s).
    noise : bool
        Draw the noise (False: the data are ``rate`` exactly, the variances the same).
    seed : int
        Seed of the random generator.

    Returns
    -------
    data, var_poisson, var_rnoise, err : ndarray (float32)
        VAR_POISSON = rate / (gain t) and VAR_RNOISE = read_noise**2, from the expected
        rate (so the propagated variance is exact).
    """
    rate = np.asarray(rate, dtype=np.float64)
    t = float(integration_time)
    vp = np.clip(rate, 0.0, None) / (gain * t)
    vr = np.full(rate.shape, float(read_noise) ** 2)
    data = rate
    if noise:
        rng = np.random.default_rng(seed)
        data = rng.poisson(np.clip(rate, 0.0, None) * gain * t) / (gain * t) + rng.normal(0.0, read_noise, rate.shape)
    return (data.astype(np.float32), vp.astype(np.float32), vr.astype(np.float32),
            np.sqrt(vp + vr).astype(np.float32))


def reference_pixel_dq(origin, shape, full_shape, border=4):
    """DQ of a subarray whose pixels in the detector's reference-pixel border are flagged
    REFERENCE_PIXEL | DO_NOT_USE (the JWST bits 31 and 0).

    Parameters
    ----------
    origin : tuple of int
        1-based (SUBSTRT1, SUBSTRT2) of the subarray.
    shape : tuple of int
        Its (rows, columns).
    full_shape : tuple of int
        The detector's (rows, columns).
    border : int
        Width of the reference-pixel border.

    Returns
    -------
    ndarray of uint32
    """
    ny, nx = shape
    rows = np.arange(ny) + origin[1] - 1
    cols = np.arange(nx) + origin[0] - 1
    ref = ((rows < border) | (rows >= full_shape[0] - border))[:, None] \
        | ((cols < border) | (cols >= full_shape[1] - border))[None, :]
    return np.where(ref, np.uint32(2 ** 31 | 1), np.uint32(0)).astype(np.uint32)


def window_from_params(params, full_shape, default_size=256):
    """``(xstart, ystart, rows, columns)`` of a simulated exposure from simulator
    parameters: ``subarray`` FULL (default) is the whole detector; any other name needs
    ``xstart`` / ``ystart`` (1-based) and takes a square of ``size`` pixels.

    Parameters
    ----------
    params : mapping
        The simulator's parameters (``subarray``, ``xstart``, ``ystart``, ``size``).
    full_shape : tuple of int
        The detector's (rows, columns).
    default_size : int
        Side of the square window when ``size`` is not given.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        A window not placed on the detector (the message says what to give).
    """
    subarray = str(params.get("subarray") or "FULL").upper()
    if subarray == "FULL":
        return 1, 1, int(full_shape[0]), int(full_shape[1])
    xstart, ystart = int(params.get("xstart") or 0), int(params.get("ystart") or 0)
    n = int(params.get("size") or default_size)
    if xstart < 1 or ystart < 1 or xstart - 1 + n > full_shape[1] or ystart - 1 + n > full_shape[0]:
        raise ValueError(f"subarray {subarray}: give xstart/ystart (1-based) placing a {n}x{n} window "
                         f"on the {full_shape[1]}x{full_shape[0]} detector")
    return xstart, ystart, n, n

