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
    assert ":return:" in doc, f"{name} docstring must state its return value"
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
