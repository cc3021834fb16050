"""Custom astropy models for the NIRSpec optical model.

The NIRSpec instrument model (ESA/IDT, Dorner et al. 2016, A&A 592, A113)
traces a ray from the sky to the detector through a chain of optical
elements.  Most elements are polynomial distortions shipped as plain astropy
models inside the CRDS reference files (FORE, COLLIMATOR, CAMERA, FPA, OTE);
the elements written here are the ones that need physics:

* direction cosines <-> "unitless" paraxial coordinates
  (``Unitless2DirCos``, ``DirCos2Unitless``);
* the sequence of small rotations that puts a ray in the frame of the grating
  wheel assembly (GWA) (``Rotation3DToGWA``);
* the 3-D grating equation (``AngleFromGratingEquation``,
  ``WavelengthFromGratingEquation``);
* refraction through the double-pass PRISM (``Snell``,
  ``RefractionIndexFromPrism`` and :func:`prism_refraction_index`, the
  Sellmeier + thermal index of the glass);
* per-slit containers that route a slit to its own transform (``Gwa2Slit``,
  ``Slit2Gwa``, ``Slit2Msa``, ``Msa2Slit``) and the ``Logical`` masking model,
  needed to read NIRSpec WCS objects stored in archive files.

Conventions (all angles of model parameters in degrees, all wavelengths in
metres, as in the reference files):

* direction cosines ``(x, y, z)`` with ``z`` along the optical axis;
* a rotation by ``theta`` about axis ``x`` maps ``y' = y cos + z sin``,
  about ``y`` maps ``x' = x cos - z sin``, about ``z`` maps
  ``x' = x cos + y sin, y' = -x sin + y cos`` (frame rotations, applied in the
  order given by ``axes_order``);
* the grating equation in direction-cosine form:
  ``alpha_out = -alpha_in - G m lambda``, ``beta_out = -beta_in``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from astropy.modeling import Model, Parameter

__all__ = [
    "Unitless2DirCos", "DirCos2Unitless", "Rotation3DToGWA",
    "AngleFromGratingEquation", "WavelengthFromGratingEquation",
    "Snell", "RefractionIndexFromPrism", "prism_refraction_index",
    "prism_wavelength_table", "Logical", "Gwa2Slit", "Slit2Gwa", "Slit2Msa",
    "Msa2Slit", "SlitRecord", "rotation_matrix",
]

# --------------------------------------------------------------------------
# direction cosines
# --------------------------------------------------------------------------


class Unitless2DirCos(Model):
    """Paraxial (tangent-plane) coordinates ``(x, y)`` -> direction cosines.

    A ray through the point ``(x, y, 1)`` has direction cosines
    ``(x, y, 1) / sqrt(1 + x**2 + y**2)``.
    """

    n_inputs = 2
    n_outputs = 3
    _separable = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inputs = ("x", "y")
        self.outputs = ("x", "y", "z")

    @staticmethod
    def evaluate(x, y):
        norm = np.sqrt(1.0 + x * x + y * y)
        return x / norm, y / norm, 1.0 / norm

    @property
    def inverse(self):
        return DirCos2Unitless()


class DirCos2Unitless(Model):
    """Direction cosines ``(x, y, z)`` -> paraxial coordinates ``(x/z, y/z)``."""

    n_inputs = 3
    n_outputs = 2
    _separable = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inputs = ("x", "y", "z")
        self.outputs = ("x", "y")

    @staticmethod
    def evaluate(x, y, z):
        return x / z, y / z

    @property
    def inverse(self):
        return Unitless2DirCos()


# --------------------------------------------------------------------------
# rotations
# --------------------------------------------------------------------------


def _axis_matrix(axis: str, theta: float) -> np.ndarray:
    """Frame-rotation matrix about one axis (angle in radians)."""
    c, s = math.cos(theta), math.sin(theta)
    if axis == "x":
        return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])
    if axis == "y":
        return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    if axis == "z":
        return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    raise ValueError(f"rotation axis must be one of 'x', 'y', 'z', got {axis!r}")


def rotation_matrix(angles_deg, axes_order: str) -> np.ndarray:
    """Matrix of the rotation sequence: first rotation applied first."""
    angles_deg = np.atleast_1d(np.asarray(angles_deg, dtype=float)).ravel()
    if len(angles_deg) != len(axes_order):
        raise ValueError(
            f"rotation sequence needs one angle per axis: {len(angles_deg)} angles "
            f"for axes {axes_order!r}")
    matrix = np.eye(3)
    for angle, axis in zip(angles_deg, axes_order):
        matrix = _axis_matrix(axis, math.radians(angle)) @ matrix
    return matrix


class Rotation3DToGWA(Model):
    """Sequence of 3-D frame rotations acting on direction cosines.

    Parameters
    ----------
    angles : sequence of float
        Rotation angles in degrees, one per character of ``axes_order``.
    axes_order : str
        Axes of the successive rotations, e.g. ``"xyzy"`` for the GWA
        (theta_x, theta_y, theta_z, tilt_y of the DISPERSER file).
    """

    n_inputs = 3
    n_outputs = 3
    _separable = False
    standard_broadcasting = False

    angles = Parameter(default=[])

    def __init__(self, angles, axes_order, name=None, **kwargs):
        angles = np.asarray(angles, dtype=float).ravel()
        axes_order = str(axes_order).lower()
        if set(axes_order) - set("xyz"):
            raise ValueError(
                f"axes_order must use only 'x', 'y', 'z', got {axes_order!r}")
        if len(angles) != len(axes_order):
            raise ValueError(
                f"Rotation3DToGWA needs one angle per axis: {len(angles)} angles "
                f"for axes {axes_order!r}")
        self.axes_order = axes_order
        super().__init__(angles, name=name, **kwargs)
        self.inputs = ("x", "y", "z")
        self.outputs = ("x", "y", "z")

    @property
    def inverse(self):
        return Rotation3DToGWA(-np.asarray(self.angles.value)[::-1], self.axes_order[::-1])

    def evaluate(self, x, y, z, angles):
        matrix = rotation_matrix(np.asarray(angles).ravel(), self.axes_order)
        x, y, z = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float),
                                      np.asarray(z, float))
        shape = x.shape
        vec = np.vstack([x.ravel(), y.ravel(), z.ravel()])
        out = matrix @ vec
        return (out[0].reshape(shape), out[1].reshape(shape), out[2].reshape(shape))


# --------------------------------------------------------------------------
# gratings
# --------------------------------------------------------------------------


class AngleFromGratingEquation(Model):
    """Outgoing direction cosines of a reflective grating.

    Inputs ``(lam, alpha_in, beta_in, z_in)``, wavelength in metres;
    outputs ``(alpha_out, beta_out, z_out)`` with
    ``alpha_out = -alpha_in - groove_density * order * lam``,
    ``beta_out = -beta_in`` and ``z_out`` completing a unit vector.
    ``groove_density`` is in lines per metre.
    """

    n_inputs = 4
    n_outputs = 3
    _separable = False

    groove_density = Parameter(default=1.0)
    order = Parameter(default=-1.0)

    def __init__(self, groove_density, order, **kwargs):
        super().__init__(groove_density=groove_density, order=order, **kwargs)
        self.inputs = ("lam", "alpha_in", "beta_in", "z")
        self.outputs = ("alpha_out", "beta_out", "zout")

    @staticmethod
    def evaluate(lam, alpha_in, beta_in, z, groove_density, order):
        alpha_out = -alpha_in - groove_density * order * lam
        beta_out = -beta_in + 0.0 * alpha_out
        with np.errstate(invalid="ignore"):
            z_out = np.sqrt(1.0 - alpha_out ** 2 - beta_out ** 2)
        return alpha_out, beta_out, z_out


class WavelengthFromGratingEquation(Model):
    """Wavelength (metres) from incoming and outgoing direction cosines.

    Inputs ``(alpha_in, beta_in, alpha_out)``; ``beta_in`` is not needed by
    the grating equation but kept so gratings and the prism share one
    interface.
    """

    n_inputs = 3
    n_outputs = 1
    _separable = False

    groove_density = Parameter(default=1.0)
    order = Parameter(default=-1.0)

    def __init__(self, groove_density, order, **kwargs):
        super().__init__(groove_density=groove_density, order=order, **kwargs)
        self.inputs = ("alpha_in", "beta_in", "alpha_out")
        self.outputs = ("lam",)

    @staticmethod
    def evaluate(alpha_in, beta_in, alpha_out, groove_density, order):
        return -(alpha_in + alpha_out) / (groove_density * order)


# --------------------------------------------------------------------------
# prism
# --------------------------------------------------------------------------

_KELVIN_TO_CELSIUS = 273.15


def _air_index(lam_um, pressure_atm, temp_c):
    """Refractive index of air (Edlen-type formula) at a pressure/temperature."""
    lam2 = lam_um ** 2
    n_std = 1.0 + 1e-8 * (6432.8 + 2949810.0 * lam2 / (146.0 * lam2 - 1.0)
                          + 5540.0 * lam2 / (41.0 * lam2 - 1.0))
    return 1.0 + (n_std - 1.0) * pressure_atm / (1.0 + (temp_c - 15.0) * 3.4785e-3)


def _sellmeier(lam_um, kcoef, lcoef):
    lam2 = lam_um ** 2
    n2 = 1.0
    for k, l_ in zip(kcoef, lcoef):
        n2 = n2 + k * lam2 / (lam2 - l_)
    return np.sqrt(n2)


def prism_refraction_index(lam, temperature, tref, pref, pressure, kcoef, lcoef, tcoef):
    """Index of refraction of the PRISM glass.

    Parameters
    ----------
    lam : array-like
        Wavelength in metres.
    temperature, tref : float
        Operating and reference temperatures of the glass in K (GWA_TILT keyword
        and ``tref`` of the DISPERSER file).
    pref, pressure : float
        Reference and operating pressures in atm (0 for vacuum).
    kcoef, lcoef : sequence of 3 floats
        Sellmeier coefficients (``lcoef`` in micron**2).
    tcoef : sequence of 6 floats
        Thermal coefficients ``D0, D1, D2, E0, E1, lambda_tk`` of the
        temperature dependence of the absolute index (Schott form).

    Within 20 K of the reference temperature the Sellmeier index is used as is.
    """
    lam_um = np.asarray(lam, dtype=float) * 1e6
    t_c = float(temperature) - _KELVIN_TO_CELSIUS
    tref_c = float(tref) - _KELVIN_TO_CELSIUS
    delta_t = t_c - tref_c
    if abs(delta_t) < 20.0:
        return _sellmeier(lam_um, kcoef, lcoef)
    d0, d1, d2, e0, e1, lam_tk = [float(c) for c in tcoef]
    n_air_obs = _air_index(lam_um, pressure, t_c)
    n_air_ref = _air_index(lam_um, pref, tref_c)
    lam_rel = lam_um * n_air_obs / n_air_ref
    n_rel = _sellmeier(lam_rel, kcoef, lcoef)
    n_abs_ref = n_rel * n_air_ref
    dn_abs = ((n_rel ** 2 - 1.0) / (2.0 * n_rel)) * (
        d0 * delta_t + d1 * delta_t ** 2 + d2 * delta_t ** 3
        + (e0 * delta_t + e1 * delta_t ** 2) / (lam_rel ** 2 - lam_tk ** 2))
    return (n_abs_ref + dn_abs) / n_air_obs


def prism_wavelength_table(temperature, tref, pref, pressure, kcoef, lcoef, tcoef,
                           lam_min=0.5e-6, lam_max=6.0e-6, step=1e-9):
    """Return ``(n, lam)`` sampled finely, ``n`` increasing (for interpolation)."""
    lam = np.arange(lam_min, lam_max + step / 2, step)
    n = prism_refraction_index(lam, temperature, tref, pref, pressure, kcoef, lcoef, tcoef)
    order = np.argsort(n)
    return n[order], lam[order]


class Snell(Model):
    """Double pass through the NIRSpec PRISM (refraction - reflection - refraction).

    Inputs ``(lam, alpha_in, beta_in, z_in)``: wavelength (m) and the direction
    cosines of the ray arriving at the prism front face in the GWA frame.
    Outputs ``(alpha_out, beta_out, z_out)`` of the ray leaving it.

    The ray is refracted into the glass at the front face (direction cosines
    divided by ``n``), rotated by the prism angle about ``y`` into the frame of
    the back face, reflected there, rotated back, and refracted out of the front
    face (multiplied by ``n``).
    """

    n_inputs = 4
    n_outputs = 3
    _separable = False
    standard_broadcasting = False

    def __init__(self, prism_angle, kcoef, lcoef, tcoef, tref, pref, temperature,
                 pressure, name=None, **kwargs):
        self.prism_angle = float(prism_angle)
        self.kcoef = np.asarray(kcoef, dtype=float)
        self.lcoef = np.asarray(lcoef, dtype=float)
        self.tcoef = np.asarray(tcoef, dtype=float)
        self.tref = float(tref)
        self.pref = float(pref)
        self.temperature = float(temperature)
        self.pressure = float(pressure)
        if self.kcoef.size != 3 or self.lcoef.size != 3 or self.tcoef.size != 6:
            raise ValueError("Snell needs 3 kcoef, 3 lcoef and 6 tcoef values")
        super().__init__(name=name, **kwargs)
        self.inputs = ("lam", "alpha_in", "beta_in", "zin")
        self.outputs = ("alpha_out", "beta_out", "zout")

    def refraction_index(self, lam):
        """Refractive index of the prism at wavelength ``lam`` (metres), at the model's temperature and
        pressure."""
        return prism_refraction_index(lam, self.temperature, self.tref, self.pref,
                                      self.pressure, self.kcoef, self.lcoef, self.tcoef)

    def evaluate(self, lam, alpha_in, beta_in, zin):
        lam, alpha_in, beta_in = np.broadcast_arrays(
            np.asarray(lam, float), np.asarray(alpha_in, float), np.asarray(beta_in, float))
        n = self.refraction_index(lam)
        a = math.radians(self.prism_angle)
        ca, sa = math.cos(a), math.sin(a)
        with np.errstate(invalid="ignore"):
            # refraction into the glass
            x1 = alpha_in / n
            y1 = beta_in / n
            z1 = np.sqrt(1.0 - x1 ** 2 - y1 ** 2)
            # frame of the back surface (rotation about y by the prism angle)
            x2 = x1 * ca - z1 * sa
            z2 = x1 * sa + z1 * ca
            # reflection on the back surface
            x3, y3, z3 = -x2, -y1, z2
            # back to the front-surface frame (rotation by -angle)
            x4 = x3 * ca + z3 * sa
            # refraction out of the glass
            x_out = x4 * n
            y_out = y3 * n
            z_out = np.sqrt(1.0 - x_out ** 2 - y_out ** 2)
        return x_out, y_out, z_out


class RefractionIndexFromPrism(Model):
    """Index of refraction implied by the geometry of a ray through the prism.

    Inputs ``(alpha_in, beta_in, alpha_out)``; inverting the double pass of
    :class:`Snell` gives
    ``n**2 = ((alpha_out + alpha_in cos 2A) / sin 2A)**2 + alpha_in**2 + beta_in**2``
    with ``A`` the prism angle.
    """

    n_inputs = 3
    n_outputs = 1
    _separable = False
    standard_broadcasting = False

    prism_angle = Parameter(default=0.0)

    def __init__(self, prism_angle, name=None, **kwargs):
        super().__init__(prism_angle=prism_angle, name=name, **kwargs)
        self.inputs = ("alpha_in", "beta_in", "alpha_out")
        self.outputs = ("n",)

    @staticmethod
    def evaluate(alpha_in, beta_in, alpha_out, prism_angle):
        a = np.deg2rad(np.asarray(prism_angle, float).ravel()[0])
        term = (alpha_out + alpha_in * np.cos(2 * a)) / np.sin(2 * a)
        return np.sqrt(term ** 2 + alpha_in ** 2 + beta_in ** 2)


# --------------------------------------------------------------------------
# masking
# --------------------------------------------------------------------------


class Logical(Model):
    """Replace values where ``x <condition> compareto`` holds (GT, LT, EQ, NE)."""

    n_inputs = 1
    n_outputs = 1
    _separable = False
    _conditions = {"GT": np.greater, "LT": np.less, "EQ": np.equal, "NE": np.not_equal}

    def __init__(self, condition, compareto, value, **kwargs):
        condition = str(condition).upper()
        if condition not in self._conditions:
            raise ValueError(f"Logical condition must be one of GT, LT, EQ, NE; got {condition!r}")
        self.condition = condition
        self.compareto = compareto
        self.value = value
        super().__init__(**kwargs)
        self.inputs = ("x",)
        self.outputs = ("x",)

    def evaluate(self, x):
        x = np.array(x, dtype=float, copy=True)
        with np.errstate(invalid="ignore"):
            hit = self._conditions[self.condition](x, self.compareto) & ~np.isnan(x)
        if np.ndim(self.value):
            x[hit] = np.broadcast_to(self.value, x.shape)[hit]
        else:
            x[hit] = self.value
        return x

    def __repr__(self):
        return (f"<Logical(condition={self.condition}, compareto={self.compareto}, "
                f"value={self.value})>")


# --------------------------------------------------------------------------
# per-slit containers (needed to read archive WCS objects)
# --------------------------------------------------------------------------

SLIT_FIELDS = ("name", "shutter_id", "dither_position", "xcen", "ycen", "ymin", "ymax",
               "quadrant", "source_id", "shutter_state", "source_name", "source_alias",
               "stellarity", "source_xpos", "source_ypos", "source_ra", "source_dec",
               "slit_xscale", "slit_yscale", "slit_id")
SlitRecord = namedtuple("SlitRecord", SLIT_FIELDS)
SlitRecord.__new__.__defaults__ = ("", 0, 0, 0.0, 0.0, -0.55, 0.55, 0, 0, "", "", "", 0.0,
                                   0.0, 0.0, 0.0, 0.0, 1.0, 1.0, -9999)


class _SlitRouter(Model):
    """A model holding one transform per slit; the first input is the slit id.

    Stored slits are either plain ids (numbers or names) or slit records
    (sequences laid out as :data:`SLIT_FIELDS`).  Use :meth:`get_model` to pick
    the transform of one slit.
    """

    _separable = False
    standard_broadcasting = False
    n_inputs = 4
    n_outputs = 4
    _in_names = ("name", "x1", "x2", "x3")
    _out_names = ("name", "y1", "y2", "y3")

    def __init__(self, slits, models, **kwargs):
        slits = list(slits)
        if len(slits) != len(models):
            raise ValueError(f"{type(self).__name__}: {len(slits)} slits but {len(models)} models")
        self._slits = []
        self.slit_ids = []
        for slit in slits:
            if np.iterable(slit) and not isinstance(slit, (str, bytes)):
                record = SlitRecord(*list(slit))
                self._slits.append(tuple(record))
                self.slit_ids.append(record.name if record.slit_id == -9999 else record.slit_id)
            else:
                self._slits.append(slit)
                self.slit_ids.append(slit)
        self.models = list(models)
        super().__init__(**kwargs)
        self.inputs = self._in_names
        self.outputs = self._out_names

    @property
    def slits(self):
        return [SlitRecord(*s) if isinstance(s, tuple) else s for s in self._slits]

    def get_model(self, name):
        try:
            index = self.slit_ids.index(name)
        except ValueError:
            raise ValueError(
                f"slit {name!r} is not in this transform; known slits: {self.slit_ids}") from None
        return self.models[index]

    def _route(self, name, *args):
        key = np.asarray(name).ravel()[0]
        if isinstance(key, np.generic):
            key = key.item()
        if key not in self.slit_ids and isinstance(key, float) and key.is_integer():
            key = int(key)
        return self.get_model(key)(*args)

    def evaluate(self, name, *args):
        out = self._route(name, *args)
        if not isinstance(out, tuple):
            out = (out,)
        if self._out_names[0] == "name":
            return (name,) + out
        return out


class Gwa2Slit(_SlitRouter):
    """GWA direction cosines -> (x_slit, y_slit, lam), one transform per slit."""

    _in_names = ("name", "angle1", "angle2", "angle3")
    _out_names = ("name", "x_slit", "y_slit", "lam")

    @property
    def inverse(self):
        return Slit2Gwa(self._slits, [m.inverse for m in self.models])


class Slit2Gwa(_SlitRouter):
    """(x_slit, y_slit, lam) -> GWA direction cosines, one transform per slit."""

    _in_names = ("name", "x_slit", "y_slit", "lam")
    _out_names = ("name", "angle1", "angle2", "angle3")

    @property
    def inverse(self):
        return Gwa2Slit(self._slits, [m.inverse for m in self.models])


class Slit2Msa(_SlitRouter):
    """(x_slit, y_slit, lam) -> (x_msa, y_msa, lam), one transform per slit."""

    n_inputs = 4
    n_outputs = 3
    _in_names = ("name", "x_slit", "y_slit", "lam")
    _out_names = ("x_msa", "y_msa", "lam")


class Slit2MsaLegacy(_SlitRouter):
    """Old layout: (name, x_slit, y_slit) -> (x_msa, y_msa)."""

    n_inputs = 3
    n_outputs = 2
    _in_names = ("name", "x_slit", "y_slit")
    _out_names = ("x_msa", "y_msa")


class Msa2Slit(_SlitRouter):
    """(name, x_msa, y_msa, lam) -> (name, x_slit, y_slit, lam)."""

    _in_names = ("name", "x_msa", "y_msa", "lam")
    _out_names = ("name", "x_slit", "y_slit", "lam")


# --------------------------------------------------------------------------
# exact inverse of a 2-D distortion polynomial
# --------------------------------------------------------------------------


class NewtonInverse2D(Model):
    """Inverse of a 2-D model refined by Newton iterations.

    The backward polynomials shipped with the CAMERA model are a fit to the
    inverse, good to ~0.015 pixel.  This model starts from ``initial`` (that
    fit) and refines the answer with ``n_iter`` Newton steps on ``forward``
    (finite-difference Jacobian with step ``eps`` in output units), so that
    ``forward(inverse(u, v)) == (u, v)`` to machine precision.
    """

    n_inputs = 2
    n_outputs = 2
    _separable = False
    standard_broadcasting = False

    def __init__(self, forward, initial, n_iter=3, eps=1e-7, **kwargs):
        if forward.n_inputs != 2 or forward.n_outputs != 2:
            raise ValueError("NewtonInverse2D needs a 2-in, 2-out forward model")
        self.forward = forward
        self.initial = initial
        self.n_iter = int(n_iter)
        self.eps = float(eps)
        super().__init__(**kwargs)

    @property
    def inverse(self):
        return self.forward

    def evaluate(self, u, v):
        u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
        shape = u.shape
        u, v = u.ravel(), v.ravel()
        x, y = (np.asarray(a, float).ravel() for a in self.initial(u, v))
        with np.errstate(invalid="ignore", divide="ignore"):
            for _ in range(self.n_iter):
                fu, fv = self.forward(x, y)
                ru, rv = fu - u, fv - v
                # Jacobian by finite differences in the input space, with a step
                # scaled to the local size of the inputs
                hx = self.eps * np.maximum(1.0, np.abs(x))
                hy = self.eps * np.maximum(1.0, np.abs(y))
                fux, fvx = self.forward(x + hx, y)
                fuy, fvy = self.forward(x, y + hy)
                j11, j21 = (fux - fu) / hx, (fvx - fv) / hx
                j12, j22 = (fuy - fu) / hy, (fvy - fv) / hy
                det = j11 * j22 - j12 * j21
                dx = (j22 * ru - j12 * rv) / det
                dy = (-j21 * ru + j11 * rv) / det
                x, y = x - dx, y - dy
        return x.reshape(shape), y.reshape(shape)
