"""NIRSpec optical-model WCS.

* :mod:`.readers` - FPA, CAMERA, COLLIMATOR, FORE, OTE, DISPERSER, MSA,
  WAVELENGTHRANGE and WAVECORR reference files (real CRDS ASDF formats);
* :mod:`.transforms` - the physics models of the optical chain;
* :mod:`.build` - :func:`build_slit_wcs`, one gwcs WCS per open slit;
* :mod:`.defaults` - synthetic (PEDIGREE DUMMY) reference files;
* :mod:`.asdf_ext` - ASDF converters for the JWST NIRSpec transform tags
  (entry point ``asdf.extensions = webbcal_nirspec.wcs.asdf_ext:get_extensions``).
"""
from .build import FIXED_SLITS, NirspecSlit, build_slit_wcs, compute_bounding_box, fixed_slit
from .defaults import make_synthetic_msa_reffile, write_embedded_defaults, write_grating_dispersers
from .readers import read_msa, read_reference

__all__ = ["FIXED_SLITS", "NirspecSlit", "build_slit_wcs", "compute_bounding_box", "fixed_slit",
           "make_synthetic_msa_reffile", "write_embedded_defaults", "write_grating_dispersers", "read_msa", "read_reference"]
