"""The import graph of a package, read from its source with `ast` (nothing is imported).

Every ``import`` and ``from ... import`` in a module is an edge, whether it runs at import time
or inside a function (a "lazy" edge, imported on first use); imports under
``if TYPE_CHECKING:`` are left out, since they never run. ``from . import name`` is an edge to
the submodule ``name`` when there is one, else to the package's ``__init__``.

    python tests/support/import_graph.py gpay_envelope            # edges, cycles, line counts
    python tests/support/import_graph.py gpay_envelope --mermaid --fold gpay_envelope.cli ...
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    lazy: bool


def modules(root: Path) -> dict[str, Path]:
    """Dotted module names of the package at ``root`` to their files."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements that run, with whether they sit inside a function."""

    def walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    yield from walk(sub, lazy)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, lazy
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from walk(child, inner)

    yield from walk(tree, False)


def edges(root: Path) -> list[Edge]:
    """Edges between modules of the package at ``root``."""
    mods = modules(root)
    found: set[Edge] = set()
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node, lazy in _imports(tree):
            for target in _targets(node, package, mods):
                if target != name:
                    found.add(Edge(name, target, lazy))
    # An eager edge wins over a lazy one between the same modules.
    eager = {(e.source, e.target) for e in found if not e.lazy}
    return sorted(
        (e for e in found if not e.lazy or (e.source, e.target) not in eager),
        key=lambda e: (e.source, e.target),
    )


def _targets(node: ast.Import | ast.ImportFrom, package: str, mods: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [_owner(alias.name, mods) for alias in node.names if _owner(alias.name, mods)]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        target = sub if sub in mods else _owner(module, mods)
        if target:
            out.append(target)
    return out


def _owner(dotted: str, mods: dict[str, Path]) -> str:
    """The longest module of the package that ``dotted`` names or lies in, or ''."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in mods:
            return candidate
        parts.pop()
    return ""


def cycles(graph: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {}
    for e in graph:
        succ.setdefault(e.source, []).append(e.target)
        succ.setdefault(e.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(1000, 4 * len(succ)))
    for v in sorted(succ):
        if v not in index:
            visit(v)
    return sorted(out)


def mermaid(graph: list[Edge], *, fold: tuple[str, ...] = ()) -> str:
    """A Mermaid flowchart; each module under a ``fold`` package is drawn as that package
    (the longest matching one), and an edge is dashed when every import behind it is lazy."""

    def folded(name: str) -> str:
        owners = [f for f in fold if name == f or name.startswith(f + ".")]
        return max(owners, key=len) if owners else name

    seen: dict[tuple[str, str], bool] = {}
    for e in graph:
        a, b = folded(e.source), folded(e.target)
        if a != b:
            seen[(a, b)] = seen.get((a, b), True) and e.lazy
    ids = {n: f"n{i}" for i, n in enumerate(sorted({n for pair in seen for n in pair}))}
    lines = ["flowchart LR"]
    # Boxes are labelled without the package name: "codecs.jwe", not "gpay_envelope.codecs.jwe".
    lines += [f'  {ids[n]}["{n.partition(".")[2] or n}"]' for n in sorted(ids)]
    for (a, b), lazy in sorted(seen.items()):
        lines.append(f"  {ids[a]} {'-.->' if lazy else '-->'} {ids[b]}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", help="path of the package folder, e.g. gpay_envelope")
    parser.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    parser.add_argument(
        "--fold", nargs="*", default=(), metavar="PACKAGE", help="draw these packages as one box"
    )
    args = parser.parse_args(argv)
    root = Path(args.package).resolve()
    graph = edges(root)
    if args.mermaid:
        print(mermaid(graph, fold=tuple(args.fold)))
        return 0
    for e in graph:
        print(f"{e.source} -> {e.target}{' (lazy)' if e.lazy else ''}")
    found = cycles(graph)
    print(f"\n{len(modules(root))} modules, {len(graph)} edges, {len(found)} cycles")
    for comp in found:
        print("cycle:", " <-> ".join(comp))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
