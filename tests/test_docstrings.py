"""Docstrings follow numpydoc (issue 10): every public module, class and function of the
core and the plugins has one; none uses reST field lists (``:param x:``); and in the
modules a user or plugin author calls directly, every argument of a public function is
described in its ``Parameters`` section.

Exempt from the docstring rule: hook implementations (their contract is documented in
``webbcal.hookspecs``), and methods that override a documented base-class method or
implement a library's interface (listed in ``INTERFACE_METHODS``)."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "core" / "webbcal"] + sorted((ROOT / "plugins").glob("*/webbcal_*"))

#: methods whose contract is documented where they are declared: the Step and DataModel
#: bases, asdf converters, astropy models, numpy's array protocols
INTERFACE_METHODS = {
    "process", "run_model", "save", "output_path", "check_input", "validate", "close",
    "to_yaml_tree", "from_yaml_tree", "select_tag", "evaluate", "inverse", "fit_deriv",
    "astype", "copy", "swapaxes", "transpose", "T", "shape", "ndim", "size", "nbytes", "dtype",
    "from_yaml_tree_transform", "to_yaml_tree_transform", "converters", "tags", "record",
}

#: modules whose public functions a user or plugin author calls directly: each argument
#: is described (the numpydoc ``Parameters`` section)
API_MODULES = [
    "hookspecs.py", "plugin_api.py", "scenes.py", "__init__.py",
    "extract/box.py", "extract/background.py", "extract/image.py", "extract/optimal/driver.py",
    "extract/optimal/result.py", "extract/width.py", "extract/profiles.py", "extract/apcorr.py",
    "extract/spectrum.py", "extract/aperture.py", "extract/orient.py", "extract/target.py",
    "extract/reffile.py", "extract/specpsf.py", "extract/engine.py",
    "datamodels/fileio.py", "datamodels/fitstable.py", "testing/__init__.py", "testing/contract.py",
]


def _files():
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "/tests/" in f"/{rel}" or rel.startswith("tests/") or path.name.startswith("test_"):
                continue
            if path.name == "make_defaults.py":     # build scripts of the embedded data
                continue
            yield root, rel, path


def _public(tree):
    """(qualified name, node) of every public class, function and method."""
    out = []

    def visit(node, prefix):
        for n in node.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_"):
                out.append((prefix + n.name, n))
                if isinstance(n, ast.ClassDef):
                    visit(n, prefix + n.name + ".")
    visit(tree, "")
    return out


def _is_hookimpl(node):
    return any("hookimpl" in ast.unparse(d) for d in getattr(node, "decorator_list", []))


def _documented_names(doc):
    """Argument names listed in the Parameters section."""
    m = re.search(r"\n\s*Parameters\n\s*-+\n(.*?)(\n\s*\n\s*[A-Z][a-z]+( [A-Z][a-z]+)?\n\s*-+\n|\Z)", doc, re.S)
    if not m:
        return set()
    names = set()
    for line in m.group(1).split("\n"):
        if line and not line.startswith(" " * 5) and line.strip():
            head = line.strip().split(" : ")[0]
            names.update(n.strip().lstrip("*") for n in head.split(","))
    return names


def test_public_items_have_numpydoc_docstrings():
    missing, rest = [], []
    for root, rel, path in _files():
        tree = ast.parse(path.read_text())
        where = f"{root.relative_to(ROOT)}/{rel}"
        if not ast.get_docstring(tree):
            missing.append(f"{where} (module)")
        for name, node in _public(tree):
            doc = ast.get_docstring(node)
            if doc is None:
                if _is_hookimpl(node) or name.rsplit(".", 1)[-1] in INTERFACE_METHODS:
                    continue
                missing.append(f"{where}:{node.lineno} {name}")
            elif re.search(r"^\s*:(param|returns?|raises?|type|rtype)\b", doc, re.M):
                rest.append(f"{where}:{node.lineno} {name}")
    assert not rest, "reST field lists instead of numpydoc sections:\n" + "\n".join(rest)
    assert not missing, f"{len(missing)} public items without a docstring:\n" + "\n".join(missing)


@pytest.mark.parametrize("module", API_MODULES)
def test_api_functions_describe_every_argument(module):
    path = ROOT / "core" / "webbcal" / module
    tree = ast.parse(path.read_text())
    bad = []
    for name, node in _public(tree):
        if isinstance(node, ast.ClassDef) or name.rsplit(".", 1)[-1] in INTERFACE_METHODS:
            continue
        args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                if a.arg not in ("self", "cls")]
        if node.args.vararg:
            args.append(node.args.vararg.arg)
        if node.args.kwarg:
            args.append(node.args.kwarg.arg)
        if not args:
            continue
        doc = ast.get_docstring(node) or ""
        undocumented = [a for a in args if a not in _documented_names(doc)]
        if undocumented:
            bad.append(f"{module}:{node.lineno} {name}: {', '.join(undocumented)}")
    assert not bad, "arguments missing from the Parameters section:\n" + "\n".join(bad)
