"""Kimi's server-side tools in a real harness: after `kimibridge setup kimi --tools`, a plain
kimi-cli 1.52 calls `moonshot_search` through `kimibridge mcp` (which it starts itself) in a
scripted emulator turn; the search reaches Kimi (the emulator) with the OAuth login, and the
result goes back to the model. Loopback only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimibridge.testing import EmulatorHandle
from tests.clients import kimi_cli_python
from tests.e2e.agents import AgentCommand, _base_env, run_agent
from tests.e2e.kb_process import free_port, product_env, run_kb, serving

pytestmark = [pytest.mark.e2e, pytest.mark.kimi_emulator(poll_interval=1)]

USER_CONFIG = b"telemetry = false\n"
PROMPT = '[[call moonshot_search {"query": "kimi k3 release", "limit": 2}]]'


@pytest.fixture
def serve(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Signed in to the emulator with the OAuth login, and `kimibridge serve` in front of it."""
    env = product_env(
        tmp_path / "home" / ".kimibridge",
        free_port(),
        KIMI_SHARE_DIR=str(tmp_path / "share"),
        KIMI_CODE_BASE_URL=kimi_emulator.base_url,
        KIMI_CODE_OAUTH_HOST=kimi_emulator.oauth_host,
    )
    login = run_kb(env, "login", "--oauth", "--no-browser")
    assert login.returncode == 0, login.stderr
    with serving(env, tmp_path / "serve.log"):
        yield env


def test_kimi_cli_calls_moonshot_search_through_kimibridge_mcp(
    kimi_emulator: EmulatorHandle, serve: dict[str, str], tmp_path: Path
) -> None:
    python = kimi_cli_python()
    share = Path(serve["KIMI_SHARE_DIR"])
    share.mkdir(parents=True, exist_ok=True)
    (share / "config.toml").write_bytes(USER_CONFIG)
    done = run_kb(serve, "setup", "kimi", "--tools")
    assert done.returncode == 0, done.stderr
    assert f"wrote {share / 'mcp.json'}" in done.stdout

    kimi_home, work = tmp_path / "kimi-home", tmp_path / "kimi-work"
    kimi_home.mkdir()
    work.mkdir()
    agent_env = _base_env(kimi_home)
    agent_env.update({"KIMI_SHARE_DIR": str(share), "KIMI_CLI_NO_AUTO_UPDATE": "1"})
    argv = (str(python), "-m", "kimi_cli.cli", "--print", "--output-format", "stream-json")
    port = int(serve["KIMIBRIDGE_PORT"])
    command = AgentCommand(
        "kimi-cli", (*argv, "-p", PROMPT), agent_env, work, kimi_home, (port, kimi_emulator.port)
    )
    result = run_agent(command, timeout=180)
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()

    searches = [r for r in kimi_emulator.requests if r.path == "/coding/v1/search"]
    assert len(searches) == 1, result.describe()
    assert json.loads(searches[0].body)["text_query"] == "kimi k3 release"
    assert searches[0].auth == "oauth"
    assert searches[0].headers.get("X-Msh-Tool-Call-Id")

    # kimi-cli sent the tool's answer back to the model: the emulator echoes a tool result
    texts = [
        e["content"]
        for e in result.json_lines()
        if e.get("role") == "assistant" and isinstance(e.get("content"), str) and e["content"]
    ]
    assert texts and texts[-1].startswith("Tool result:"), result.describe()
    assert "https://example.com/kimi-k3-release/1" in texts[-1], result.describe()
