"""Real agent CLIs through `kimibridge serve` itself (the command users run, a separate process)
to the emulator: Claude Code 2.1.330 (Anthropic in, OpenAI upstream) and pi 0.73.1 (OpenAI in),
each a text turn and a Bash round trip. Signed in with an API key only, so the identity is the
honest default (`harness`): each agent's own User-Agent goes upstream, no kimi-cli header."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kimibridge.testing import EmulatorHandle
from tests.e2e.agents import AgentResult, claude_code, openai_tool_results, pi, run_agent

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-kimi-serve-e2e"


@dataclass
class Served:
    url: str
    key: str
    kimi: EmulatorHandle


def _kb(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def served(kimi_emulator: EmulatorHandle, isolated_home: Path) -> Iterator[Served]:
    kimi_emulator.add_api_key(UPSTREAM_KEY)
    env = {
        **os.environ,
        "KIMI_API_KEY": UPSTREAM_KEY,
        "KIMI_CODE_BASE_URL": kimi_emulator.base_url,
        "KIMI_CODE_OAUTH_HOST": kimi_emulator.url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    pidfile = isolated_home / ".kimibridge" / "state" / "gateway.json"
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {proc.stderr and proc.stderr.read()}")
            time.sleep(0.05)
        url = str(json.loads(pidfile.read_text())["url"])
        yield Served(url, _kb("key"), kimi_emulator)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err, err


def _model_requests(kimi: EmulatorHandle) -> list[Any]:
    return [r for r in kimi.requests if r.path.endswith("/chat/completions")]


def _final_text(result: AgentResult) -> str:
    finals = [e for e in result.json_lines() if e.get("type") == "result"]
    assert finals, result.describe()
    return str(finals[-1]["result"])


def _pi_texts(result: AgentResult) -> list[str]:
    texts: list[str] = []
    for event in result.json_lines():
        message: Any = event.get("message")
        if event.get("type") == "message_end" and message.get("role") == "assistant":
            texts += [p["text"] for p in message["content"] if p.get("type") == "text"]
    return texts


def _assert_clean(result: AgentResult) -> None:
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()


def _assert_honest_identity(requests: list[Any], agent_prefix: str) -> None:
    for r in requests:
        assert r.headers.get("User-Agent", "").startswith(agent_prefix), r.headers
        assert not [h for h in r.headers if h.lower().startswith("x-msh-")]
        assert "KimiCLI" not in r.headers.get("User-Agent", "")


def test_claude_code_through_serve(served: Served, tmp_path: Path) -> None:
    text = run_agent(claude_code(tmp_path / "t", served.url, served.key, "Say hello to serve"))
    _assert_clean(text)
    assert _final_text(text) == "Hello from the Kimi emulator. You said: Say hello to serve"
    command = claude_code(
        tmp_path / "b",
        served.url,
        served.key,
        'Please run [[call Bash {"command": "echo hi > out.txt"}]]',
    )
    tool = run_agent(command)
    _assert_clean(tool)
    assert (command.cwd / "out.txt").read_text() == "hi\n", tool.describe()
    assert _final_text(tool) == "Tool result: (Bash completed with no output)"
    requests = _model_requests(served.kimi)
    assert len(requests) == 3  # text turn, tool call, answer to the tool result
    assert openai_tool_results(requests[-1].json())
    _assert_honest_identity(requests, "claude-cli/2.1.330")


def test_pi_through_serve(served: Served, tmp_path: Path) -> None:
    base = served.url + "/v1"
    ua = {"User-Agent": "pi/0.73.1"}
    text = run_agent(pi(tmp_path / "t", base, served.key, "Say hello to serve", headers=ua))
    _assert_clean(text)
    assert _pi_texts(text) == ["Hello from the Kimi emulator. You said: Say hello to serve"]
    command = pi(
        tmp_path / "b",
        base,
        served.key,
        'Please run [[call bash {"command": "echo hi > out.txt"}]]',
        headers=ua,
    )
    tool = run_agent(command)
    _assert_clean(tool)
    assert (command.cwd / "out.txt").read_text() == "hi\n", tool.describe()
    assert _pi_texts(tool)[-1] == "Tool result: (no output)"
    requests = _model_requests(served.kimi)
    assert len(requests) == 3
    assert openai_tool_results(requests[-1].json())
    _assert_honest_identity(requests, "pi/0.73.1")
