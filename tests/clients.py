"""Where the pinned real agent CLIs live for e2e tests (installed by scripts/install-clients)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CLIENTS_DIR = Path(
    os.environ.get("KIMIBRIDGE_TEST_CLIENTS", Path.home() / ".cache" / "kimibridge-test-clients")
)
# Resolved at import time, before the autouse fixture swaps HOME for each test.
CLIENTS_DIR = CLIENTS_DIR.expanduser().resolve()

INSTALL_HINT = "run scripts/install-clients (CI does)"


def npm_bin(name: str) -> Path:
    """Path of a pinned npm client's executable, or skip the test with the reason."""
    path = CLIENTS_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in {CLIENTS_DIR}; {INSTALL_HINT}")
    return path


def kimi_cli_python() -> Path:
    """The Python (>= 3.12) of the venv that holds kimi-cli, or skip the test with the reason."""
    path = CLIENTS_DIR / "kimi-venv" / "bin" / "python"
    if not path.exists():
        pytest.skip(f"kimi-cli venv missing at {path.parent.parent}; {INSTALL_HINT}")
    return path


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not on PATH; {INSTALL_HINT}")
    return found
