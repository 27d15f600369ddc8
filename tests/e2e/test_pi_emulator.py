"""The real pi 0.73.1, pointed straight at the emulator's OpenAI side, writes a file through ``bash``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimibridge.testing import EmulatorHandle
from tests.e2e.agents import AgentResult, openai_tool_results, pi, run_agent

pytestmark = pytest.mark.e2e

API_KEY = "sk-kimi-e2e-pi-0001"
# pi sends `OpenAI/JS <ver>`, which Kimi (and so the emulator) refuses; pi's models.json `headers`
# replace it. Through the gateway this is the gateway's job.
PI_UA = "pi/0.73.1"


def _assistant_texts(result: AgentResult) -> list[str]:
    texts: list[str] = []
    for event in result.json_lines():
        message: Any = event.get("message")
        if event.get("type") == "message_end" and message.get("role") == "assistant":
            texts += [p["text"] for p in message["content"] if p.get("type") == "text"]
    return texts


def test_bash_tool_round_trip_writes_a_file(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = pi(
        tmp_path,
        kimi_emulator.base_url,
        API_KEY,
        'Please run [[call bash {"command": "echo hi > out.txt"}]]',
        headers={"User-Agent": PI_UA},
    )

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    requests = [r for r in kimi_emulator.requests if r.path.endswith("/chat/completions")]
    assert len(requests) == 2, [r.path for r in kimi_emulator.requests]
    assert all(r.headers.get("User-Agent") == PI_UA for r in kimi_emulator.requests)
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in requests)
    first, second = (r.json() for r in requests)
    assert openai_tool_results(first) == []
    calls = [c for m in second["messages"] for c in m.get("tool_calls") or []]
    assert [c["function"]["name"] for c in calls] == ["bash"]
    results = openai_tool_results(second)
    assert [r["tool_call_id"] for r in results] == [calls[0]["id"]]
    assert results[0]["content"] == "(no output)"
    assert _assistant_texts(result)[-1] == "Tool result: (no output)"


def test_text_turn(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = pi(
        tmp_path, kimi_emulator.base_url, API_KEY, "hello pi", headers={"User-Agent": PI_UA}
    )

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert _assistant_texts(result) == ["Hello from the Kimi emulator. You said: hello pi"]
    assert result.written == {}
