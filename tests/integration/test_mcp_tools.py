"""`kimibridge mcp` as harnesses run it: a real subprocess, the official MCP client over stdio
and streamable HTTP, the emulator as Kimi (its /search, /fetch and /tools routes)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from kimibridge.gateway.local_auth import LocalKeys
from kimibridge.testing import EmulatorHandle
from kimibridge.tools.spec import DATA_SOURCES, TOOL_NAMES
from tests.integration.cli_account_helpers import GOOD_KEY, cli_env, kb, one_line, paths, read_json

pytestmark = pytest.mark.integration


def _text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


@asynccontextmanager
async def stdio_client(env: dict[str, str], cwd: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "kimibridge", "mcp"], env=env, cwd=str(cwd)
    )
    async with Client(params, read_timeout_seconds=60) as client:
        yield client


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def oauth_env(kimi_emulator: EmulatorHandle) -> dict[str, str]:
    """Signed in with the OAuth device login (the emulator approves after a poll)."""
    env = cli_env(kimi_emulator)
    login = kb("login", "--oauth", "--no-browser", env=env)
    assert login.returncode == 0, login.stderr
    return env


def _tool_requests(kimi: EmulatorHandle, suffix: str) -> list[Any]:
    return [r for r in kimi.requests if r.path == f"/coding/v1{suffix}"]


oauth_login = pytest.mark.kimi_emulator(poll_interval=1)


@oauth_login
async def test_stdio_lists_and_calls_each_tool(
    kimi_emulator: EmulatorHandle, oauth_env: dict[str, str], project: Path
) -> None:
    async with stdio_client(oauth_env, project) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == set(TOOL_NAMES)
        schema = tools["kimi_datasource"].input_schema
        assert schema["properties"]["data_source_name"]["enum"] == list(DATA_SOURCES)

        found = await client.call_tool("moonshot_search", {"query": "kimi k3", "limit": 3})
        assert not found.is_error, _text(found)
        results = json.loads(_text(found))
        assert len(results) == 3
        assert set(results[0]) == {"url", "title", "snippet", "date", "site"}
        assert results[0]["url"].startswith("https://example.com/kimi-k3/")

        page = await client.call_tool("moonshot_fetch", {"url": results[0]["url"]})
        assert not page.is_error, _text(page)
        assert _text(page).startswith("# Emulated page") and results[0]["url"] in _text(page)

        desc = await client.call_tool("kimi_datasource", {"data_source_name": "arxiv"})
        assert not desc.is_error and _text(desc).startswith("# arxiv")
        called = await client.call_tool(
            "kimi_datasource",
            {"data_source_name": "arxiv", "api_name": "search", "params": {"query": "moe"}},
        )
        assert not called.is_error
        assert _text(called).startswith('arxiv.search({"query": "moe"})')

    [search] = _tool_requests(kimi_emulator, "/search")
    assert json.loads(search.body)["text_query"] == "kimi k3"
    assert json.loads(search.body)["limit"] == 3
    assert search.auth == "oauth"
    [fetch] = _tool_requests(kimi_emulator, "/fetch")
    assert fetch.headers["Accept"] == "text/markdown"
    calls = _tool_requests(kimi_emulator, "/tools")
    assert [json.loads(r.body)["method"] for r in calls] == [
        "get_data_source_desc",
        "call_data_source_tool",
    ]
    ids = [r.headers.get("X-Msh-Tool-Call-Id") for r in (search, fetch, *calls)]
    assert all(ids) and len(set(ids)) == len(ids)  # one fresh id per call


@oauth_login
async def test_expired_token_is_refreshed_once_and_the_call_retried(
    kimi_emulator: EmulatorHandle, oauth_env: dict[str, str], project: Path
) -> None:
    before = read_json(paths(oauth_env).credentials_file)["access_token"]
    kimi_emulator.expire_tokens()
    async with stdio_client(oauth_env, project) as client:
        found = await client.call_tool("moonshot_search", {"query": "after expiry"})
        assert not found.is_error, _text(found)
    assert read_json(paths(oauth_env).credentials_file)["access_token"] != before
    assert kimi_emulator.refresh_reuse_count == 0
    statuses = [r.status for r in _tool_requests(kimi_emulator, "/search")]
    assert statuses[-1] == 200


@oauth_login
async def test_upstream_errors_are_readable_tool_errors(
    kimi_emulator: EmulatorHandle, oauth_env: dict[str, str], project: Path
) -> None:
    async with stdio_client(oauth_env, project) as client:
        kimi_emulator.inject("quota", route="/search")
        quota = await client.call_tool("moonshot_search", {"query": "q"})
        assert quota.is_error
        assert "quota" in _text(quota) and "moonshot_search" in _text(quota)

        kimi_emulator.inject("access_terminated", route="/fetch")
        denied = await client.call_tool("moonshot_fetch", {"url": "https://example.com/"})
        assert denied.is_error and "access_terminated_error" in _text(denied)

        bad = await client.call_tool("moonshot_fetch", {"url": "file:///etc/passwd"})
        assert bad.is_error and "not an http(s) URL" in _text(bad)
        unknown = await client.call_tool("kimi_datasource", {"data_source_name": "nope"})
        assert unknown.is_error and "arxiv" in _text(unknown)
    # the bad URL and the unknown datasource never left the machine
    assert len(_tool_requests(kimi_emulator, "/fetch")) == 1
    assert _tool_requests(kimi_emulator, "/tools") == []


async def test_an_api_key_gets_a_clear_tool_error_and_sends_nothing(
    kimi_emulator: EmulatorHandle, project: Path
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator, KIMI_API_KEY=GOOD_KEY)
    async with stdio_client(env, project) as client:
        result = await client.call_tool("moonshot_search", {"query": "q"})
    assert result.is_error
    assert "kimibridge login --oauth" in _text(result)
    assert GOOD_KEY not in _text(result)
    assert _tool_requests(kimi_emulator, "/search") == []


async def test_not_signed_in_lists_tools_and_says_how_to_sign_in(
    kimi_emulator: EmulatorHandle, project: Path
) -> None:
    async with stdio_client(cli_env(kimi_emulator), project) as client:
        assert len((await client.list_tools()).tools) == 3
        result = await client.call_tool("kimi_datasource", {"data_source_name": "imf"})
    assert result.is_error and "kimibridge login" in _text(result)


async def test_project_file_switches_tools_off_over_user_config(
    kimi_emulator: EmulatorHandle, project: Path
) -> None:
    env = cli_env(kimi_emulator)
    assert kb("config", "set", "tools.kimi_datasource.enabled", "false", env=env).returncode == 0
    (project / ".kimibridge.toml").write_text(
        "[tools.moonshot_fetch]\nenabled = false\n[tools.kimi_datasource]\nenabled = true\n"
    )
    sub = project / "src"
    sub.mkdir()
    async with stdio_client(env, sub) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"moonshot_search", "kimi_datasource"}
    listed = kb("mcp", "--list", "--project", str(sub), env=env)
    assert "moonshot_fetch   off" in listed.stdout
    assert str(project / ".kimibridge.toml") in listed.stdout


def test_project_file_may_not_touch_other_settings(project: Path) -> None:
    (project / ".kimibridge.toml").write_text('api_base_url = "https://evil.example"\n')
    result = kb("mcp", "--list", "--project", str(project), env=cli_env())
    assert result.returncode == 1
    assert "may only hold a [tools] table" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def http_server(oauth_env: dict[str, str], project: Path) -> Iterator[tuple[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "mcp", "--http", "--port", "0"],
        env=oauth_env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "kimibridge mcp: http://127.0.0.1:" in line, line
        url = line.split()[2]
        key = LocalKeys.load_or_create(paths(oauth_env).config_dir).default
        yield url, key
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


@oauth_login
async def test_http_needs_the_local_key_and_serves_the_tools(
    kimi_emulator: EmulatorHandle, http_server: tuple[str, str]
) -> None:
    url, key = http_server
    async with httpx2.AsyncClient(timeout=30) as http:
        anonymous = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert anonymous.status_code == 401
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        assert {t.name for t in (await client.list_tools()).tools} == set(TOOL_NAMES)
        kimi_emulator.expire_tokens()
        found = await client.call_tool("moonshot_search", {"query": "over http", "limit": 1})
        assert not found.is_error, _text(found)
        assert len(json.loads(_text(found))) == 1
        page = await client.call_tool("moonshot_fetch", {"url": "https://example.com/a"})
        assert not page.is_error and "https://example.com/a" in _text(page)
        desc = await client.call_tool("kimi_datasource", {"data_source_name": "sec_edgar"})
        assert not desc.is_error and _text(desc).startswith("# sec_edgar")
        kimi_emulator.inject("server_error", route="/search")
        failed = await client.call_tool("moonshot_search", {"query": "again"})
        assert failed.is_error and "500" in _text(failed)
    assert kimi_emulator.refresh_reuse_count == 0


def test_http_refuses_a_busy_port_and_a_remote_host_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = kb("mcp", "--http", "--port", port, env=cli_env())
    assert busy.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in one_line(busy.stderr)
    remote = kb("mcp", "--http", "--host", "0.0.0.0", env=cli_env())
    assert remote.returncode == 1
    assert "not a loopback address" in one_line(remote.stderr)


@oauth_login
async def test_a_login_made_while_the_server_runs_is_used_by_the_next_call(
    kimi_emulator: EmulatorHandle, project: Path
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    async with stdio_client(env, project) as client:
        first = await client.call_tool("moonshot_search", {"query": "q"})
        assert first.is_error and "--oauth" in _text(first)
        login = kb("login", "--oauth", "--no-browser", env=env)
        assert login.returncode == 0, login.stderr
        second = await client.call_tool("moonshot_search", {"query": "q"})
        assert not second.is_error, _text(second)
    [search] = _tool_requests(kimi_emulator, "/search")
    assert search.auth == "oauth"


async def test_offline_answers_from_the_built_in_emulator_without_any_login(project: Path) -> None:
    env = cli_env()  # no emulator, no login, no key
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "kimibridge", "mcp", "--offline"],
        env=env,
        cwd=str(project),
    )
    async with Client(params, read_timeout_seconds=60) as client:
        found = await client.call_tool("moonshot_search", {"query": "offline", "limit": 2})
        assert not found.is_error, _text(found)
        assert [r["url"] for r in json.loads(_text(found))] == [
            "https://example.com/offline/1",
            "https://example.com/offline/2",
        ]
        desc = await client.call_tool("kimi_datasource", {"data_source_name": "imf"})
        assert not desc.is_error and _text(desc).startswith("# imf")
