"""`kimibridge setup` through the CLI: --print writes nothing, setup then --undo is byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SETTINGS = b'{\n  "theme": "light",\n  "env": {"MINE": "1"}\n}\n'


def kb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".kimibridge" not in p.parts
    }


def test_setup_claude_print_apply_undo(isolated_home: Path) -> None:
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    (claude_dir / "settings.json").write_bytes(SETTINGS)
    (claude_dir / "CLAUDE.md").write_text("mine\n")
    before = _tree(isolated_home)

    shown = kb("setup", "claude", "--print")
    assert shown.returncode == 0, shown.stderr
    assert '"ANTHROPIC_BASE_URL": "http://127.0.0.1:8765"' in shown.stdout
    assert _tree(isolated_home) == before

    done = kb("setup", "claude")
    assert done.returncode == 0, done.stderr
    assert f"wrote {claude_dir / 'settings.json'}" in done.stdout
    data = json.loads((claude_dir / "settings.json").read_text())
    assert data["theme"] == "light" and data["env"]["MINE"] == "1"
    assert data["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8765"
    assert data["env"]["ANTHROPIC_API_KEY"].startswith("kb-")
    assert data["env"]["ANTHROPIC_MODEL"] == "kimi-for-coding"

    undone = kb("setup", "claude", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert f"restored {claude_dir / 'settings.json'}" in undone.stdout
    assert _tree(isolated_home) == before
    assert (claude_dir / "settings.json").read_bytes() == SETTINGS
    assert kb("setup", "claude", "--undo").stdout.strip() == "nothing to undo for claude."


def test_setup_creates_then_undo_deletes(isolated_home: Path) -> None:
    assert kb("setup", "claude").returncode == 0
    assert (isolated_home / ".claude" / "settings.json").is_file()
    assert kb("setup", "claude", "--undo").returncode == 0
    assert not (isolated_home / ".claude").exists()


def test_setup_unknown_harness(isolated_home: Path) -> None:
    out = kb("setup", "vim")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: unknown harness 'vim'; choose one of: claude, pi, opencode, kimi"
    ]
