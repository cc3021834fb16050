"""Reference files: declaration by plugins, resolution and selection.

Resolution order for each (step, reference type):

1. an explicit override (``override_<reftype>``): a path, or ``"N/A"`` to skip it;
2. the directory named by ``WEBBCAL_REFS`` (files selected by the plugin's rules);
3. CRDS through the optional extra ``webbcal[crds]`` (its local cache) when installed;
4. the plugin's embedded default (small synthetic files, PEDIGREE DUMMY).
"""
from .resolve import ReferenceRegistry, ReferenceType, RefSet, resolve_reference, header_value

__all__ = ["ReferenceRegistry", "ReferenceType", "RefSet", "resolve_reference", "header_value"]
