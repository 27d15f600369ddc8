"""Kimi's server-side tools in a real harness: after `kimibridge setup kimi --tools`, a plain
kimi-cli 1.52 calls `moonshot_search` through `kimibridge mcp` (which it starts itself) in a
scripted emulator turn; the search reaches Kimi (the emulator) with the OAuth login, and the
result goes back to the model. Loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import kimibridge
from kimibridge.testing import EmulatorHandle
from tests.clients import kimi_cli_python
from tests.e2e.agents import AgentCommand, _base_env, run_agent

pytestmark = [pytest.mark.e2e, pytest.mark.kimi_emulator(poll_interval=1)]

USER_CONFIG = b"telemetry = false\n"
PROMPT = '[[call moonshot_search {"query": "kimi k3 release", "limit": 2}]]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kb_env(home: Path, kimi: EmulatorHandle, port: int, share: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI", "ANTHROPIC", "OPENAI"))}
    env.update(
        {
            "PYTHONPATH": str(Path(kimibridge.__file__).resolve().parents[1]),
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore",
            "KIMIBRIDGE_HOME": str(home),
            "KIMIBRIDGE_PORT": str(port),
            "HOME": str(home.parent),
            "KIMI_SHARE_DIR": str(share),
            "KIMI_CODE_BASE_URL": kimi.base_url,
            "KIMI_CODE_OAUTH_HOST": kimi.oauth_host,
        }
    )
    return env


def _kb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def serve(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Signed in to the emulator with the OAuth login, and `kimibridge serve` in front of it."""
    port = _free_port()
    env = _kb_env(tmp_path / "home" / ".kimibridge", kimi_emulator, port, tmp_path / "share")
    login = _kb(env, "login", "--oauth", "--no-browser")
    assert login.returncode == 0, login.stderr
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--no-ledger"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail((tmp_path / "serve.log").read_text())
                time.sleep(0.1)
        else:
            pytest.fail("serve did not become healthy")
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_kimi_cli_calls_moonshot_search_through_kimibridge_mcp(
    kimi_emulator: EmulatorHandle, serve: dict[str, str], tmp_path: Path
) -> None:
    python = kimi_cli_python()
    share = Path(serve["KIMI_SHARE_DIR"])
    share.mkdir(parents=True, exist_ok=True)
    (share / "config.toml").write_bytes(USER_CONFIG)
    done = _kb(serve, "setup", "kimi", "--tools")
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
