"""Real agent CLIs through the gateway to the emulator: Claude Code (Anthropic in, OpenAI upstream)
and pi (OpenAI in), each a text turn and a tool round trip, loopback only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimibridge.testing import EmulatorHandle
from tests.e2e.agents import (
    AgentResult,
    claude_code,
    kimi_cli,
    openai_tool_results,
    opencode,
    pi,
    run_agent,
)
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[GatewayEnv]:
    # The honest default: each agent's own User-Agent goes upstream (Kimi admits coding agents).
    with gateway_env(kimi_emulator, tmp_path / "gw", preset="harness") as e:
        yield e


def _chat_requests(kimi: EmulatorHandle) -> list[dict[str, Any]]:
    return [r.json() for r in kimi.requests if r.path.endswith("/chat/completions")]


def _final(result: AgentResult) -> dict[str, Any]:
    finals = [e for e in result.json_lines() if e.get("type") == "result"]
    assert finals, result.describe()
    return finals[-1]


def _assert_clean(result: AgentResult) -> None:
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()


def test_claude_code_text_turn(env: GatewayEnv, tmp_path: Path) -> None:
    result = run_agent(claude_code(tmp_path, env.url, env.key, "Say hello to the emulator"))
    _assert_clean(result)
    final = _final(result)
    assert final["result"] == "Hello from the Kimi emulator. You said: Say hello to the emulator"
    [sent] = _chat_requests(env.kimi)
    blob = json.dumps(sent)
    assert "x-anthropic-billing-header" not in blob  # stripped: the prefix cache survives sessions
    assert sent["model"] == "kimi-for-coding"
    assert not [m for m in sent["messages"][1:] if m["role"] == "system"]  # inline system folded
    ua = [
        r.headers.get("User-Agent", "")
        for r in env.kimi.requests
        if r.path.endswith("/chat/completions")
    ]
    assert ua[0].startswith("claude-cli/2.1.330")


def test_claude_code_bash_round_trip_anthropic_upstream(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    with gateway_env(
        kimi_emulator, tmp_path / "gw", preset="harness", upstream_protocol="anthropic"
    ) as env:
        command = claude_code(
            tmp_path, env.url, env.key, 'Please run [[call Bash {"command": "echo hi > out.txt"}]]'
        )
        result = run_agent(command)
    _assert_clean(result)
    assert (command.cwd / "out.txt").read_text() == "hi\n", result.describe()
    assert _final(result)["result"] == "Tool result: (Bash completed with no output)"
    sent = [r.json() for r in kimi_emulator.requests if r.path.endswith("/messages")]
    assert len(sent) == 2
    assert all("context_management" not in b for b in sent)
    assert not [m for b in sent for m in b["messages"] if m["role"] == "system"]


def test_claude_code_bash_round_trip(env: GatewayEnv, tmp_path: Path) -> None:
    command = claude_code(
        tmp_path, env.url, env.key, 'Please run [[call Bash {"command": "echo hi > out.txt"}]]'
    )
    result = run_agent(command)
    _assert_clean(result)
    assert (command.cwd / "out.txt").read_text() == "hi\n", result.describe()
    final = _final(result)
    assert final["result"] == "Tool result: (Bash completed with no output)", final
    first, second = _chat_requests(env.kimi)
    results = openai_tool_results(second)
    assert [r["content"] for r in results] == ["(Bash completed with no output)"]
    assistant = [m for m in second["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
    assert assistant and assistant[-1]["reasoning_content"]  # Kimi needs it with thinking on
    assert first["prompt_cache_key"] == second["prompt_cache_key"]  # Claude Code's session


def test_pi_text_and_bash_round_trip(env: GatewayEnv, tmp_path: Path) -> None:
    command = pi(
        tmp_path,
        env.openai_base,
        env.key,
        'Please run [[call bash {"command": "echo hi > out.txt"}]]',
        headers={"User-Agent": "pi/0.73.1"},
    )
    result = run_agent(command)
    _assert_clean(result)
    assert (command.cwd / "out.txt").read_text() == "hi\n", result.describe()
    requests = _chat_requests(env.kimi)
    assert len(requests) == 2
    assert openai_tool_results(requests[1])
    assert all(r["messages"][0]["role"] == "system" for r in requests)  # developer -> system
    assert "reasoning_effort" not in requests[0]
    assert requests[0]["prompt_cache_key"] == requests[1]["prompt_cache_key"]


def test_opencode_bash_round_trip(env: GatewayEnv, tmp_path: Path) -> None:
    prompt = ["Please", "run", "[[call", "bash", '{"command":', '"echo', "hi", ">", 'out.txt"}]]']
    command = opencode(tmp_path, env.openai_base, env.key, prompt)
    result = run_agent(command)
    _assert_clean(result)
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    bodies = _chat_requests(env.kimi)
    assert any(openai_tool_results(b) for b in bodies)
    assert all("prompt_cache_key" in b and "thinking" in b for b in bodies)


def test_kimi_cli_shell_round_trip(env: GatewayEnv, tmp_path: Path) -> None:
    command = kimi_cli(
        tmp_path,
        env.openai_base,
        env.key,
        'Please run [[call Shell {"command": "echo hi > out.txt"}]]',
    )
    result = run_agent(command)
    _assert_clean(result)
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    first, second = _chat_requests(env.kimi)
    assert openai_tool_results(second)
    assert first["prompt_cache_key"] == second["prompt_cache_key"]  # kimi-cli's own session key
    assert first["thinking"] == {"type": "disabled"}  # kimi-cli's explicit choice is kept
