from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kimibridge._fs import atomic_write, ensure_private_dir


def test_atomic_write_creates_private_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "secret.json"
    atomic_write(target, '{"k": 1}')
    assert target.read_text() == '{"k": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    tmp_path = tmp_path / "d"
    target = tmp_path / "f"
    atomic_write(target, b"old")
    atomic_write(target, b"new", mode=0o644)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_failed_write_keeps_old_content(tmp_path: Path) -> None:
    tmp_path = tmp_path / "d"
    target = tmp_path / "f"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, 123)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_private_dir_mode(tmp_path: Path) -> None:
    d = tmp_path / "x" / "y"
    ensure_private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
