"""Shared fixtures: every test runs with its own kimibridge home and no real Kimi host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["kimibridge.testing"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point kimibridge, kimi-cli and HOME-relative lookups at a temporary directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KIMIBRIDGE_HOME", str(home / ".kimibridge"))
    monkeypatch.setenv("KIMI_SHARE_DIR", str(home / ".kimi"))
    monkeypatch.setenv("KIMI_CODE_HOME", str(home / ".kimi-code"))
    for name in ("KIMI_API_KEY", "KIMI_CODE_BASE_URL", "KIMI_CODE_OAUTH_HOST", "KIMI_OAUTH_HOST"):
        monkeypatch.delenv(name, raising=False)
    yield home
