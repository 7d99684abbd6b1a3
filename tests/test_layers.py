"""Imports run one way, from the ground (geometry, label kinds, tasks) up to the notebooks'
helpers: a module never imports one above it, and no function imports a module of ours
to dodge a cycle. A new module must be placed in a layer here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mtl_utils"
LAYERS = [
    ["geometry"],
    ["kinds"],
    ["tasks"],
    ["data", "stats", "store"],
    ["augment", "pipelines", "text"],
    ["fast_layers"],
    ["models"],
    ["weighting"],
    ["experiments"],
    ["plotting", "notebook"],
    ["course"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _ours(node: ast.ImportFrom, module: str) -> str | None:
    """The top-level module of ours that ``node`` imports, or ``None``."""
    if node.level == 0:
        parts = (node.module or "").split(".")
        return parts[1] if parts[0] == "mtl_utils" and len(parts) > 1 else (
            node.names[0].name if parts == ["mtl_utils"] else None)
    base = module.split(".")[: len(module.split(".")) - node.level]
    target = base + (node.module.split(".") if node.module else [node.names[0].name])
    return target[0] if target else None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_import_only_from_their_layer_or_below(path):
    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    own = module.split(".")[0]
    if own == "__init__":
        return
    assert own in RANK, f"place the new module {own!r} in a layer of tests/test_layers.py"
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING"
                   for n in ast.walk(block)}  # imports for type hints only
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or id(node) in typing_only:
            continue
        target = _ours(node, module if path.name != "__init__.py" else module + ".x")
        if target is None or target == own or target == "__init__":
            continue
        assert RANK[target] <= RANK[own], (
            f"{module} imports {target}, which sits above it (layers {LAYERS})")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_function_imports_a_module_of_ours(path):
    tree = ast.parse(path.read_text())
    for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef,
                                                            ast.AsyncFunctionDef))]:
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.level or (
                    node.module or "").startswith("mtl_utils")):
                pytest.fail(f"{path.name}:{node.lineno} imports {node.module!r} inside "
                            f"{fn.name}(): a cycle being dodged?")
