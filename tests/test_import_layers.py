"""The core's imports point down: every import in ``core/webbcal`` -- at module level or
inside a function -- goes to a module of the same or a lower layer, and no two modules
import each other, directly or round a loop.  Read from the source (AST), so an import
hidden in a function counts too.  The layers are documented in docs/architecture.md."""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core" / "webbcal"

#: layer of each top-level module / subpackage of webbcal, lowest first
LAYERS = {
    "_version": 0, "errors": 0, "hookspecs": 0,
    "params": 1, "modes": 1, "results": 1, "scenes": 1,
    "datamodels": 2,
    "extract": 3, "detector": 3, "wcs": 3, "figures": 3,
    "refs": 4,
    "plugins": 5,
    "pipeline.step": 6, "pipeline.segments": 6, "plugin_api": 6,
    "steps": 7,
    "pipeline": 8,  # recipes (pipeline.pipeline) and the step registry: above the steps they run
    "plot": 8,
    "association": 8,
    "demo": 9, "cli": 9, "testing": 9, "webbcal": 9, "__main__": 10,
}

def _modules():
    mods = {}
    for path in CORE.rglob("*.py"):
        if "tests" in path.relative_to(CORE).parts:
            continue
        parts = ("webbcal",) + path.relative_to(CORE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _targets(module, node):
    """The webbcal modules an import statement imports (a submodule, not its package,
    for ``from package import submodule``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            if MODULES[module].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = []
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            names.append(sub if sub in MODULES else source)
    out = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("webbcal") and name != module:
            out.add(name)
    return out


def _run_time_imports(tree):
    """Import statements that run: those under ``if TYPE_CHECKING:`` are for type
    checkers only (annotations are strings with ``from __future__ import annotations``)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip]


def _graph():
    graph = defaultdict(set)
    for module, path in MODULES.items():
        for node in _run_time_imports(ast.parse(path.read_text(), str(path))):
            graph[module] |= _targets(module, node)
    return graph


def _layer(module):
    rest = module.split(".")[1:]
    if ".".join(rest[:2]) in LAYERS:  # a module placed on its own (pipeline.step)
        return LAYERS[".".join(rest[:2])]
    key = rest[0] if rest else "webbcal"
    if key not in LAYERS:
        pytest.fail(f"{module}: no layer assigned in tests/test_import_layers.py LAYERS (and docs/architecture.md)")
    return LAYERS[key]


GRAPH = _graph()


def test_every_import_points_to_the_same_or_a_lower_layer():
    upward = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if _layer(t) > _layer(m))
    assert upward == []


@pytest.mark.parametrize("package", ["extract", "datamodels"])
def test_the_engine_and_the_data_models_import_nothing_of_steps_pipeline_cli_plot_or_demo(package):
    above = ("steps", "pipeline", "cli", "plot", "demo")
    bad = sorted(f"{m} -> {t}" for m, ts in GRAPH.items() if m.startswith(f"webbcal.{package}")
                 for t in ts if t.split(".")[1:2] and t.split(".")[1] in above)
    assert bad == []


def test_no_import_cycle_between_modules():
    """Package facades (``__init__``) re-export their own modules: a module importing its
    package's facade is not a loop; every other path is."""
    facades = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    graph = {m: {t for t in ts if t not in facades} for m, ts in GRAPH.items() if m not in facades}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_type_checking_imports_are_not_run_time_imports():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .steps import x\n"
                     "def f():\n    from .plot import y\n")
    assert [n.module for n in _run_time_imports(tree)] == ["typing", "plot"]


def test_the_checker_sees_a_function_level_upward_import(tmp_path, monkeypatch):
    """The walk reads imports inside functions (the way the old extract/width.py reached
    up into steps/extract_1d.py)."""
    src = "def f():\n    from ..steps.extract_1d import Extract1dStep\n"
    node = ast.parse(src)
    imports = [n for n in ast.walk(node) if isinstance(n, ast.ImportFrom)]
    targets = _targets("webbcal.extract.width", imports[0])
    assert targets == {"webbcal.steps.extract_1d"}
    assert _layer("webbcal.steps.extract_1d") > _layer("webbcal.extract.width")


def test_the_plugins_import_the_core_only_through_plugin_api():
    """A plugin needs one public module (webbcal.plugin_api); the shipped plugins show
    it: no import of another webbcal module, at module level or in a function."""
    plugins = Path(__file__).resolve().parents[1] / "plugins"
    bad = []
    for path in sorted(plugins.glob("*/webbcal_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                name = node.module
            elif isinstance(node, ast.Import):
                name = next((a.name for a in node.names if a.name.split(".")[0] == "webbcal"), "")
            else:
                continue
            if name.split(".")[0] == "webbcal" and name != "webbcal.plugin_api":
                bad.append(f"{path.relative_to(plugins)}:{node.lineno}: {name}")
    assert bad == []


def test_plugin_api_gives_what_a_plugin_declares_and_returns():
    import webbcal.plugin_api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    from webbcal.steps.flat_field import Flat

    assert api.Flat is Flat  # the type the step applies is the one plugins build
