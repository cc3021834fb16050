"""The ``model.meta`` attribute tree, backed by FITS header keywords.

Attribute paths use the official JWST datamodel names (``meta.instrument.name``,
``meta.exposure.type`` ...).  Each one is stored in a FITS keyword of a given HDU, as
listed in :data:`KEYWORDS`; reading an attribute reads that keyword and setting it
writes it, so what the model saves is always what ``meta`` shows.  Keywords nobody
mapped stay in the headers and are written back unchanged.

``meta.cal_step.<step>`` maps to ``S_<ABBREV>`` and ``meta.ref_file.<reftype>.name`` to
``R_<ABBREV>`` in the primary header (JWST abbreviations, see :func:`step_keyword` and
:func:`reftype_keyword`).  ``meta.wcs`` holds a gwcs object (or None); it is stored in
the ASDF extension, not in a keyword.  Other values set on meta that have no keyword
(plain numbers, strings, lists) are kept in the ASDF extension's metadata tree.
"""
import re
from collections.abc import MutableMapping

import numpy as np

__all__ = [
    "KEYWORDS",
    "STEP_ABBREVIATIONS",
    "REFTYPE_ABBREVIATIONS",
    "step_keyword",
    "reftype_keyword",
    "Meta",
]

P, S, E = "PRIMARY", "SCI", "ERR"

#: dotted meta path -> (HDU, FITS keyword).  HDU "SCI" means the SCI header of the
#: model (of each slit for multi-slit products), "ERR" the ERR header.
KEYWORDS = {
    # basic
    "filename": (P, "FILENAME"),
    "date": (P, "DATE"),
    "model_type": (P, "DATAMODL"),
    "telescope": (P, "TELESCOP"),
    "origin": (P, "ORIGIN"),
    "filetype": (P, "FILETYPE"),
    "calibration_software_name": (P, "CAL_SOFT"),
    "calibration_software_version": (P, "CAL_VER"),
    "calibration_software_revision": (P, "CAL_VCS"),
    "time_unit": (P, "TIMEUNIT"),
    # program / observation / visit
    "program.pi_name": (P, "PI_NAME"),
    "program.title": (P, "TITLE"),
    "program.category": (P, "CATEGORY"),
    "observation.date": (P, "DATE-OBS"),
    "observation.time": (P, "TIME-OBS"),
    "observation.date_beg": (P, "DATE-BEG"),
    "observation.date_end": (P, "DATE-END"),
    "observation.obs_id": (P, "OBS_ID"),
    "observation.visit_id": (P, "VISIT_ID"),
    "observation.program_number": (P, "PROGRAM"),
    "observation.observation_number": (P, "OBSERVTN"),
    "observation.visit_number": (P, "VISIT"),
    "observation.exposure_number": (P, "EXPOSURE"),
    "observation.activity_id": (P, "ACT_ID"),
    "visit.tsovisit": (P, "TSOVISIT"),
    "visit.type": (P, "VISITYPE"),
    "asn.pool_name": (P, "ASNPOOL"),
    "asn.table_name": (P, "ASNTABLE"),
    # target
    "target.proposer_name": (P, "TARGPROP"),
    "target.catalog_name": (P, "TARGNAME"),
    "target.type": (P, "TARGTYPE"),
    "target.ra": (P, "TARG_RA"),
    "target.dec": (P, "TARG_DEC"),
    "target.source_type": (S, "SRCTYPE"),
    "target.source_type_apt": (P, "SRCTYAPT"),
    # instrument
    "instrument.name": (P, "INSTRUME"),
    "instrument.detector": (P, "DETECTOR"),
    "instrument.module": (P, "MODULE"),
    "instrument.channel": (P, "CHANNEL"),
    "instrument.band": (P, "BAND"),
    "instrument.filter": (P, "FILTER"),
    "instrument.grating": (P, "GRATING"),
    "instrument.pupil": (P, "PUPIL"),
    "instrument.fixed_slit": (P, "FXD_SLIT"),
    "instrument.coronagraph": (P, "CORONMSK"),
    "instrument.lamp_state": (P, "LAMP"),
    "instrument.msa_metadata_file": (P, "MSAMETFL"),
    "instrument.msa_metadata_id": (P, "MSAMETID"),
    "instrument.gwa_xtilt": (P, "GWA_XTIL"),
    "instrument.gwa_ytilt": (P, "GWA_YTIL"),
    "instrument.gwa_tilt": (P, "GWA_TILT"),
    # exposure
    "exposure.type": (P, "EXP_TYPE"),
    "exposure.readpatt": (P, "READPATT"),
    "exposure.nints": (P, "NINTS"),
    "exposure.integration_start": (P, "INTSTART"),
    "exposure.integration_end": (P, "INTEND"),
    "exposure.ngroups": (P, "NGROUPS"),
    "exposure.nframes": (P, "NFRAMES"),
    "exposure.groupgap": (P, "GROUPGAP"),
    "exposure.nsamples": (P, "NSAMPLES"),
    "exposure.sample_time": (P, "TSAMPLE"),
    "exposure.frame_time": (P, "TFRAME"),
    "exposure.group_time": (P, "TGROUP"),
    "exposure.integration_time": (P, "EFFINTTM"),
    "exposure.exposure_time": (P, "EFFEXPTM"),
    "exposure.duration": (P, "DURATION"),
    "exposure.start_time": (P, "EXPSTART"),
    "exposure.mid_time": (P, "EXPMID"),
    "exposure.end_time": (P, "EXPEND"),
    "exposure.start_time_mjd": (P, "EXPSTART"),
    "exposure.nresets_at_start": (P, "NRSTSTRT"),
    "exposure.nresets_between_ints": (P, "NRESETS"),
    "exposure.zero_frame": (P, "ZEROFRAM"),
    "exposure.data_problem": (P, "DATAPROB"),
    "exposure.primary_dither_type": (P, "PATTTYPE"),
    "exposure.measurement_time": (P, "MEASTIME"),
    # subarray
    "subarray.name": (P, "SUBARRAY"),
    "subarray.xstart": (P, "SUBSTRT1"),
    "subarray.ystart": (P, "SUBSTRT2"),
    "subarray.xsize": (P, "SUBSIZE1"),
    "subarray.ysize": (P, "SUBSIZE2"),
    "subarray.fastaxis": (P, "FASTAXIS"),
    "subarray.slowaxis": (P, "SLOWAXIS"),
    # dither
    "dither.primary_type": (P, "PATTTYPE"),
    "dither.position_number": (P, "PATT_NUM"),
    "dither.total_points": (P, "NUMDTHPT"),
    # aperture
    "aperture.name": (P, "APERNAME"),
    "aperture.position_angle": (S, "PA_APER"),
    # pointing (SCI header in JWST products)
    "pointing.ra_v1": (S, "RA_V1"),
    "pointing.dec_v1": (S, "DEC_V1"),
    "pointing.pa_v3": (S, "PA_V3"),
    # wcsinfo (SCI header)
    "wcsinfo.wcsaxes": (S, "WCSAXES"),
    "wcsinfo.crpix1": (S, "CRPIX1"),
    "wcsinfo.crpix2": (S, "CRPIX2"),
    "wcsinfo.crpix3": (S, "CRPIX3"),
    "wcsinfo.crval1": (S, "CRVAL1"),
    "wcsinfo.crval2": (S, "CRVAL2"),
    "wcsinfo.crval3": (S, "CRVAL3"),
    "wcsinfo.ctype1": (S, "CTYPE1"),
    "wcsinfo.ctype2": (S, "CTYPE2"),
    "wcsinfo.ctype3": (S, "CTYPE3"),
    "wcsinfo.cunit1": (S, "CUNIT1"),
    "wcsinfo.cunit2": (S, "CUNIT2"),
    "wcsinfo.cunit3": (S, "CUNIT3"),
    "wcsinfo.cdelt1": (S, "CDELT1"),
    "wcsinfo.cdelt2": (S, "CDELT2"),
    "wcsinfo.cdelt3": (S, "CDELT3"),
    "wcsinfo.pc1_1": (S, "PC1_1"),
    "wcsinfo.pc1_2": (S, "PC1_2"),
    "wcsinfo.pc2_1": (S, "PC2_1"),
    "wcsinfo.pc2_2": (S, "PC2_2"),
    "wcsinfo.ra_ref": (S, "RA_REF"),
    "wcsinfo.dec_ref": (S, "DEC_REF"),
    "wcsinfo.v2_ref": (S, "V2_REF"),
    "wcsinfo.v3_ref": (S, "V3_REF"),
    "wcsinfo.roll_ref": (S, "ROLL_REF"),
    "wcsinfo.v3yangle": (S, "V3I_YANG"),
    "wcsinfo.vparity": (S, "VPARITY"),
    "wcsinfo.radesys": (S, "RADESYS"),
    "wcsinfo.specsys": (S, "SPECSYS"),
    "wcsinfo.velosys": (S, "VELOSYS"),
    "wcsinfo.s_region": (S, "S_REGION"),
    "wcsinfo.waverange_start": (S, "WAVSTART"),
    "wcsinfo.waverange_end": (S, "WAVEND"),
    "wcsinfo.spectral_order": (S, "SPORDER"),
    "wcsinfo.dispersion_direction": (S, "DISPAXIS"),
    "wcsinfo.siaf_xref_sci": (S, "XREF_SCI"),
    "wcsinfo.siaf_yref_sci": (S, "YREF_SCI"),
    # velocity aberration
    "velocity_aberration.scale_factor": (S, "VA_SCALE"),
    # photometry (SCI header)
    "photometry.conversion_megajanskys": (S, "PHOTMJSR"),
    "photometry.conversion_microjanskys": (S, "PHOTUJA2"),
    "photometry.pixelarea_steradians": (S, "PIXAR_SR"),
    "photometry.pixelarea_arcsecsq": (S, "PIXAR_A2"),
    # units
    "bunit_data": (S, "BUNIT"),
    "bunit_err": (E, "BUNIT"),
    # CRDS
    "ref_file.crds.sw_version": (P, "CRDS_VER"),
    "ref_file.crds.context_used": (P, "CRDS_CTX"),
}

#: groups that exist even when none of their keywords is set (official names)
GROUPS = {
    "program", "observation", "visit", "asn", "target", "instrument", "exposure",
    "subarray", "dither", "aperture", "pointing", "wcsinfo", "velocity_aberration",
    "photometry", "cal_step", "ref_file", "coordinates", "ephemeris", "time",
    "guidestar", "moving_target", "background", "source_catalog", "resample",
}

#: pipeline step name -> the part of its cal_step keyword after ``S_``
STEP_ABBREVIATIONS = {
    "assign_wcs": "WCS",
    "flat_field": "FLAT",
    "photom": "PHOTOM",
    "extract_1d": "EXTR1D",
    "extract_2d": "EXTR2D",
    "white_light": "WHTLT",
    "srctype": "SRCTYP",
    "apcorr": "APCOR",
    "pathloss": "PTHLOS",
    "barshadow": "BARSHA",
    "back_sub": "BKDSUB",
    "bkg_subtract": "BKDSUB",
    "dq_init": "DQINIT",
    "saturation": "SATURA",
    "superbias": "SUPERB",
    "refpix": "REFPIX",
    "linearity": "LINEAR",
    "dark_sub": "DARK",
    "dark_current": "DARK",
    "dark": "DARK",
    "jump": "JUMP",
    "ramp_fit": "RAMP",
    "gain_scale": "GANSCL",
    "group_scale": "GRPSCL",
    "reset": "RESET",
    "rscd": "RSCD",
    "firstframe": "FRSTFR",
    "lastframe": "LASTFR",
    "persistence": "PERSIS",
    "ipc": "IPC",
    "straylight": "STRAY",
    "fringe": "FRINGE",
    "residual_fringe": "RESFRI",
    "imprint": "IMPRNT",
    "msa_flagging": "MSAFLG",
    "wavecorr": "WAVCOR",
    "clean_flicker_noise": "CLNFNS",
    "badpix_selfcal": "BPXSLF",
    "ta_center": "TACNTR",
    "resample": "RESAMP",
    "outlier_detection": "OUTLIR",
    "pixel_replace": "PXREPL",
    "master_background": "MSBSUB",
    "nsclean": "NSCLEAN",
    "charge_migration": "CHGMIG",
    "emicorr": "EMI",
    "cube_build": "IFUCUB",
    "combine_1d": "COMB1D",
    "spec_corr": "SPCCOR",
}

#: reference file type -> the part of its keyword after ``R_``
REFTYPE_ABBREVIATIONS = {
    "area": "AREA",
    "apcorr": "APCORR",
    "barshadow": "BARSHA",
    "camera": "CAMERA",
    "collimator": "COLLIM",
    "dark": "DARK",
    "dflat": "DFLAT",
    "disperser": "DISPER",
    "distortion": "DISTOR",
    "extract1d": "EXTR1D",
    "fflat": "FFLAT",
    "filteroffset": "FILOFF",
    "flat": "FLAT",
    "fore": "FORE",
    "fpa": "FPA",
    "fringe": "FRINGE",
    "gain": "GAIN",
    "ifufore": "IFUFOR",
    "ifupost": "IFUPOS",
    "ifuslicer": "IFUSLI",
    "ipc": "IPC",
    "linearity": "LINEAR",
    "mask": "MASK",
    "msa": "MSA",
    "ote": "OTE",
    "pathloss": "PTHLOS",
    "persat": "PERSAT",
    "photom": "PHOTOM",
    "readnoise": "READNO",
    "regions": "REGION",
    "reset": "RESET",
    "rscd": "RSCD",
    "saturation": "SATURA",
    "sflat": "SFLAT",
    "specwcs": "SPCWCS",
    "superbias": "SUPERB",
    "trapdensity": "TRPDEN",
    "trappars": "TRPPAR",
    "wavecorr": "WAVCOR",
    "wavelengthrange": "WAVRAN",
}


def _abbrev(name):
    return re.sub(r"[^A-Za-z0-9]", "", name).upper()[:6]


def step_keyword(step):
    """The primary-header keyword recording ``step``'s status (``S_FLAT`` ...)."""
    return "S_" + STEP_ABBREVIATIONS.get(step, _abbrev(step))


def reftype_keyword(reftype):
    """The primary-header keyword recording the ``reftype`` file used (``R_FLAT`` ...)."""
    return "R_" + REFTYPE_ABBREVIATIONS.get(reftype.lower(), _abbrev(reftype))


def _resolve(path):
    """(hdu, keyword) for a dotted path, or None."""
    if path in KEYWORDS:
        return KEYWORDS[path]
    parts = path.split(".")
    if len(parts) == 2 and parts[0] == "cal_step":
        return (P, step_keyword(parts[1]))
    if len(parts) == 3 and parts[0] == "ref_file" and parts[2] == "name" and parts[1] != "crds":
        return (P, reftype_keyword(parts[1]))
    return None


_KEYWORD_GROUPS = {p.rsplit(".", 1)[0] for p in KEYWORDS if "." in p}
for _p in list(_KEYWORD_GROUPS):
    while "." in _p:
        _p = _p.rsplit(".", 1)[0]
        _KEYWORD_GROUPS.add(_p)


def _is_group(path):
    if path in GROUPS or path in _KEYWORD_GROUPS:
        return True
    parts = path.split(".")
    return len(parts) == 2 and parts[0] == "ref_file"


def to_header_value(value):
    """A FITS-writable Python value: numpy scalars and 0-d arrays become Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value


_NOT_META = {"keys", "items", "values", "get", "shape", "dtype", "read", "write"}


class MetaNode:
    """One level of the meta tree; attribute access reads and writes keywords."""

    __slots__ = ("_meta", "_prefix")

    def __init__(self, meta, prefix):
        object.__setattr__(self, "_meta", meta)
        object.__setattr__(self, "_prefix", prefix)

    def _path(self, name):
        return f"{self._prefix}.{name}" if self._prefix else name

    def __getattr__(self, name):
        # protocol probes (dict(node) looks for .keys, IPython for _repr_*_) are not meta
        if name.startswith("_") or name in _NOT_META:
            raise AttributeError(name)
        return self._meta._get(self._path(name))

    def __setattr__(self, name, value):
        self._meta._set(self._path(name), value)

    def __delattr__(self, name):
        self._meta._set(self._path(name), None)

    def __getitem__(self, name):
        return self._meta._get(self._path(name))

    def __setitem__(self, name, value):
        self._meta._set(self._path(name), value)

    def to_flat_dict(self):
        """``{dotted path: value}`` of every set value under this node."""
        return self._meta._flat(self._prefix)

    def to_dict(self):
        """Nested plain dict of the set values under this node (keys relative to it)."""
        prefix = self._prefix + "." if self._prefix else ""
        out = {}
        for path, value in self._meta._flat(self._prefix).items():
            parts = path[len(prefix):].split(".")
            node = out
            for part in parts[:-1]:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = node[part] = {}
                node = nxt
            node[parts[-1]] = value
        return out

    def __iter__(self):
        """(name, value) pairs, so ``dict(meta.cal_step)`` gives ``{step: status}``."""
        return iter(self.to_dict().items())

    def __dir__(self):
        prefix = self._prefix + "." if self._prefix else ""
        names = set()
        for path in self._meta._flat(self._prefix):
            names.add(path[len(prefix):].split(".")[0])
        for path in KEYWORDS:
            if path.startswith(prefix):
                names.add(path[len(prefix):].split(".")[0])
        return sorted(names)

    def __repr__(self):
        return f"<meta node {self._prefix or 'meta'}: {self.to_flat_dict()}>"


class LazyExtras(MutableMapping):
    """The ``{dotted meta path: value}`` values of a model that have no FITS keyword
    (those of a file's ASDF tree, and any the user sets), filled from deferred sources.
    The deferred sources never hold a path that has a FITS keyword.

    A source (``defer(loader)``) is read on the first look at the values, so a run
    that never needs them never parses the ASDF tree.  A source only adds paths not set
    yet; setting a value never reads the sources (a value set now wins over a deferred
    one either way), removing one does (so a deferred source cannot bring it back)."""

    __slots__ = ("_values", "_pending")

    def __init__(self, values=None):
        self._values = dict(values or {})
        self._pending = []

    def defer(self, loader):
        """Add ``loader()`` (a callable giving a dict) as a source read on first need."""
        self._pending.append(loader)

    def peek(self, key, default=None):
        """The value set for ``key`` so far, without reading the deferred sources."""
        return self._values.get(key, default)

    def forget(self, key):
        """Remove a value set so far, without reading the deferred sources (for a
        keyword's path, which they never hold)."""
        self._values.pop(key, None)

    def _load(self):
        while self._pending:
            loader = self._pending.pop(0)
            for key, value in loader().items():
                self._values.setdefault(key, value)

    def __getitem__(self, key):
        self._load()
        return self._values[key]

    def __setitem__(self, key, value):
        self._values[key] = value

    def __delitem__(self, key):
        self._load()
        del self._values[key]

    def __iter__(self):
        self._load()
        return iter(list(self._values))

    def __len__(self):
        self._load()
        return len(self._values)

    def __contains__(self, key):
        self._load()
        return key in self._values

    def __deepcopy__(self, memo):
        import copy

        new = LazyExtras(copy.deepcopy(self._values, memo))
        new._pending = list(self._pending)
        return new

    def __repr__(self):
        return f"LazyExtras({dict(self)!r})"


class Meta(MetaNode):
    """The ``model.meta`` tree.  ``meta.wcs`` is the gwcs (or None)."""

    __slots__ = ("_headers", "_extras", "_wcs", "_wcs_loader")

    def __init__(self, headers, extras=None):
        object.__setattr__(self, "_headers", headers)
        object.__setattr__(self, "_extras", extras if extras is not None else LazyExtras())
        object.__setattr__(self, "_wcs", None)
        object.__setattr__(self, "_wcs_loader", None)
        MetaNode.__init__(self, self, "")

    @property
    def wcs(self):
        """The gwcs (or None).  A file's gwcs is rebuilt from its ASDF extension on first
        access (rebuilding it costs more than reading a time-series cube whose WAVELENGTH
        array makes it unnecessary)."""
        loader = self._wcs_loader
        if loader is not None:
            object.__setattr__(self, "_wcs_loader", None)
            object.__setattr__(self, "_wcs", loader())
        return self._wcs

    def set_wcs_loader(self, loader):
        """Defer ``wcs`` to ``loader()``, called once on first access."""
        object.__setattr__(self, "_wcs", None)
        object.__setattr__(self, "_wcs_loader", loader)

    def wcs_pending(self):
        """True while the gwcs has not been rebuilt yet."""
        return self._wcs_loader is not None

    def __setattr__(self, name, value):
        if name == "wcs":
            object.__setattr__(self, "_wcs", value)
            object.__setattr__(self, "_wcs_loader", None)
        else:
            self._set(name, value)

    def _header(self, hdu):
        return self._headers.get(hdu)

    def _get(self, path):
        where = _resolve(path)
        if where is not None:
            hdu, key = where
            header = self._header(hdu)
            if header is not None and key in header:
                value = header[key]
                return None if _is_undefined(value) else value
            # a keyword's path: only a value set in this session can be in the extras
            # (the deferred sources never hold keyword paths), so they are not read
            return self._extras.peek(path) if isinstance(self._extras, LazyExtras) else self._extras.get(path)
        if _is_group(path):  # a group of keywords (meta.exposure): the extras need not be read
            return MetaNode(self, path)
        if path in self._extras:
            return self._extras[path]
        if any(k.startswith(path + ".") for k in self._extras):
            return MetaNode(self, path)
        return None

    def _set(self, path, value):
        value = to_header_value(value)
        where = _resolve(path)
        if where is not None:
            hdu, key = where
            header = self._header(hdu)
            if header is None:
                from astropy.io import fits

                header = self._headers[hdu] = fits.Header()
            if value is None:
                header.remove(key, ignore_missing=True)
            else:
                header[key] = value
            if isinstance(self._extras, LazyExtras):  # a keyword's path: see _get
                self._extras.forget(path)
            else:
                self._extras.pop(path, None)
            return
        if isinstance(value, MetaNode):
            for sub, v in value.to_flat_dict().items():
                self._set(path + sub[len(value._prefix):], v)
            return
        if value is None:
            self._extras.pop(path, None)
        else:
            self._extras[path] = value

    def _flat(self, prefix):
        out = {}
        pre = prefix + "." if prefix else ""
        for path in KEYWORDS:
            if path.startswith(pre):
                value = self._get(path)
                if value is not None:
                    out[path] = value
        primary = self._header(P)
        if primary is not None and (not prefix or prefix in ("cal_step", "ref_file")):
            for key in primary:
                if key.startswith("S_") and (not prefix or prefix == "cal_step"):
                    out[f"cal_step.{_step_name(key)}"] = primary[key]
                elif key.startswith("R_") and (not prefix or prefix == "ref_file"):
                    out[f"ref_file.{_reftype_name(key)}.name"] = primary[key]
        for path, value in self._extras.items():
            if path.startswith(pre):
                out[path] = value
        return out

    def keyword_for(self, path):
        """The (HDU, keyword) a meta path is stored in, or None."""
        return _resolve(path)


def _is_undefined(value):
    from astropy.io.fits.card import Undefined

    return isinstance(value, Undefined)


_STEP_BY_ABBREV = {}
for _step, _ab in STEP_ABBREVIATIONS.items():
    _STEP_BY_ABBREV.setdefault(_ab, _step)
_REFTYPE_BY_ABBREV = {ab: rt for rt, ab in REFTYPE_ABBREVIATIONS.items()}


def _step_name(keyword):
    ab = keyword[2:]
    return _STEP_BY_ABBREV.get(ab, ab.lower())


def _reftype_name(keyword):
    ab = keyword[2:]
    return _REFTYPE_BY_ABBREV.get(ab, ab.lower())
