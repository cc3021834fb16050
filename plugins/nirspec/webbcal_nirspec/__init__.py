"""webbcal-nirspec: the NIRSpec plugin of webbcal.

Modes: fixed slits (NRS_FIXEDSLIT), multi-object spectroscopy with the micro-shutter
array (NRS_MSASPEC) and bright-object time series through S1600A1 (NRS_BRIGHTOBJ).

Where things live:

* :mod:`.modes` - the three :class:`webbcal.modes.Mode` declarations;
* :mod:`.refs` - reference types, readers and embedded defaults;
* :mod:`.wcs` - the optical-model gwcs (one per open slit);
* :mod:`.msa` - the MSA metadata file (MSAMETFL): open slitlets, sources, nods;
* :mod:`.extract` - extract_2d cut-outs and the extraction targets;
* :mod:`.wavecorr` - the ``wavecorr`` step (WAVECORR zero-point of off-centre point sources);
* :mod:`.flat` - FFLAT x SFLAT x DFLAT synthesised at every pixel's wavelength;
* :mod:`.photom` - PHOTOM relative response and AREA pixel solid angles;
* :mod:`.simulate` - synthetic FS / MOS / BOTS exposures with a known spectrum;
* :mod:`.plugin` - the hook implementations tying these to the core.
"""
__version__ = "0.1.0"
