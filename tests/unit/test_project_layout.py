"""The project's shape: packaging, folders, CI entry point, README, and the
rule that publisher.cap imports nothing of the rest of the project."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP_PACKAGE = ROOT / "publisher" / "cap"

REQUIRED_FOLDERS = (
    "publisher/channels",
    "publisher/templates",
    "publisher/cap",
    "district_nodes",
    "config",
    "tests",
    "docker",
    "bench",
    "docs",
)

ALLOWED_THIRD_PARTY = frozenset({"lxml", "cryptography", "signxml", "shapely"})
FORBIDDEN_MODULES = (
    "sqlalchemy",
    "aiohttp",
    "celery",
    "kombu",
    "requests",
    "httpx",
    "socket",
    "urllib.request",
    "http.client",
)


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(source: str, package: str) -> list[str]:
    """Every module an import statement names, made absolute from ``package``."""
    modules: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            modules.append(base)
            # `from urllib import request` imports urllib.request.
            modules.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return modules


def refused_imports(source: str, package: str = "publisher.cap") -> list[str]:
    """The imports that publisher.cap must not make, with the reason."""
    refused = []
    for module in imported_modules(source, package):
        top = module.split(".")[0]
        forbidden = next((name for name in FORBIDDEN_MODULES if _within(module, name)), None)
        if forbidden is not None:
            refused.append(f"{module}: network, database or web library {forbidden}")
        elif top == "publisher":
            if not _within(module, "publisher.cap"):
                refused.append(f"{module}: the rest of the project")
        elif top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
            refused.append(f"{module}: not an allowed dependency")
    return refused


def _cap_modules() -> list[Path]:
    return sorted(CAP_PACKAGE.rglob("*.py"))


def _package_of(path: Path) -> str:
    return ".".join(path.parent.relative_to(ROOT).parts)


def test_pyproject_declares_the_publisher_command() -> None:
    scripts = _pyproject()["project"]["scripts"]
    assert scripts.get("publisher") == "publisher.cli:main"


def test_pyproject_requires_python_3_11_or_later() -> None:
    requirement = _pyproject()["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)(\.\d+)?", requirement.strip())
    assert match is not None, f"requires-python is {requirement!r}, expected '>=3.N'"
    assert int(match.group(1)) >= 11


@pytest.mark.parametrize("folder", REQUIRED_FOLDERS)
def test_required_folder_exists_with_content(folder: str) -> None:
    path = ROOT / folder
    assert path.is_dir(), f"{folder}/ is missing"
    # git keeps no empty folder: a fresh clone has it only if something is in it.
    assert any(path.iterdir()), f"{folder}/ is empty and would vanish from a clone"


def test_ci_entry_point_is_executable_and_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^exec make test$", text, re.MULTILINE), ".ci/run does not end in make test"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_ci_entry_point_is_valid_bash() -> None:
    result = subprocess.run(
        ["bash", "-n", str(ROOT / ".ci" / "run")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\n(.*?)(?=^## |\Z)", readme, re.DOTALL | re.MULTILINE)
    assert section is not None, "README has no '## Quick start' section"
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section.group(1), re.DOTALL | re.MULTILINE)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_quick_start_is_make_demo_and_make_test() -> None:
    assert _quick_start_commands() == ["make demo", "make test"]


@pytest.mark.parametrize("path", _cap_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_cap_package_imports_only_the_standard_library_and_its_own(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert refused_imports(source, _package_of(path)) == []


def test_cap_package_has_modules_to_check() -> None:
    assert len(_cap_modules()) >= 3


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import requests", ["requests: network, database or web library requests"]),
        ("import socket", ["socket: network, database or web library socket"]),
        (
            "from urllib import request",
            ["urllib.request: network, database or web library urllib.request"],
        ),
        (
            "from http.client import HTTPConnection",
            [
                "http.client: network, database or web library http.client",
                "http.client.HTTPConnection: network, database or web library http.client",
            ],
        ),
        (
            "from sqlalchemy.orm import Session",
            [
                "sqlalchemy.orm: network, database or web library sqlalchemy",
                "sqlalchemy.orm.Session: network, database or web library sqlalchemy",
            ],
        ),
        (
            "from publisher.store import alerts",
            [
                "publisher.store: the rest of the project",
                "publisher.store.alerts: the rest of the project",
            ],
        ),
        (
            "from .. import config",
            ["publisher: the rest of the project", "publisher.config: the rest of the project"],
        ),
        ("import yaml", ["yaml: not an allowed dependency"]),
        ("from __future__ import annotations\nimport re\nfrom lxml import etree", []),
        ("from publisher.cap.model import Alert\nfrom .problems import Problem", []),
        ("import signxml\nfrom shapely.geometry import Polygon\nimport cryptography", []),
    ],
)
def test_import_rule_tells_allowed_from_refused(source: str, expected: list[str]) -> None:
    assert refused_imports(source) == expected
