"""Where the pinned real agent CLIs live for e2e tests (installed by scripts/install-clients)."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

CLIENTS_DIR = Path(
    os.environ.get("KIMIBRIDGE_TEST_CLIENTS", Path.home() / ".cache" / "kimibridge-test-clients")
)
# Resolved at import time, before the autouse fixture swaps HOME for each test.
CLIENTS_DIR = CLIENTS_DIR.expanduser().resolve()

INSTALL_HINT = "run scripts/install-clients (CI does)"
# Set by .ci/run: there a missing client or tool is a broken install, not a reason to skip.
REQUIRE_ALL = os.environ.get("KIMIBRIDGE_REQUIRE_CLIENTS", "") not in ("", "0")
SYSTEM_HINT = "install it with apt-get (.ci/run does)"


def _missing(reason: str) -> NoReturn:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (KIMIBRIDGE_REQUIRE_CLIENTS is set)", pytrace=False)
    pytest.skip(reason)


def npm_bin(name: str) -> Path:
    """Path of a pinned npm client's executable, or skip the test with the reason."""
    path = CLIENTS_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        _missing(f"{name} is not installed in {CLIENTS_DIR}; {INSTALL_HINT}")
    return path


def kimi_cli_python() -> Path:
    """The Python (>= 3.12) of the venv that holds kimi-cli, or skip the test with the reason."""
    path = CLIENTS_DIR / "kimi-venv" / "bin" / "python"
    if not path.exists():
        _missing(f"kimi-cli venv missing at {path.parent.parent}; {INSTALL_HINT}")
    return path


def require_tool(name: str) -> str:
    """A system tool's path (strace, tmux, ...), or skip the test with the reason."""
    found = shutil.which(name)
    if found is None:
        _missing(f"{name} is not on PATH; {SYSTEM_HINT}")
    return found


@functools.cache
def _loopback_sandbox() -> tuple[str, ...] | None:
    from tests.e2e.netns import probe_unshare

    return probe_unshare()


def require_loopback_sandbox() -> tuple[str, ...]:
    """The ``unshare`` prefix that gives a loopback-only network namespace, or skip with the reason."""
    require_tool("unshare")
    variant = _loopback_sandbox()
    if variant is None:
        _missing(
            "cannot create a network namespace here (`unshare --net` and "
            "`unshare --user --map-root-user --net` both fail: needs root or "
            "unprivileged user namespaces)"
        )
    return variant
