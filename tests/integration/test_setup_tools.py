"""`kimibridge setup <harness> --tools`: the MCP entry each harness reads, and that entry, run
as the harness would run it, serves Kimi's tools; --undo takes it out again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from kimibridge.tools.spec import TOOL_NAMES
from tests.integration.cli_account_helpers import kb as run_kb

pytestmark = pytest.mark.integration

CLAUDE_JSON = b'{\n  "numStartups": 7,\n  "mcpServers": {"mine": {"command": "my-server"}}\n}\n'


def kb(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kb(*args, env=dict(os.environ))


def _entry_file(harness: str, home: Path) -> tuple[Path, tuple[str, ...]]:
    if harness == "claude":
        return home / ".claude.json", ("mcpServers", "kimibridge")
    if harness == "opencode":
        return home / ".config" / "opencode" / "opencode.json", ("mcp", "kimibridge")
    return home / ".kimi" / "mcp.json", ("mcpServers", "kimibridge")


def _dig(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        data = data[key]
    return data


async def _serves_the_tools(command: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    """Start the entry's command with only the entry's env, as MCP clients do."""
    params = StdioServerParameters(
        command=command[0], args=command[1:], env={"PATH": "/usr/bin:/bin", **env}, cwd=str(cwd)
    )
    async with Client(params, read_timeout_seconds=60) as client:
        return {t.name for t in (await client.list_tools()).tools}


@pytest.mark.parametrize("harness", ["claude", "opencode", "kimi"])
async def test_setup_tools_registers_a_working_server_and_undo_removes_it(
    harness: str, isolated_home: Path, tmp_path: Path
) -> None:
    path, keys = _entry_file(harness, isolated_home)
    if harness == "claude":
        path.write_bytes(CLAUDE_JSON)
    before = path.read_bytes() if path.exists() else None
    shown = kb("setup", harness, "--tools", "--print")
    assert shown.returncode == 0, shown.stderr
    assert '"kimibridge"' in shown.stdout
    assert (path.read_bytes() if path.exists() else None) == before  # --print wrote nothing

    done = kb("setup", harness, "--tools")
    assert done.returncode == 0, done.stderr
    assert f"wrote {path}" in done.stdout
    data = json.loads(path.read_text())
    entry = _dig(data, keys)
    if harness == "claude":
        assert data["numStartups"] == 7 and data["mcpServers"]["mine"] == {"command": "my-server"}
        assert entry["type"] == "stdio"
    if harness == "opencode":
        assert entry["type"] == "local" and entry["enabled"] is True
        command, env = entry["command"], entry["environment"]
    else:
        command, env = [entry["command"], *entry["args"]], entry["env"]
    assert command == [sys.executable, "-m", "kimibridge", "mcp"]
    assert env["KIMIBRIDGE_HOME"] == os.environ["KIMIBRIDGE_HOME"]
    assert not any("KEY" in name or "TOKEN" in name for name in env)

    project = tmp_path / "project"
    project.mkdir()
    assert await _serves_the_tools(command, env, project) == set(TOOL_NAMES)

    undone = kb("setup", harness, "--undo")
    assert undone.returncode == 0, undone.stderr
    if harness == "claude":
        assert path.read_bytes() == CLAUDE_JSON
    else:
        assert not path.exists() or keys[-1] not in json.dumps(json.loads(path.read_text()))


def test_pi_has_no_mcp_client_and_setup_writes_nothing(isolated_home: Path) -> None:
    result = kb("setup", "pi", "--tools")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "does not load MCP servers" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (isolated_home / ".pi").exists()


@pytest.mark.parametrize(
    ("mine", "expected"), [(None, 200_000), (30_000, 200_000), (600_000, 600_000)]
)
def test_setup_kimi_tools_lets_a_tool_call_outlast_kimis_180_s(
    isolated_home: Path, mine: int | None, expected: int
) -> None:
    import tomlkit

    from kimibridge.kimi.upstream_responses import TOOL_TIMEOUTS

    config = isolated_home / ".kimi" / "config.toml"
    config.parent.mkdir()
    original = "# mine\ntelemetry = false\n"
    if mine is not None:
        original += f"\n[mcp.client]\ntool_call_timeout_ms = {mine}\n"
    config.write_text(original)
    done = kb("setup", "kimi", "--tools")
    assert done.returncode == 0, done.stderr
    data = tomlkit.parse(config.read_text()).unwrap()
    assert data["mcp"]["client"]["tool_call_timeout_ms"] == expected
    assert TOOL_TIMEOUTS.total is not None and expected > TOOL_TIMEOUTS.total * 1000
    assert config.read_text().startswith("# mine\n")
    assert kb("setup", "kimi", "--undo").returncode == 0
    assert config.read_text() == original
