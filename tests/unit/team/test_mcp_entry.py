"""Which agents get the team MCP server, and the entry their harness config carries."""

from __future__ import annotations

import json
from pathlib import Path

from kimibridge.team.mcp_entry import SERVER_NAME, agent_mcp_entry, team_tools_allowed
from kimibridge.team.providers import provider_for
from tests.unit.team.test_provider_kimi import KEY, _ctx


def test_restricted_profiles_get_team_tools_only_when_named() -> None:
    assert team_tools_allowed(None)
    assert team_tools_allowed(("*",))
    assert not team_tools_allowed(("fs_read", "fs_list"))
    assert team_tools_allowed(("fs_read", "send_message"))
    assert team_tools_allowed((f"@{SERVER_NAME}",))


def test_kimi_agents_get_the_team_server_with_their_own_key(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    provider_for("kimi_cli").prepare(ctx)
    servers = json.loads((ctx.agent_dir / "mcp.json").read_text())["mcpServers"]
    team = servers[SERVER_NAME]
    assert team["url"] == "http://127.0.0.1:9999/mcp/team"
    assert team["headers"]["Authorization"] == f"Bearer {KEY}"
    assert team["env"] == {"KIMIBRIDGE_AGENT_ID": "dev", "CAO_TERMINAL_ID": "dev"}
    assert "tools" in servers  # the profile's own servers stay


def test_entry_shape() -> None:
    entry = agent_mcp_entry("http://127.0.0.1:9/", "kb-x", "w1")
    assert entry["url"] == "http://127.0.0.1:9/mcp/team"
    assert entry["transport"] == "http"
