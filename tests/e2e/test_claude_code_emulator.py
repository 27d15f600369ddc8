"""The real Claude Code 2.1.330, pointed straight at the emulator's Anthropic side, driven by its directive.

Each run is loopback-only (network namespace) and traced (strace): besides what the client does, the
tests check it never tried to reach anything but the emulator.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kimibridge.testing import EmulatorHandle, RecordedRequest
from tests.e2e.agents import AgentResult, claude_code, run_agent

pytestmark = pytest.mark.e2e

API_KEY = "sk-kimi-e2e-claude-code-0001"
CLAUDE_UA = "claude-cli/2.1.330"


def _messages_requests(kimi: EmulatorHandle) -> list[RecordedRequest]:
    return [r for r in kimi.requests if r.path.endswith("/v1/messages")]


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "user" and isinstance(content, list):
            found += [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return found


def _tool_uses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    uses: list[dict[str, Any]] = []
    for event in events:
        message = event.get("message")
        if event.get("type") == "assistant" and isinstance(message, dict):
            uses += [b for b in message.get("content", []) if b.get("type") == "tool_use"]
    return uses


def _final(result: AgentResult) -> dict[str, Any]:
    finals = [e for e in result.json_lines() if e.get("type") == "result"]
    assert finals, f"no result event\n{result.describe()}"
    return finals[-1]


def _assert_clean(result: AgentResult, kimi: EmulatorHandle) -> None:
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert result.connects, "strace saw no connection at all: the audit is not working"
    assert kimi.requests, "the emulator received nothing"
    for request in kimi.requests:
        ua = request.headers.get("User-Agent", "")
        assert ua.startswith(CLAUDE_UA), f"{request.method} {request.path} came with UA {ua!r}"


def test_bash_tool_round_trip_writes_a_file(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = claude_code(
        tmp_path,
        kimi_emulator.anthropic_base_url,
        API_KEY,
        'Please run [[call Bash {"command": "echo hi > out.txt"}]]',
    )

    result = run_agent(command)

    _assert_clean(result, kimi_emulator)
    assert (command.cwd / "out.txt").read_text() == "hi\n", result.describe()
    assert result.written == {"out.txt": b"hi\n"}

    events = result.json_lines()
    uses = _tool_uses(events)
    assert [u["name"] for u in uses] == ["Bash"], result.describe()
    assert uses[0]["input"]["command"] == "echo hi > out.txt"

    # The tool result went back upstream, answering the emulator's own tool_use id.
    requests = _messages_requests(kimi_emulator)
    assert len(requests) == 2, [r.path for r in kimi_emulator.requests]
    first, second = (r.json() for r in requests)
    assert _tool_results(first) == []
    results = _tool_results(second)
    assert len(results) == 1, json.dumps(second.get("messages"), indent=1)[-3000:]
    assert results[0]["tool_use_id"] == uses[0]["id"]
    assert results[0].get("is_error") in (None, False), results[0]
    assert results[0]["content"] == "(Bash completed with no output)"
    assert all(r.query.get("beta") == "true" for r in requests)
    assert all(r.headers.get("x-api-key") == API_KEY for r in requests)

    # The final answer is the emulator's quote of the tool result.
    final = _final(result)
    assert final["subtype"] == "success", final
    assert final["result"] == "Tool result: (Bash completed with no output)", final


@pytest.mark.parametrize("auth_token", [False, True], ids=["x-api-key", "bearer"])
def test_text_turn(kimi_emulator: EmulatorHandle, tmp_path: Path, auth_token: bool) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = claude_code(
        tmp_path,
        kimi_emulator.anthropic_base_url,
        API_KEY,
        "Say hello to the emulator",
        auth_token=auth_token,
    )

    result = run_agent(command)

    _assert_clean(result, kimi_emulator)
    [request] = _messages_requests(kimi_emulator)
    if auth_token:
        assert request.headers.get("Authorization") == f"Bearer {API_KEY}"
        assert "x-api-key" not in request.headers
    else:
        assert request.headers.get("x-api-key") == API_KEY
        assert "Authorization" not in request.headers
    final = _final(result)
    assert final["result"] == "Hello from the Kimi emulator. You said: Say hello to the emulator"
    assert result.written == {}


def test_unknown_key_fails_with_the_emulators_401(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    command = claude_code(
        tmp_path,
        kimi_emulator.anthropic_base_url,
        "sk-kimi-not-registered",
        "hello",
        max_retries=0,  # Claude Code retries a 401 for minutes by default
    )

    result = run_agent(command)

    assert result.returncode != 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert [r.status for r in _messages_requests(kimi_emulator)] == [401]
    final = _final(result)
    assert final["is_error"] is True
    assert final["api_error_status"] == 401


def test_the_audit_sees_what_the_switches_prevent(
    kimi_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Without the traffic switches Claude Code looks up outside hosts: the sandbox makes that fail
    (the run still succeeds) and the strace audit reports it, so the clean runs above mean something.
    """
    kimi_emulator.add_api_key(API_KEY)
    command = claude_code(tmp_path, kimi_emulator.anthropic_base_url, API_KEY, "hello")
    env = dict(command.env)
    del env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"], env["DISABLE_TELEMETRY"]

    result = run_agent(dataclasses.replace(command, env=env))

    assert result.returncode == 0, result.describe()
    assert result.outside_connects, result.describe()
    assert all(c.result.startswith("-1") for c in result.outside_connects), result.describe()
