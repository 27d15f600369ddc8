"""CLI paths that do not talk HTTP stay cheap: no aiohttp, no uvicorn.

``kimibridge.kimi`` and ``kimibridge.gateway`` export their names lazily (PEP 562), so importing
one small module of them (endpoints, credentials, local keys, the pidfile) does not import the
upstream client. The lazy tables must stay complete and in step with ``__all__``.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

CHEAP = [
    "kimibridge.kimi.endpoints",
    "kimibridge.kimi.credentials",
    "kimibridge.kimi.identity",
    "kimibridge.gateway.local_auth",
    "kimibridge.gateway.ledger",
    "kimibridge.gateway.pidfile",
    "kimibridge.cli._account",
    "kimibridge.cli.logout",
]


@pytest.mark.parametrize("module", CHEAP)
def test_module_imports_no_http_stack(module: str) -> None:
    code = f"import sys, {module}; print(sorted({{'aiohttp', 'uvicorn'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["key", "path"], ["logout"], ["serve", "--stop"]])
def test_commands_without_http_never_import_aiohttp(args: list[str]) -> None:
    code = (
        "import sys; from kimibridge.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('AIOHTTP', 'aiohttp' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    assert "AIOHTTP False" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("package", ["kimibridge.kimi", "kimibridge.gateway"])
def test_lazy_exports_are_complete(package: str) -> None:
    pkg = importlib.import_module(package)
    where: dict[str, str] = pkg._WHERE
    assert sorted(where) == sorted(pkg.__all__)
    for name, module in where.items():
        assert getattr(pkg, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError):
        _ = pkg.no_such_name
