"""A real, pip-less venv with a minimal ``kimi_cli`` package: how kimi-cli is found is tested
against an interpreter, not a mock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (pip-less) venv: the probe runs its interpreter isolated (-I), as on a user's machine."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    return root


def install_kimi_cli(venv: Path, *, stub: bool) -> Path:
    """A minimal ``kimi_cli`` package in the venv and its ``kimi`` console script."""
    [site] = venv.glob("lib/python3*/site-packages")
    package = site / "kimi_cli"
    (package / "cli").mkdir(parents=True, exist_ok=True)
    for rel in ("__init__.py", "cli/__init__.py", "cli/__main__.py"):
        (package / rel).write_text("")
    (package / "deprecation.py").unlink(missing_ok=True)
    if stub:
        (package / "deprecation.py").write_text("")
    script = venv / "bin" / "kimi"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nraise SystemExit('never run')\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def stub_python(venv: Path) -> Path:
    """The venv's interpreter, with a kimi_cli that is the 1.52 deprecation stub."""
    install_kimi_cli(venv, stub=True)
    return venv / "bin" / "python"
