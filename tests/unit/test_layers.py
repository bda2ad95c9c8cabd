"""The package's floors, read from its source: every import runs downhill, nothing imports in a circle, the
UI reaches models only through services, and few modules lie loose at the top of `studio/`."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "studio"

# Each floor may import the floors listed for it (and itself). `studio` is the package's __init__ (its
# version); entry points (`python -m studio`, the training worker) may import anything.
FLOORS = {
    "core": {"core"},
    "data": {"core"},
    "vision": {"core"},
    "style": {"core", "vision"},
    "music": {"core", "data"},
    "families": {"core", "data", "vision", "style"},
    "latent": {"core", "families"},
    "services": {"core", "data", "vision", "style", "music", "families", "latent"},
    "ui": {"core", "services"},
}
ENTRY_POINTS = {"studio.__main__", "studio.train"}
MAX_LOOSE = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every studio module `path` imports, at the top or inside functions (lazy imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "studio"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "studio":
                continue
            for alias in node.names:  # `from .core import jobs` imports the module studio.core.jobs
                candidate = f"{target}.{alias.name}"
                found.add(candidate if MODULES.get(candidate) else target)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {i for i in imports_of(path) if i in MODULES and i != name} for name, path in MODULES.items()}


def floor(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in FLOORS) else None


def test_every_import_runs_downhill():
    wrong = []
    for name, targets in GRAPH.items():
        here = floor(name)
        if name in ENTRY_POINTS or here is None:
            continue
        for target in targets:
            there = floor(target)
            if target != "studio" and there != here and there not in FLOORS[here]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports that run uphill or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_circle():
    state: dict[str, int] = {}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_ui_reaches_models_only_through_services():
    for name, targets in GRAPH.items():
        if floor(name) == "ui":
            assert not {t for t in targets if t.startswith(("studio.families", "studio.core.registry",
                                                             "studio.core.jobs"))}, name


@pytest.mark.parametrize("floor_name", ["core", "data", "vision", "style", "music", "families", "latent",
                                        "services"])
def test_below_the_ui_nothing_imports_gradio(floor_name):
    for name, path in MODULES.items():
        if floor(name) == floor_name:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
            assert "gradio" not in names, name


def test_few_loose_modules_at_the_top():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_LOOSE, loose
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")} == set(FLOORS)


def test_the_checker_resolves_relative_imports():
    # The rules above read real imports: a relative import two levels up resolves to its module.
    assert "studio.core.registry" in GRAPH["studio.services.models"]
    assert "studio.families" in GRAPH["studio.services.training"]
    assert "studio.services.models" in GRAPH["studio.ui.models_tab"]
