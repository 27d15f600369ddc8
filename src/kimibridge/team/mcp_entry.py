"""Where agents find the team MCP server: its path on the gateway and their config entry.

Kept apart from ``team.agent_mcp`` (which imports the MCP SDK) so a provider writing an agent's
config does not load the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["MCP_PATH", "SERVER_NAME", "TEAM_TOOLS", "agent_mcp_entry", "team_tools_allowed"]

MCP_PATH: Final = "/mcp/team"
SERVER_NAME: Final = "kimibridge-team"
AGENT_HEADER: Final = "X-Kimibridge-Agent"
TEAM_TOOLS: Final = ("handoff", "assign", "send_message", "list_agents")


def team_tools_allowed(allowed_tools: Sequence[str] | None) -> bool:
    """Whether a profile gets the team server: unrestricted ones do; a restricted one only
    when its list names the server or one of its tools (a reviewer limited to reading files
    must not be able to start an unrestricted worker)."""
    if allowed_tools is None or "*" in allowed_tools:
        return True
    names = {SERVER_NAME, f"@{SERVER_NAME}", *TEAM_TOOLS}
    return any(tool in names or tool.startswith(f"@{SERVER_NAME}/") for tool in allowed_tools)


def agent_mcp_entry(gateway_url: str, api_key: str, agent_id: str) -> dict[str, object]:
    """The harness MCP config entry for the team server (the ``mcpServers`` shape kimi-cli and
    Claude Code read): the agent's own key authenticates it; the agent id rides along in
    ``env`` and a header for tools that read them (the server itself trusts only the key)."""
    from kimibridge.team.providers import AGENT_ID_ENV

    return {
        "url": gateway_url.rstrip("/") + MCP_PATH,
        "transport": "http",
        "type": "http",
        "headers": {"Authorization": f"Bearer {api_key}", AGENT_HEADER: agent_id},
        "env": {AGENT_ID_ENV: agent_id},
    }
