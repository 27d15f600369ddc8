"""The agent MCP server in a real gateway (uvicorn on loopback, emulator upstream): who calls is
the key, send_message lands in the inbox, list_agents shows the team."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from kimibridge.config import Paths
from kimibridge.gateway import EventBus, Gateway, GatewayConfig, LocalKeys
from kimibridge.gateway.server import GatewayThread
from kimibridge.kimi.endpoints import Endpoints
from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.sources import ApiKeyTokenSource
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.team.agent_mcp import MCP_PATH, TeamExtension
from kimibridge.team.inbox import Inbox
from kimibridge.team.store import Agent, Team, TeamStore, connect
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration


@dataclass
class TeamGateway:
    url: str
    paths: Paths
    keys: dict[str, str]  # agent id -> its gateway key
    default_key: str
    extension: TeamExtension


@pytest.fixture
def team_gateway(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[TeamGateway]:
    paths = Paths.from_env(dict(os.environ))
    kimi_emulator.add_api_key("sk-kimi-team")
    endpoints = Endpoints(
        region="mainland", auth_host=kimi_emulator.url, api_base=kimi_emulator.base_url
    )
    upstream = KimiUpstream(
        kimi_emulator.base_url,
        ApiKeyTokenSource("sk-kimi-team", region="mainland", endpoints=endpoints),
        build_identity("kimibridge", environ=dict(os.environ)),
    )
    local = LocalKeys.load_or_create(paths.config_dir)
    store = TeamStore(connect(paths))
    store.add_team(Team("t", "kb-t", str(tmp_path), 1.0))
    keys: dict[str, str] = {}
    for name in ("sup", "w1"):
        label = f"team-t-{name}"
        keys[name] = local.add(label)
        store.add_agent(
            Agent(
                id=name,
                team="t",
                profile="developer",
                provider="kimi_cli",
                tmux_target=f"kb-t:{name}",
                key_label=label,
                project_dir=str(tmp_path),
                agent_dir=str(tmp_path / name),
                state="running",
                created_at=1.0,
            )
        )
    store.close()
    gateway = Gateway(upstream, local, GatewayConfig(), events=EventBus())
    extension = TeamExtension(paths, dict(os.environ))
    gateway.extensions.append(extension)
    with GatewayThread(gateway) as url:
        yield TeamGateway(url, paths, keys, local.default, extension)


@asynccontextmanager
async def _client(url: str, key: str) -> AsyncIterator[Client]:
    """An MCP client sending ``key`` (the SDK leaves a client it was given open: close it)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url + MCP_PATH, http_client=http)) as client,
    ):
        yield client


def _text(result: object) -> str:
    content = getattr(result, "content", [])
    return "".join(getattr(part, "text", "") for part in content)


async def test_tools_know_the_caller_by_its_key(team_gateway: TeamGateway) -> None:
    async with _client(team_gateway.url, team_gateway.keys["w1"]) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {"handoff", "assign", "send_message", "list_agents"}
        listed = json.loads(_text(await client.call_tool("list_agents", {})))
        assert [(a["id"], a.get("you", False)) for a in listed] == [("sup", False), ("w1", True)]
        # no assigner yet: the receiver must be named
        result = await client.call_tool("send_message", {"text": "hi"})
        assert result.is_error and "to" in _text(result)
        result = await client.call_tool("send_message", {"text": "status: done", "to": "sup"})
        assert not result.is_error, _text(result)
        assert "for sup" in _text(result)
    inbox = Inbox(connect(team_gateway.paths))
    [message] = inbox.messages("sup")
    assert (message.sender, message.text, message.state) == ("w1", "status: done", "pending")


async def test_assigner_is_the_default_receiver(team_gateway: TeamGateway) -> None:
    Inbox(connect(team_gateway.paths)).link("w1", "sup", "assign")
    async with _client(team_gateway.url, team_gateway.keys["w1"]) as client:
        result = await client.call_tool("send_message", {"text": "report"})
        assert not result.is_error, _text(result)
    [message] = Inbox(connect(team_gateway.paths)).messages("sup")
    assert message.text == "report"


async def test_a_key_of_no_team_agent_gets_a_tool_error(team_gateway: TeamGateway) -> None:
    async with _client(team_gateway.url, team_gateway.default_key) as client:
        result = await client.call_tool("list_agents", {})
        assert result.is_error
        assert "no team agent" in _text(result)


def test_no_key_no_mcp(team_gateway: TeamGateway) -> None:
    with httpx2.Client() as http:
        req = http.post(
            team_gateway.url + MCP_PATH,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert req.status_code == 401


def test_the_gateway_reads_the_handoff_timeout_setting(tmp_path: Path) -> None:
    """The gateway process builds its team timeouts from its own settings (file < env)."""
    from kimibridge.errors import ConfigError
    from kimibridge.team.timeouts import TeamTimeouts

    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    paths.config_dir.mkdir()
    paths.config_file.write_text("[team]\nhandoff_timeout = 900\n")
    assert TeamExtension(paths, {}).timeouts == TeamTimeouts(900)
    env = {"KIMIBRIDGE_HANDOFF_TIMEOUT": "45"}
    assert TeamExtension(paths, env).timeouts.mcp_tool_timeout_ms == 105_000
    with pytest.raises(ConfigError, match="KIMIBRIDGE_HANDOFF_TIMEOUT is '0'"):
        TeamExtension(paths, {"KIMIBRIDGE_HANDOFF_TIMEOUT": "0"})


def test_the_handoff_wait_and_the_workers_share_the_gateways_timeouts(
    team_gateway: TeamGateway,
) -> None:
    extension = team_gateway.extension
    assert extension.service is not None and extension.runtime is not None
    assert extension.service.timeouts is extension.timeouts
    assert extension.runtime.timeouts is extension.timeouts
