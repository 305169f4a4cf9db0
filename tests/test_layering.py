"""The import rules of the architecture: gui -> pipeline -> capture/tracking/engines/outputs -> basics."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "avatarify_app"

# Which of our sub-packages each one must never import.
FORBIDDEN = {
    "capture": {"tracking", "engines", "pipeline", "outputs", "gui"},
    "tracking": {"engines", "pipeline", "outputs", "gui", "capture"},
    "engines": {"pipeline", "outputs", "gui", "capture", "modelstore"},  # modelstore finds files for engines
    "outputs": {"pipeline", "gui", "engines"},
    "pipeline": {"gui"},
}
QT_FREE = ("capture", "tracking", "engines", "outputs", "pipeline")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("area", sorted(FORBIDDEN))
def test_imports_flow_one_way(area):
    bad = []
    for path in sorted((PACKAGE / area).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "avatarify_app" and len(parts) > 1 and parts[1] in FORBIDDEN[area]:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
            if area in QT_FREE and parts[0] in ("PySide6", "shiboken6"):
                bad.append(f"{path.relative_to(PACKAGE)} imports Qt ({name}): Qt stays in gui/")
    assert not bad, "\n".join(bad)


def test_nothing_imports_gui_but_gui_and_its_command():
    bad = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.parts[len(PACKAGE.parts)] not in ("gui",)
        and path.name != "gui.py"
        and any(n.startswith("avatarify_app.gui") for n in _imports(path))
    ]
    assert not bad


def test_no_print_in_library_code():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        if path.parts[len(PACKAGE.parts)] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                bad.append(str(path.relative_to(PACKAGE)))
    assert not bad


def test_no_private_torch_api():
    """Private torch calls (``torch._nnpack_*`` and the like) break between releases and builds."""
    bad = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id == "torch"
            ):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} torch.{node.attr}")
    assert not bad, "\n".join(bad)
