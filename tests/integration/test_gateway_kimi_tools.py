"""Kimi's tools on the gateway's own port (`<gateway>/mcp/kimi`): `kimibridge serve` as users
run it, the official MCP client with the gateway's local key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from kimibridge.testing import EmulatorHandle
from kimibridge.tools.spec import TOOL_NAMES
from tests.integration.cli_account_helpers import GOOD_KEY, cli_env, kb
from tests.integration.test_gateway_identity import serving

pytestmark = pytest.mark.integration


@asynccontextmanager
async def mcp_client(url: str, key: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url + "/mcp/kimi", http_client=http)) as client,
    ):
        yield client


def _text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


@pytest.mark.kimi_emulator(poll_interval=1)
async def test_signed_in_gateway_serves_the_tools_with_its_credential(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    assert kb("login", "--oauth", "--no-browser", env=env).returncode == 0
    with serving(env) as (url, key):
        async with mcp_client(url, key) as client:
            assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
            kimi_emulator.expire_tokens()  # the gateway's token source refreshes for the tools too
            found = await client.call_tool("moonshot_search", {"query": "via gateway", "limit": 1})
            assert not found.is_error, _text(found)
            assert json.loads(_text(found))[0]["url"] == "https://example.com/via-gateway/1"
        async with httpx2.AsyncClient(timeout=10) as http:
            anonymous = await http.post(
                url + "/mcp/kimi",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream"},
            )
        assert anonymous.status_code == 401
    searches = [r for r in kimi_emulator.requests if r.path == "/coding/v1/search"]
    assert [r.status for r in searches] == [401, 200]  # expired, refreshed once, sent again
    assert searches[1].auth == "oauth" and searches[1].headers.get("X-Msh-Tool-Call-Id")
    assert kimi_emulator.refresh_reuse_count == 0


async def test_api_key_gateway_says_the_tools_need_oauth(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    with serving(env) as (url, key):
        async with mcp_client(url, key) as client:
            result = await client.call_tool("moonshot_fetch", {"url": "https://example.com/"})
    assert result.is_error and "--oauth" in _text(result)
    assert [r for r in kimi_emulator.requests if r.path == "/coding/v1/fetch"] == []


async def test_offline_gateway_answers_from_its_emulator() -> None:
    with serving(cli_env(), "--offline") as (url, key):
        async with mcp_client(url, key) as client:
            desc = await client.call_tool("kimi_datasource", {"data_source_name": "arxiv"})
    assert not desc.is_error and _text(desc).startswith("# arxiv")
