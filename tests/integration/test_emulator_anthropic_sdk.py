"""The official anthropic SDK against the emulator's Anthropic dialect (real server on loopback)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

BASH: Any = {
    "name": "Bash",
    "description": "Run a command",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}
READ: Any = {"name": "Read", "input_schema": {"type": "object"}}


def test_non_stream_with_thinking(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(
        model="kimi-for-coding",
        max_tokens=1024,
        thinking={"type": "enabled", "budget_tokens": 1024},
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        metadata={"user_id": "someone"},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert [b.type for b in m.content] == ["thinking", "text"]
    thinking = m.content[0]
    assert thinking.type == "thinking" and thinking.thinking and len(thinking.signature) == 88
    assert (
        m.content[1].type == "text"
        and m.content[1].text == "Hello from the Kimi emulator. You said: hi"
    )
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0
    assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0


def test_thinking_disabled(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(
        model="kimi-for-coding",
        max_tokens=100,
        thinking={"type": "disabled"},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert [b.type for b in m.content] == ["text"]


def test_stream_tool_round_trip_claude_code_style(ant: anthropic.Anthropic) -> None:
    """Reminder + prompt, an inline system message, adaptive thinking, beta endpoint."""
    prompt = '[[call bash {"command": "echo hello > out.txt", "description": "write"}]]'
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>\nctx\n</system-reminder>"},
                {"type": "text", "text": prompt},
            ],
        },
        {"role": "system", "content": "environment"},
    ]
    args: dict[str, Any] = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "tools": [BASH, READ],
        "thinking": {"type": "adaptive"},
    }
    with ant.beta.messages.stream(messages=messages, **args) as stream:
        kinds = [e.type for e in stream]
        first = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert first.stop_reason == "tool_use"
    tool_use = next(b for b in first.content if b.type == "tool_use")
    assert tool_use.name == "Bash" and tool_use.id.startswith("toolu_")
    assert tool_use.input == {"command": "echo hello > out.txt", "description": "write"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use.id,
                    "content": "(Bash completed with no output)",
                },
            ],
        },
    ]
    with ant.beta.messages.stream(messages=messages, **args) as stream:
        second = stream.get_final_message()
    assert second.stop_reason == "end_turn"
    assert second.content[-1].type == "text"
    assert second.content[-1].text == "Tool result: (Bash completed with no output)"
    assert (second.usage.cache_read_input_tokens or 0) >= 0


def test_parallel_tool_calls_stream(ant: anthropic.Anthropic) -> None:
    prompt = '[[call Bash {"command": "ls"}]] [[call read {"path": "README.md"}]]'
    with ant.messages.stream(
        model="kimi-for-coding",
        max_tokens=1000,
        tools=[BASH, READ],
        messages=[{"role": "user", "content": prompt}],
    ) as stream:
        m = stream.get_final_message()
    uses = [b for b in m.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("Bash", {"command": "ls"}),
        ("Read", {"path": "README.md"}),
    ]
    assert len({u.id for u in uses}) == 2


def test_max_tokens_stop(ant: anthropic.Anthropic, kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.script([{"text": "long " * 200}])
    m = ant.messages.create(
        model="kimi-for-coding",
        max_tokens=10,
        thinking={"type": "disabled"},
        messages=[{"role": "user", "content": "x"}],
    )
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens <= 10


def test_count_tokens_matches_usage(ant: anthropic.Anthropic) -> None:
    args: Any = {
        "model": "kimi-for-coding",
        "system": "You are terse.",
        "tools": [BASH],
        "messages": [{"role": "user", "content": "count me"}],
    }
    counted = ant.messages.count_tokens(**args)
    m = ant.messages.create(max_tokens=100, **args)
    assert counted.input_tokens == m.usage.input_tokens + (m.usage.cache_read_input_tokens or 0)


def _error(exc: anthropic.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert body["type"] == "error"
    return dict(body["error"])


def test_document_block_rejected(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(
            model="kimi-for-coding",
            max_tokens=100,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "summarise"},
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                        },
                    ],
                }
            ],
        )
    error = _error(info.value)
    assert error["type"] == "invalid_request_error" and "'document'" in error["message"]


def test_too_many_tools_and_big_schema(ant: anthropic.Anthropic) -> None:
    tools: Any = [{"name": f"t{i}", "input_schema": {"type": "object"}} for i in range(129)]
    with pytest.raises(anthropic.BadRequestError, match="128"):
        ant.messages.create(
            model="kimi-for-coding",
            max_tokens=10,
            tools=tools,
            messages=[{"role": "user", "content": "x"}],
        )
    big: Any = [{"name": "big", "input_schema": {"type": "object", "description": "x" * 20000}}]
    with pytest.raises(anthropic.BadRequestError, match="too large"):
        ant.messages.create(
            model="kimi-for-coding",
            max_tokens=10,
            tools=big,
            messages=[{"role": "user", "content": "x"}],
        )


def test_scripted_error_in_dialect(ant: anthropic.Anthropic, kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.script(
        [{"error": {"status": 400, "type": "invalid_request_error", "message": "scripted"}}]
    )
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(
            model="kimi-for-coding", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert _error(info.value) == {"type": "invalid_request_error", "message": "scripted"}


def test_same_request_same_content(ant: anthropic.Anthropic) -> None:
    def once() -> dict[str, Any]:
        raw = ant.messages.with_raw_response.create(
            model="kimi-for-coding",
            max_tokens=100,
            tools=[BASH],
            messages=[{"role": "user", "content": "[[call bash]]"}],
        )
        body = json.loads(raw.http_response.content)
        body.pop("usage")
        return dict(body)

    assert once() == once()


def test_thinking_only_turn_gets_kimis_placeholder_text(
    ant: anthropic.Anthropic, kimi_emulator: EmulatorHandle
) -> None:
    kimi_emulator.script([{"thinking": "just pondering"}, {"thinking": "quiet"}])
    m = ant.messages.create(
        model="kimi-for-coding", max_tokens=100, messages=[{"role": "user", "content": "x"}]
    )
    assert m.content[0].type == "thinking" and m.content[0].thinking == "just pondering"
    assert m.content[1].type == "text"
    assert (
        m.content[1].text
        == "(Empty response: {'content': [{'type': 'thinking', 'thinking': 'just pondering'}]})"
    )
    m = ant.messages.create(
        model="kimi-for-coding",
        max_tokens=100,
        thinking={"type": "disabled"},
        messages=[{"role": "user", "content": "x"}],
    )
    assert m.content == []
