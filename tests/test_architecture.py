"""The shape of the package: the data flow runs one way, and no module uses another's private
names."""

from __future__ import annotations

import ast
from pathlib import Path

import lossbench

ROOT = Path(lossbench.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every lossbench import in ``path``, lazy ones included."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lossbench"):
            names = [a.name for a in node.names]
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in modules]
            out += [(m, []) for m in submodules]
            rest = [n for n in names if f"{node.module}.{n}" not in modules]
            if rest:
                out.append((node.module, rest))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("lossbench")]
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m, _ in _imports(path, modules) if m != name} for name, path in modules.items()
    }


def test_the_import_graph_is_acyclic() -> None:
    graph, state, path = _graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for child in sorted(graph.get(node, ())):
            assert state.get(child) != "open", " -> ".join([*path, child])
            if child not in state:
                visit(child)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_module_uses_another_packages_private_names() -> None:
    modules = _modules()
    offences = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, names in _imports(path, modules):
            owner = (
                module
                if module in modules and modules[module].name == "__init__.py"
                else (module.rpartition(".")[0])
            )
            inside = owner == package or module == "lossbench" or owner == "lossbench"
            private = [n for n in names if n.startswith("_")]
            private_module = any(p.startswith("_") for p in module.split(".")[1:])
            if (private or private_module) and not inside:
                offences.append(f"{name} imports {module} {private}")
    assert not offences, "\n".join(offences)
