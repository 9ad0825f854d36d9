"""The import graph: no cycle, no upward arrow between hinder's packages, every dependency declared.

``contract`` imports only the standard library; ``agent`` and ``collector``
import ``contract`` and never each other; neither imports ``hinder`` (the
command line on top of both). Every import counts, those inside functions too:
a lazy import that dodges a cycle at run time is still a cycle in the design.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "collector", "contract", "hinder")
MAY_IMPORT = {
    "contract": {"contract"},
    "agent": {"agent", "contract"},
    "collector": {"collector", "contract"},
    "hinder": {"hinder", "agent", "collector", "contract"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules (ours and others) that module ``name`` imports, anywhere in it."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)  # `from package import name` runs the package's __init__ first, whatever the name
            for alias in node.names:  # ... and `from package import submodule` imports the submodule too
                if f"{target}.{alias.name}" in modules:
                    found.add(f"{target}.{alias.name}")
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_contract_imports_only_the_standard_library():
    for name, imported in _graph().items():
        if name.split(".")[0] == "contract":
            outside = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names | {"contract"}}
            assert not outside, f"{name} imports {sorted(outside)}"


def test_no_upward_or_sideways_arrow():
    for name, imported in _graph().items():
        allowed = MAY_IMPORT[name.split(".")[0]]
        ours = {m.split(".")[0] for m in imported} & set(PACKAGES)
        assert ours <= allowed, f"{name} imports {sorted(ours - allowed)}"


def test_no_import_cycle():
    graph = _graph()
    edges = {name: {m for m in imported if m in graph} for name, imported in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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
            if len(component) > 1 or v in edges[v]:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


def _distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_dependency():
    """What the code imports is what pyproject.toml installs, not what happens to come along with it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_distribution(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    for name, imported in _graph().items():
        for module in imported:
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in PACKAGES:
                continue
            dists = {_distribution(d) for d in providers.get(top, [top])}
            assert dists & declared, f"{name} imports {top} ({', '.join(sorted(dists))}), not in pyproject's dependencies"
