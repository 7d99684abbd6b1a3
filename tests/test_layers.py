"""Imports run one way, from the ground (geometry, registries, label kinds, tasks) up to the
notebooks' helpers: a module never imports one above it, and no function imports a module of
ours to dodge a cycle. A new module must be placed in a layer here. The wiring is straight:
no private name crosses a module boundary, no module assigns attributes to a class it
imported, and nothing probes a policy with getattr/hasattr (policies declare an interface)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mtl_utils"
LAYERS = [
    ["geometry", "registry"],
    ["kinds", "dense"],
    ["tasks"],
    ["policy"],
    ["data", "stats", "store", "scenes"],
    ["augment", "pipelines", "dense_views"],
    ["text", "image_text"],
    ["fast_layers", "weighting"],
    ["models"],
    ["experiments"],
    ["plotting", "notebook"],
    ["course", "exercises"],
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


def _imported(tree: ast.Module) -> dict[str, str]:
    """Names bound at module level by imports of our modules: ``{name: imported from}``."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                "mtl_utils")):
            for alias in node.names:
                out[alias.asname or alias.name] = node.module or "."
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mtl_utils"):
                    out[alias.asname or alias.name.split(".")[0]] = alias.name
    return out


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_private_name_crosses_a_module_boundary(path):
    tree = ast.parse(path.read_text())
    imported = _imported(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(
                "mtl_utils")):
            private = [a.name for a in node.names if a.name.startswith("_")]
            private += [p for p in (node.module or "").split(".") if p.startswith("_")]
            assert not private, f"{path.name}:{node.lineno} imports private {private}"
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in imported and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            pytest.fail(f"{path.name}:{node.lineno} reads {node.value.id}.{node.attr}, a "
                        "private name of another module")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_assigns_attributes_to_a_class_it_imported(path):
    tree = ast.parse(path.read_text())
    imported = _imported(tree)
    for node in ast.walk(tree):
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and (
                    t.value.id in imported):
                pytest.fail(f"{path.name}:{node.lineno} sets {t.value.id}.{t.attr}, an "
                            f"attribute of something imported from {imported[t.value.id]}")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_probes_a_policy_with_getattr_or_hasattr(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr") and node.args
                and isinstance(node.args[0], ast.Name)
                and any(w in node.args[0].id for w in ("policy", "augment", "view", "first"))):
            pytest.fail(f"{path.name}:{node.lineno} probes {node.args[0].id} with "
                        f"{node.func.id}(); read the Policy interface instead")
