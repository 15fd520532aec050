"""The layers of ARCHITECTURE.md, read from the source: no import circles, the worker never imports ``bpy``,
the extension never imports ``torch``, and no product file edits ``sys.path``."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from helpers import ROOT

PACKAGES = ("addon", "inference", "training", "scenes", "tools", "benchmarks")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Set[str]:
    """Every module ``path`` imports, top level or inside functions, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def graph() -> Dict[str, Set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    names = {module_name(p) for p in files}
    return {module_name(p): {m for m in imports_of(p) if m in names and m != module_name(p)} for p in files}


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_circle_and_passes_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_module_imports_itself_through_others():
    edges = graph()
    assert "inference.pipeline" in edges and "inference.streaming" in edges["inference.pipeline"]
    # a package's __init__ importing its own modules is how packages are built: not a circle
    for pkg in {m for m in edges if m.count(".") == 1 or m in PACKAGES}:
        for m in edges:
            if m.startswith(pkg + "."):
                edges[m].discard(pkg)
    assert cycles(edges) == []


def test_the_worker_never_imports_bpy_and_the_extension_never_imports_torch():
    for path in (ROOT / "inference").rglob("*.py"):
        assert not any(m.split(".")[0] == "bpy" for m in imports_of(path)), path
    for path in (ROOT / "addon").rglob("*.py"):
        assert not any(m.split(".")[0] in ("torch", "inference") for m in imports_of(path)), path


def test_no_product_file_edits_sys_path():
    for pkg in ("addon", "inference", "training", "scenes", "scripts"):
        for path in (ROOT / pkg).rglob("*.py"):
            assert "sys.path.insert" not in path.read_text() and "sys.path.append" not in path.read_text(), path
