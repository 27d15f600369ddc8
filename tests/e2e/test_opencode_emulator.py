"""The real opencode 1.18.33, pointed straight at the emulator's OpenAI side, writes a file through ``bash``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.testing import EmulatorHandle
from tests.e2e.agents import AgentResult, openai_tool_results, opencode, run_agent

pytestmark = pytest.mark.e2e

API_KEY = "sk-kimi-e2e-opencode-0001"
OPENCODE_UA = "opencode/1.18.33 "


def _texts(result: AgentResult) -> list[str]:
    return [e["part"]["text"] for e in result.json_lines() if e.get("type") == "text"]


def test_bash_tool_round_trip_writes_a_file(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    # One word per argument: opencode quotes an argument that contains spaces, and joins them.
    prompt = ["Please", "run", "[[call", "bash", '{"command":', '"echo', "hi", ">", 'out.txt"}]]']
    command = opencode(tmp_path, kimi_emulator.base_url, API_KEY, prompt)

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    # opencode asked the npm registry for its plugin SDK and got the sandbox's 404 sink.
    assert any(c.port == command.sink_port for c in result.connects), result.describe()
    assert kimi_emulator.requests
    for request in kimi_emulator.requests:
        assert request.headers.get("User-Agent", "").startswith(OPENCODE_UA), request
    bodies = [r.json() for r in kimi_emulator.requests if r.path.endswith("/chat/completions")]
    with_results = [b for b in bodies if openai_tool_results(b)]
    assert len(with_results) == 1, [len(b["messages"]) for b in bodies]
    calls = [c for m in with_results[0]["messages"] for c in m.get("tool_calls") or []]
    assert [c["function"]["name"] for c in calls] == ["bash"]
    results = openai_tool_results(with_results[0])
    assert [r["tool_call_id"] for r in results] == [calls[0]["id"]]
    assert _texts(result)[-1] == f"Tool result: {results[0]['content']}"
    tool_events = [e for e in result.json_lines() if e.get("type") == "tool_use"]
    assert tool_events[0]["part"]["state"]["input"] == {"command": "echo hi > out.txt"}


def test_text_turn(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = opencode(tmp_path, kimi_emulator.base_url, API_KEY, ["hello", "opencode"])

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert _texts(result) == ["Hello from the Kimi emulator. You said: hello opencode"]
