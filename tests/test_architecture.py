"""The shape of the package: the data flow runs one way (acyclic, no module reaching up to a
higher tier), no module uses another's private names, functions stay short and modules small."""

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


TIERS = [
    ("lossbench", 0),
    ("lossbench._", 0),
    ("lossbench.layout", 0),
    ("lossbench.metrics", 1),
    ("lossbench.losses", 1),
    ("lossbench.models", 1),
    ("lossbench.infer", 1),
    ("lossbench.config.phantom", 1),
    ("lossbench.config.schema", 1),
    ("lossbench.config.presets", 1),
    ("lossbench.config.text", 1),
    ("lossbench.data", 2),
    ("lossbench.results", 2),
    ("lossbench.stats", 2),
    ("lossbench.config", 3),
    ("lossbench.score", 3),
    ("lossbench.masks", 3),
    ("lossbench.batches", 3),
    ("lossbench.probe", 1),
    ("lossbench.train", 3),
    ("lossbench.inputs", 4),
    ("lossbench.trial", 4),
    ("lossbench.tuning", 4),
    ("lossbench.plan", 4),
    ("lossbench.report", 4),
    ("lossbench.executors", 5),
    ("lossbench.run", 5),
    ("lossbench.integrations", 5),
    ("lossbench.cli", 6),
]
"""The one-way data flow as tiers (DESIGN.md): a module may import its own tier and those
below, never one above. A module's tier is that of the longest prefix naming it."""

MODULE_LINES = 400
FUNCTION_LINES = 60
LONGER_MODULES: dict[str, str] = {}
"""Modules allowed past ``MODULE_LINES``, each with its reason (none today)."""


def _tier(module: str) -> int:
    def names(prefix: str) -> bool:
        if prefix.endswith("._"):
            return module.startswith(prefix)
        return module == prefix or module.startswith(prefix + ".")

    return dict(TIERS)[max((p for p, _ in TIERS if names(p)), key=len)]


def test_no_module_reaches_up_to_a_higher_tier() -> None:
    offences = [
        f"{name} (tier {_tier(name)}) imports {target} (tier {_tier(target)})"
        for name, targets in _graph().items()
        for target in targets
        if _tier(target) > _tier(name)
    ]
    assert not offences, "\n".join(offences)


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules()
    offences = []
    for name, path in modules.items():
        for module, names in _imports(path, modules):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and module != name:
                offences.append(f"{name} imports {private} from {module}")
    assert not offences, "\n".join(offences)


def test_functions_are_short() -> None:
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long, "\n".join(long)


def test_modules_are_small_or_say_why() -> None:
    long = [
        f"{name}: {count} lines"
        for name, path in _modules().items()
        if (count := len(path.read_text().splitlines())) > MODULE_LINES
        and name not in LONGER_MODULES
    ]
    assert not long, "\n".join(long)


def test_private_modules_are_used_only_inside_their_package() -> None:
    modules = _modules()
    offences = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, _ in _imports(path, modules):
            parts = module.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and i > 0]
            owner = ".".join(parts[: private[0]]) if private else package
            if private and not (package == owner or package.startswith(owner + ".")):
                offences.append(f"{name} imports the private module {module}")
    assert not offences, "\n".join(offences)
