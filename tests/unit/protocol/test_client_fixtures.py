"""What real clients send (real-clients.md), translated to the other dialect and checked for validity."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from kimibridge.protocol import (
    ToolIdMap,
    anthropic_to_openai_response,
    is_valid_tool_id,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
)

SESSION_B = Path("/work/shared/fixtures/claude-sessions/session-B.jsonl")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "bash",
            "description": "Run",
            "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
            "strict": True,
        },
    },
    {
        "type": "function",
        "function": {"name": "read", "parameters": {"type": "object", "properties": {}}},
    },
]

# pi 0.73.1 (openai-completions, reasoning model): developer first, reasoning_effort, content: null.
PI = {
    "model": "fake-model",
    "stream": True,
    "stream_options": {"include_usage": True},
    "store": False,
    "max_completion_tokens": 8192,
    "reasoning_effort": "medium",
    "messages": [
        {"role": "developer", "content": "You are pi."},
        {"role": "user", "content": [{"type": "text", "text": "make out.txt"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "bash",
                        "arguments": '{"command": "echo hello > out.txt"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "(no output)"},
    ],
    "tools": TOOLS,
}
# opencode 1.18.33: max_tokens, tool_choice auto, assistant content "" next to tool_calls.
OPENCODE = {
    "model": "fake-model",
    "max_tokens": 32000,
    "stream": True,
    "stream_options": {"include_usage": True},
    "tool_choice": "auto",
    "messages": [
        {"role": "system", "content": "You are opencode"},
        {"role": "user", "content": "make out.txt"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "tool_x",
                    "type": "function",
                    "function": {"name": "bash", "arguments": '{"command":"echo hello > out.txt"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "tool_x", "content": "(no output)"},
    ],
    "tools": TOOLS,
}
# kimi-cli 1.52.0: Kimi's own shape: thinking disabled, prompt_cache_key, ids like Shell:0.
KIMI_CLI = {
    "model": "kimi-k2-fake",
    "stream": True,
    "stream_options": {"include_usage": True},
    "max_completion_tokens": 118281,
    "prompt_cache_key": "5b0f",
    "thinking": {"type": "disabled"},
    "messages": [
        {"role": "system", "content": "You are Kimi Code CLI"},
        {"role": "user", "content": "say hi"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "Shell:0",
                    "function": {
                        "name": "Shell",
                        "arguments": '{"command": "echo hello > out.txt"}',
                    },
                }
            ],
        },
        {
            "role": "tool",
            "content": "<system>Command executed successfully.</system>",
            "tool_call_id": "Shell:0",
        },
    ],
    "tools": TOOLS,
}


def check_anthropic_request(body: dict[str, Any]) -> None:
    """What an Anthropic Messages backend requires of a request."""
    assert isinstance(body["max_tokens"], int) and body["model"]
    msgs = [m for m in body["messages"] if m["role"] != "system"]
    assert msgs[0]["role"] == "user"
    for a, b in itertools.pairwise(msgs):
        assert a["role"] != b["role"], "roles must alternate"
    for i, m in enumerate(msgs):
        blocks = m["content"] if isinstance(m["content"], list) else []
        uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
        assert all(is_valid_tool_id(u) for u in uses)
        if uses:
            answer = msgs[i + 1]["content"]
            results = [b["tool_use_id"] for b in answer if b["type"] == "tool_result"]
            assert results == uses, "every tool_use answered in the next user turn"
            kinds = [b["type"] for b in answer]
            assert kinds[: len(results)] == ["tool_result"] * len(results), (
                "tool_result blocks first"
            )
        for b in blocks:
            assert b["type"] in ("text", "image", "thinking", "tool_use", "tool_result")
            if b["type"] == "text":
                assert b["text"] != "", "empty text blocks are rejected"
            if b["type"] == "thinking":
                assert b["signature"]
    for tool in body.get("tools", ()):
        assert set(tool) <= {"name", "description", "input_schema"}
    json.dumps(body)


@pytest.mark.parametrize("req", [PI, OPENCODE, KIMI_CLI], ids=["pi", "opencode", "kimi-cli"])
def test_openai_clients_translate_to_valid_anthropic_requests(req: dict[str, Any]) -> None:
    ids = ToolIdMap()
    out = openai_to_anthropic_request(req, ids=ids)
    check_anthropic_request(out)
    assert out["stream"] is True and "stream_options" not in out and "store" not in out
    assert isinstance(out["system"], str)


def test_client_specific_fields() -> None:
    assert openai_to_anthropic_request(PI)["max_tokens"] == 8192
    assert openai_to_anthropic_request(PI)["output_config"] == {"effort": "medium"}
    assert openai_to_anthropic_request(OPENCODE)["tool_choice"] == {"type": "auto"}
    kimi = openai_to_anthropic_request(KIMI_CLI, ids=(ids := ToolIdMap()))
    assert kimi["thinking"] == {"type": "disabled"} and "prompt_cache_key" not in kimi
    assert kimi["messages"][1]["content"][0]["id"] == "Shell_0" and ids.back("Shell_0") == "Shell:0"


def test_empty_assistant_turns_are_dropped_and_neighbours_merge() -> None:
    out = openai_to_anthropic_request(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "b"},
            ],
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_session_b_fake_responses_round_trip_through_openai() -> None:
    if not SESSION_B.exists():
        pytest.skip("fixture not present")
    for line in SESSION_B.read_text().splitlines():
        record = json.loads(line)
        message = {
            "id": f"msg_{record['seq']}",
            "model": "claude-opus-5-5",
            "content": record["response"],
            "stop_reason": "tool_use"
            if any(b["type"] == "tool_use" for b in record["response"])
            else "end_turn",
            "usage": {
                "input_tokens": 10,
                "output_tokens": 5,
                "cache_read_input_tokens": 900,
                "cache_creation_input_tokens": 0,
            },
        }
        back = openai_to_anthropic_response(anthropic_to_openai_response(message, created=0))
        strip = [{k: v for k, v in b.items() if k != "signature"} for b in message["content"]]
        texts = [b for b in strip if b["type"] == "text"]
        if len(texts) <= 1:  # several text blocks come back joined into one
            assert [
                {k: v for k, v in b.items() if k != "signature"} for b in back["content"]
            ] == strip
        assert back["stop_reason"] == message["stop_reason"] and back["usage"] == message["usage"]
