"""Dependencies point one way (DESIGN.md "Rules that keep the house livable").

Checked statically over every module's imports, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kimibridge"

# package -> kimibridge packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    # The oracle shares nothing with the product it checks.
    "emulator": {
        "cli",
        "gateway",
        "harness",
        "kimi",
        "protocol",
        "team",
        "tools",
        "config",
        "errors",
        "_fs",
    },
    "protocol": {"cli", "gateway", "harness", "kimi", "team", "tools", "emulator"},
    "kimi": {"cli", "gateway", "harness", "team", "tools", "emulator"},
    "gateway": {"cli", "harness", "team", "tools"},
    "harness": {"cli", "team"},
    "tools": {"cli", "gateway", "harness", "team"},
}
# Third-party modules a sans-I/O package must not import.
FORBIDDEN_EXTERNAL: dict[str, set[str]] = {
    "protocol": {"aiohttp", "httpx", "asyncio", "uvicorn", "rich", "typer"},
    "kimi": {"rich", "typer"},
    "gateway": {"rich", "typer"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    root = SRC / package
    return sorted(root.rglob("*.py")) if root.is_dir() else []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package: str) -> None:
    offences = []
    for path in _modules(package):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "kimibridge" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(SRC)} imports {name}")
            if parts[0] in FORBIDDEN_EXTERNAL.get(package, set()):
                offences.append(f"{path.relative_to(SRC)} imports {name}")
    assert offences == []


def test_emulator_exists_and_is_checked() -> None:
    # Guards the test above against passing vacuously after a rename.
    assert _modules("emulator"), "src/kimibridge/emulator is missing"
