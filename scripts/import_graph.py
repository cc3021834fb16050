"""Draw the import graph of core/webbcal by layer (issue 10's self-check).

    python scripts/import_graph.py            # summary: arrows between layer groups
    python scripts/import_graph.py --dot > core.dot && dot -Tpng core.dot -o core.png

The modules, edges and layers are those of tests/test_import_layers.py (read from the
source, imports inside functions included); an arrow pointing up is printed as UPWARD
and makes the script exit with status 1.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_import_layers as layers  # noqa: E402


def group(module):
    rest = module.split(".")[1:]
    if ".".join(rest[:2]) in layers.LAYERS:
        return ".".join(rest[:2])
    return rest[0] if rest else "webbcal"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dot", action="store_true", help="print Graphviz DOT instead of the summary")
    args = ap.parse_args()
    edges = Counter()
    for module, targets in layers.GRAPH.items():
        for t in targets:
            a, b = group(module), group(t)
            if a != b:
                edges[(a, b)] += 1
    up = [(a, b) for (a, b) in edges if layers.LAYERS[b] > layers.LAYERS[a]]
    if args.dot:
        print("digraph webbcal {\n  rankdir=BT; node [shape=box];")
        by_layer = {}
        for g, n in layers.LAYERS.items():
            by_layer.setdefault(n, []).append(g)
        for n, gs in sorted(by_layer.items()):
            print(f"  {{ rank=same; " + " ".join(f'"{g}";' for g in gs) + f" }}  // layer {n}")
        for (a, b), k in sorted(edges.items()):
            colour = ' color="red"' if (a, b) in up else ""
            print(f'  "{a}" -> "{b}" [label="{k}"{colour}];')
        print("}")
    else:
        for (a, b), k in sorted(edges.items(), key=lambda e: (-layers.LAYERS[e[0][0]], e[0])):
            mark = "UPWARD " if (a, b) in up else ""
            print(f"{mark}{a} (layer {layers.LAYERS[a]}) -> {b} (layer {layers.LAYERS[b]}): {k} import(s)")
        print(f"{len(edges)} arrows between groups; {len(up)} point up")
    return 1 if up else 0


if __name__ == "__main__":
    sys.exit(main())
