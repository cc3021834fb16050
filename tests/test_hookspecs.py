"""Every hook is documented, in its docstring and in docs/plugins.md, and tested
(the datasette rule: adding a hook without docs or a test fails here)."""
import inspect
import re
from pathlib import Path

import pytest

from webbcal import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("webbcal_") and inspect.isfunction(f))


def test_there_are_hooks():
    assert {"webbcal_modes", "webbcal_reference_types", "webbcal_assign_wcs", "webbcal_flat_field",
            "webbcal_photom", "webbcal_extract_targets", "webbcal_simulate"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_docstring_states_return(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert re.search(r"^Returns\n-------\n\S", doc, re.M), f"{name} docstring must state its return value (numpydoc Returns)"
    first = getattr(getattr(hookspecs, name), "webbcal_spec", {}).get("firstresult", False)
    if first:
        assert "None" in doc, f"{name} is firstresult: say when a plugin returns None"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_documented_in_plugin_guide(name):
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^#+ `{name}", guide, re.M), f"docs/plugins.md has no section for {name}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    texts = [p.read_text() for p in list((ROOT / "tests").rglob("test_*.py")) + list((ROOT / "plugins").rglob("tests/test_*.py"))
             + list((ROOT / "core").rglob("tests/test_*.py"))]
    callers = [t for t in texts if f"{name}(" in t or f"hook.{name}" in t]
    impls = list(ROOT.rglob("toy_plugin/*.py")) + list((ROOT / "plugins").rglob("webbcal_*/plugin.py"))
    implemented = any(f"def {name}(" in p.read_text() for p in impls)
    assert callers or implemented, f"no test exercises {name}"


def test_every_hook_specification_is_fully_annotated():
    """Plugin authors read the contract from the signatures: every argument and the
    return value carry a type (names resolvable by a type checker)."""
    import inspect
    import typing

    import webbcal.hookspecs as hs
    from webbcal import datamodels, modes, refs, results
    from webbcal.extract import apcorr, target
    from webbcal.pipeline import step

    names = {**vars(typing), "DataModel": datamodels.DataModel, "Mode": modes.Mode, "RefSet": refs.RefSet,
             "ReferenceType": refs.ReferenceType, "Flat": results.Flat, "Conversion": results.Conversion,
             "Correction": results.Correction, "ExtractionTarget": target.ExtractionTarget,
             "ApertureCorrection": apcorr.ApertureCorrection, "Step": step.Step}
    specs = [f for n, f in vars(hs).items() if n.startswith("webbcal_") and callable(f)]
    assert len(specs) >= 12
    for spec in specs:
        sig = inspect.signature(spec)
        missing = [p for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not missing and sig.return_annotation is not inspect.Signature.empty, spec.__name__
        typing.get_type_hints(spec, globalns=names)  # every name resolves
