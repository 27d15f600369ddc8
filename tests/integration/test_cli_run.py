"""`kimibridge run` errors as a user sees them: one line, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.gateway.pidfile import pidfile_path

pytestmark = pytest.mark.integration


def kb(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("harness", "install"),
    [
        ("claude", "npm install -g @anthropic-ai/claude-code"),
        ("pi", "npm install -g @mariozechner/pi-coding-agent"),
        ("opencode", "npm install -g opencode-ai"),
    ],
)
def test_missing_harness_is_one_line_with_install_command(
    isolated_home: Path, tmp_path: Path, harness: str, install: str
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    env.pop("KIMIBRIDGE_CLAUDE_BIN", None)
    out = kb("run", harness, "--offline", "-p", "hi", env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert install in lines[0]
    assert "Traceback" not in out.stderr
    # Nothing was started for a harness that cannot run.
    assert not pidfile_path(Paths.from_env(env)).exists()


def test_unknown_harness(isolated_home: Path) -> None:
    out = kb("run", "emacs", env=dict(os.environ))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: unknown harness 'emacs'; choose one of: claude, pi, opencode, kimi"
    ]


def test_direct_without_a_key(isolated_home: Path, tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "KIMIBRIDGE_CLAUDE_BIN": str(fake)}
    out = kb("run", "claude", "--direct", "-p", "hi", env=env)
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "KIMI_API_KEY" in out.stderr and "kimibridge login" in out.stderr


def test_exit_code_and_direct_environment(isolated_home: Path, tmp_path: Path) -> None:
    # A stand-in for claude that shows what it was given and exits 7: kimibridge execs it, so
    # its exit code is kimibridge's.
    fake = tmp_path / "claude"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "args=$*"\n'
        'echo "base=$ANTHROPIC_BASE_URL key=$ANTHROPIC_API_KEY dir=$CLAUDE_CONFIG_DIR"\n'
        "exit 7\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "KIMIBRIDGE_CLAUDE_BIN": str(fake), "KIMI_API_KEY": "sk-kimi-direct"}
    out = kb("run", "claude", "--direct", "--yolo", "-p", "hi", "--", "--model", "x", env=env)
    assert out.returncode == 7, out.stderr
    assert "args=--dangerously-skip-permissions -p hi --model x" in out.stdout
    home = isolated_home
    assert (
        f"base=https://api.kimi.com/coding/ key=sk-kimi-direct dir={home / '.claude-kimibridge'}"
        in out.stdout
    )
    assert not (home / ".claude").exists()  # the user's own config is never created or touched
