"""The CLI root: cheap --version, lazy groups, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kimibridge import __version__
from kimibridge.cli import main
from kimibridge.cli._root import COMMANDS


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args], capture_output=True, text=True, timeout=60
    )


def test_version_prints_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version"])
    assert capsys.readouterr().out == f"kimibridge {__version__}\n"


def test_version_imports_neither_typer_nor_rich_nor_any_group() -> None:
    code = (
        "import sys; from kimibridge.cli import main; main(['--version']); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'typer', 'click', 'rich', 'aiohttp', 'pydantic'} or m.startswith('kimibridge.cli.')); "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.splitlines()[-1] == "[]"


def test_root_help_lists_every_group_without_importing_them() -> None:
    code = (
        "import sys\n"
        "from kimibridge.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('kimibridge.cli.') "
        "and m not in ('kimibridge.cli._root', 'kimibridge.cli._output')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    for name in COMMANDS:
        assert name in result.stdout
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_group_has_help(name: str) -> None:
    result = _run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "Traceback" not in result.stderr


def test_short_help_flag_works() -> None:
    result = _run("-h")
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_unknown_command_is_one_clear_error() -> None:
    result = _run("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr
