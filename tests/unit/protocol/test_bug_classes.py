"""One regression test per translation bug class of gateways.md (b).

Classes 6 (billing header), 9 (count_tokens) and 10 (routes) live in the gateway, not here: their
regressions are tests/integration/test_gateway_regressions.py ``test_class6_...``, ``test_class9_...``
and ``test_class10_...``, which also pins 7 and 12-15 end to end through the SDKs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kimibridge.errors import TranslationError
from kimibridge.protocol import (
    AnthropicMessageCollector,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    encode_anthropic,
    is_valid_tool_id,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
)

from ._replay import check_anthropic, check_openai, run


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "model": "kimi",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
    }


def call(
    index: int, args: str, tool_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if tool_id:
        out["id"] = tool_id
        out["type"] = "function"
        out["function"]["name"] = name
    return out


def o2a(chunks: list[dict[str, Any]], *, close: bool = True) -> list[dict[str, Any]]:
    t = OpenAIToAnthropicStream()
    events = [e for c in chunks for e in t.feed(c)]
    return events + (t.close() if close else [])


def message(events: list[dict[str, Any]]) -> dict[str, Any]:
    c = AnthropicMessageCollector()
    c.feed_all(events)
    return c.message


def test_bug_01_block_bookkeeping() -> None:
    # CCR PR #1356 / #1371 (text after tool_use into the tool block); BerriAI/litellm#33224.
    events = o2a(
        [
            chunk({"content": "a"}),
            chunk({"reasoning_content": "late thought"}),
            chunk({"tool_calls": [call(0, '{"x": 1}', "t0", "T")]}),
            chunk({"content": "after the tool"}),
            chunk({}, "tool_calls"),
        ]
    )
    check_anthropic(events)
    kinds = [b["type"] for b in message(events)["content"]]
    assert kinds == ["text", "thinking", "tool_use", "text"]
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == kinds


def test_bug_02_tool_use_stop_reason_matches_the_content() -> None:
    # anthropics/claude-code#16785; router-for-me/CLIProxyAPI#876; opencode2api PR #27.
    overwritten = o2a([chunk({"tool_calls": [call(0, "{}", "t0", "T")]}), chunk({}, "stop")])
    assert message(overwritten)["stop_reason"] == "tool_use"
    phantom = o2a([chunk({"content": "done"}), chunk({}, "tool_calls")])
    assert message(phantom)["stop_reason"] == "end_turn"
    t = AnthropicToOpenAIStream()
    items = [
        i
        for e in (
            {"type": "message_start", "message": {"id": "m"}},
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "T", "input": {}},
            },
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
            {"type": "message_stop"},
        )
        for i in t.feed(e)
    ]
    check_openai(items)
    assert t.finish_reason == "tool_calls"


def test_bug_03_fragmented_parallel_tool_arguments_survive() -> None:
    # BerriAI/litellm#29491 (input_json_delta dropped), #39796 (parallel calls lose id/name).
    edit = json.dumps({"file_path": "/a.py", "old_string": 'x = "é"\n', "new_string": "y = 1\n"})
    chunks = [chunk({"tool_calls": [call(0, "", "functions.Edit:0", "Edit")]})]
    chunks += [chunk({"tool_calls": [call(0, ch)]}) for ch in edit]
    chunks += [chunk({"tool_calls": [call(1, "", "functions.Read:1", "Read")]})]
    chunks += [chunk({"tool_calls": [call(1, part)]}) for part in ('{"file', '_path"', ': "/b"}')]
    chunks += [chunk({}, "tool_calls")]
    events = o2a(chunks)
    check_anthropic(events)
    tools = message(events)["content"]
    assert [(t["id"], t["name"], t["input"]) for t in tools] == [
        ("functions_Edit_0", "Edit", json.loads(edit)),
        ("functions_Read_1", "Read", {"file_path": "/b"}),
    ]
    back = run(encode_anthropic(events), AnthropicToOpenAIStream())
    check_openai(back)


def test_bug_04_reasoning_content_travels_on_tool_call_turns() -> None:
    # CCR #1050 / #1378; LiteLLM moonshot fill_reasoning_content; kimi-cli-wire §11.4.
    req = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "plan", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "A", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t2", "name": "A", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "ok"}],
            },
        ],
    }
    msgs = anthropic_to_openai_request(req)["messages"]
    assert msgs[1]["reasoning_content"] == "plan"
    assert "reasoning_content" not in msgs[3]
    padded = anthropic_to_openai_request(req, reasoning_pad=" ")["messages"]
    assert padded[1]["reasoning_content"] == "plan" and padded[3]["reasoning_content"] == " "


def test_bug_05_signatures_never_leak_and_synthesised_ones_are_deterministic() -> None:
    # ding113/claude-code-hub#518; CLIProxyAPI PR #570; CCR reasoning.transformer Date.now().
    req = {
        "model": "m",
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "REAL-SIG"},
                    {"type": "redacted_thinking", "data": "ENCRYPTED"},
                    {"type": "text", "text": "x"},
                ],
            }
        ],
    }
    assert "REAL-SIG" not in json.dumps(anthropic_to_openai_request(req))
    assert "ENCRYPTED" not in json.dumps(anthropic_to_openai_request(req))
    stream = [
        chunk({"reasoning_content": "same thought"}),
        chunk({"content": "x"}),
        chunk({}, "stop"),
    ]
    first, second = o2a(stream), o2a(stream)
    sigs = [
        e["delta"]["signature"]
        for e in first
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"
    ]
    assert len(sigs) == 1 and first == second
    resp = {
        "choices": [
            {
                "message": {"reasoning_content": "same thought", "content": "x"},
                "finish_reason": "stop",
            }
        ]
    }
    assert openai_to_anthropic_response(resp)["content"][0]["signature"] == sigs[0]


def test_bug_07_usage_and_cache_accounting() -> None:
    # CCR #1461 (cache write always 0), CLIProxyAPI#5956 (double counting), CCR #807.
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 700, "cache_creation_tokens": 200},
    }
    t = OpenAIToAnthropicStream()
    wire = (
        b"".join(
            b"data: " + json.dumps(c).encode() + b"\n\n"
            for c in (
                chunk({"content": "hi"}),
                chunk({}, "stop"),
                {"id": "c", "choices": [], "usage": usage},
            )
        )
        + b"data: [DONE]\n\n"
    )
    events = run(wire, t)  # the usage chunk arrives in the same read as the finish
    final = next(e for e in events if e["type"] == "message_delta")["usage"]
    assert final == {
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 700,
    }
    kimi = o2a(
        [
            chunk({"content": "hi"}),
            chunk(
                {}, "stop", usage={"prompt_tokens": 50, "completion_tokens": 2, "cached_tokens": 40}
            ),
        ]
    )
    assert message(kimi)["usage"]["input_tokens"] == 10
    assert message(kimi)["usage"]["cache_read_input_tokens"] == 40


def test_bug_08_tool_results_in_place_and_never_without_content() -> None:
    # BerriAI/litellm#28995; CCR #245 (Kimi: role tool content missing); CCR PR #1426 (orphans).
    req = {
        "model": "m",
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "a", "name": "A", "input": {}},
                    {"type": "tool_use", "id": "b", "name": "B", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "before"},
                    {"type": "tool_result", "tool_use_id": "b"},
                    {"type": "tool_result", "tool_use_id": "a", "content": []},
                    {"type": "tool_result", "tool_use_id": "gone", "content": "orphan output"},
                ],
            },
        ],
    }
    msgs = anthropic_to_openai_request(req)["messages"]
    assert [(m["role"], m.get("tool_call_id"), m["content"]) for m in msgs[1:3]] == [
        ("tool", "a", ""),
        ("tool", "b", ""),
    ]
    assert msgs[3]["role"] == "user" and "orphan output" in json.dumps(msgs[3]["content"])


def test_bug_11_stream_always_terminates_well_formed() -> None:
    # Sunnyender-org/cursor-sdk2api#25; decolua/9router#1779; CCR #639 ("No content").
    empty = OpenAIToAnthropicStream().close()
    check_anthropic(empty, error=True)
    cut = o2a([chunk({"content": "partial"})])  # upstream died without finish or [DONE]
    check_anthropic(cut)
    assert message(cut)["stop_reason"] == "end_turn"
    cut_tool = o2a([chunk({"tool_calls": [call(0, '{"command": "rm', "t", "Bash")]})])
    check_anthropic(cut_tool)
    assert message(cut_tool)["stop_reason"] == "max_tokens"  # never run a truncated call
    assert all(e["type"] != "[DONE]" for e in cut)  # no OpenAI terminator on the Anthropic side
    a2o = AnthropicToOpenAIStream()
    items = a2o.feed({"type": "message_start", "message": {"id": "m"}})
    items += a2o.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    items += a2o.feed(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    )
    items += a2o.close()
    check_openai(items)
    check_openai(AnthropicToOpenAIStream().close(), error=True)


def test_bug_12_max_tokens_is_carried_and_defaulted() -> None:
    # danielmiessler/LifeOS#657; fuergaosi233 MAX_TOKENS_LIMIT=4096 (clamping is the gateway's).
    assert (
        anthropic_to_openai_request({"model": "m", "max_tokens": 64000, "messages": []})[
            "max_tokens"
        ]
        == 64000
    )
    o = openai_to_anthropic_request({"model": "m", "messages": [], "max_completion_tokens": 8192})
    assert o["max_tokens"] == 8192
    assert openai_to_anthropic_request({"model": "m", "messages": []})["max_tokens"] >= 16000


def test_bug_13_tool_definitions_and_ids_keep_their_shape() -> None:
    # CCR PR #1371 ("missing field parameters"); CommandCodeAI/command-code#323 (id pattern).
    tools = anthropic_to_openai_request(
        {"model": "m", "messages": [], "tools": [{"name": "NoSchema"}]}
    )["tools"]
    assert tools[0]["function"]["parameters"] == {"type": "object", "properties": {}}
    events = o2a(
        [
            chunk({"tool_calls": [call(0, "{}", "functions.mcp__srv__do:7", "mcp__srv__do")]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert is_valid_tool_id(message(events)["content"][0]["id"])


def test_bug_14_parameters_are_mapped_not_dropped() -> None:
    # BerriAI/litellm#37118 (stop_sequences), #40857 (content_filter), CCR "any"; CCR PR #1446.
    o = anthropic_to_openai_request(
        {
            "model": "m",
            "stop_sequences": ["###"],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "env info"},
            ],
        }
    )
    assert o["stop"] == ["###"] and o["tool_choice"] == "required"
    assert {"role": "system", "content": "env info"} in o["messages"]
    filtered = o2a([chunk({"content": "I can't"}), chunk({}, "content_filter")])
    assert message(filtered)["stop_reason"] == "refusal"


def test_bug_15_anthropic_only_features_are_not_forwarded() -> None:
    # MoonshotAI/Kimi-K2.5#27 (document), kimi-cli#1449 (tool_reference), claude-code#11773.
    base = {"model": "m", "context_management": {"edits": [{"type": "clear_thinking_20251015"}]}}
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
    }
    with pytest.raises(TranslationError, match="document") as info:
        anthropic_to_openai_request({**base, "messages": [{"role": "user", "content": [pdf]}]})
    assert info.value.status_hint == 400
    text_doc = {
        "type": "document",
        "title": "notes",
        "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
    }
    out = anthropic_to_openai_request(
        {
            **base,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        text_doc,
                        {"type": "tool_reference", "tool_name": "X"},
                        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                    ],
                }
            ],
        }
    )
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "notes\n\nhello"},
        {"type": "text", "text": "hi"},
    ]
    assert "context_management" not in out and "cache_control" not in json.dumps(out)


def test_bug_class_list_is_complete() -> None:
    covered = {1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 14, 15}
    gateway = {6, 9, 10}
    assert covered | gateway == set(range(1, 16)) and not covered & gateway
