"""The architecture's import rules (gui -> pipeline -> capture/tracking/engines/outputs -> ground floor),
declared as import-linter contracts in pyproject.toml, and what they cannot say."""

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "avatarify_app"


def test_import_contracts_are_kept():
    # In a process of its own: the check must not depend on what earlier tests did to this one's
    # streams (the CLI tests run ``main`` in-process).
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    result = subprocess.run(
        [sys.executable, "-c", command, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_engine_package_is_in_the_independence_contract():
    """An engine never imports another engine: lint-imports checks that for the packages the
    contract lists, so every engine package must be listed."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (independence,) = [c for c in contracts if c["type"] == "independence"]
    engines = PACKAGE / "engines"
    packages = {f"avatarify_app.engines.{p.name}" for p in engines.iterdir() if (p / "__init__.py").is_file()}
    listed = set(independence["modules"])
    assert packages <= listed, f"add {sorted(packages - listed)} to the independence contract (pyproject)"
    assert listed <= packages, f"{sorted(listed - packages)}: in the independence contract, not in engines/"


def test_every_module_imports():
    """lint-imports skips an import of a module that does not exist: this catches one left behind
    by a move."""
    broken = []
    for module in pkgutil.walk_packages([str(PACKAGE)], "avatarify_app."):
        if module.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(module.name)
        except ImportError as exc:
            broken.append(f"{module.name}: {exc}")
    assert not broken, "\n".join(broken)


def test_no_importlib_for_our_own_modules():
    """A hidden import (``importlib.import_module("avatarify_app...")``) is an arrow the contracts
    cannot see."""
    bad = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
                and "avatarify_app" in ast.unparse(node.args[0])
            ):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not bad, "\n".join(bad)


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


def test_no_engine_is_named_outside_engines_and_the_model_store():
    """The window, the pipeline and the CLI learn the engines from the catalog: no engine's name
    stands in their code as a string (docstrings may give examples)."""
    from avatarify_app.engines.catalog import names

    engines = set(names())
    bad = []
    for folder in ("gui", "pipeline", "cli"):
        for path in (PACKAGE / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in engines:
                    bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
                if isinstance(node, ast.Name | ast.Attribute) and "FOMM_" in ast.unparse(node):
                    bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}")
    assert not bad, "engine names outside engines/: " + ", ".join(bad)
