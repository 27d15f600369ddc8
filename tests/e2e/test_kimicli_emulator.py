"""The real kimi-cli 1.52.0 (``python -m kimi_cli.cli``, never the ``kimi`` stub), pointed straight at the
emulator's OpenAI side, writes a file through ``Shell``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimibridge.testing import EmulatorHandle
from tests.e2e.agents import AgentResult, kimi_cli, openai_tool_results, run_agent

pytestmark = pytest.mark.e2e

API_KEY = "sk-kimi-e2e-kimi-cli-0001"
KIMI_UA = "KimiCLI/1.52.0"


def _assistant_texts(result: AgentResult) -> list[str]:
    lines: list[dict[str, Any]] = result.json_lines()
    return [
        e["content"]
        for e in lines
        if e.get("role") == "assistant" and isinstance(e.get("content"), str)
    ]


def test_shell_tool_round_trip_writes_a_file(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = kimi_cli(
        tmp_path,
        kimi_emulator.base_url,
        API_KEY,
        'Please run [[call Shell {"command": "echo hi > out.txt"}]]',
    )

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    requests = [r for r in kimi_emulator.requests if r.path.endswith("/chat/completions")]
    assert len(requests) == 2, [r.path for r in kimi_emulator.requests]
    for request in requests:
        assert request.headers.get("User-Agent") == KIMI_UA
        assert request.headers.get("X-Msh-Platform") == "kimi_cli"
    first, second = (r.json() for r in requests)
    assert openai_tool_results(first) == []
    calls = [c for m in second["messages"] for c in m.get("tool_calls") or []]
    assert [c["function"]["name"] for c in calls] == ["Shell"]
    results = openai_tool_results(second)
    assert [r["tool_call_id"] for r in results] == [calls[0]["id"]]
    assert "Command executed successfully" in str(results[0]["content"])
    assert _assistant_texts(result)[-1].startswith("Tool result: <system>Command executed")


def test_text_turn(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    kimi_emulator.add_api_key(API_KEY)
    command = kimi_cli(tmp_path, kimi_emulator.base_url, API_KEY, "hello kimi")

    result = run_agent(command)

    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert _assistant_texts(result) == ["Hello from the Kimi emulator. You said: hello kimi"]
