"""Request translation both ways: rules, real Claude Code requests, and round trips."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimibridge.errors import TranslationError
from kimibridge.protocol import (
    DEFAULT_MAX_TOKENS,
    ToolIdMap,
    anthropic_to_openai_request,
    is_valid_tool_id,
    openai_to_anthropic_request,
)

SESSION_B = Path("/work/shared/fixtures/claude-sessions/session-B.jsonl")
PNG = "iVBORw0KGgo="


def session_b() -> list[dict[str, Any]]:
    if not SESSION_B.exists():
        pytest.skip(f"fixture {SESSION_B} not present")
    return [json.loads(line)["body"] for line in SESSION_B.read_text().splitlines() if line.strip()]


def check_openai_request(body: dict[str, Any]) -> None:
    """What an OpenAI-dialect backend (Kimi) requires of a chat request."""
    msgs = body["messages"]
    assert body["model"] and msgs
    pending: list[str] = []
    for i, m in enumerate(msgs):
        assert m["role"] in ("system", "user", "assistant", "tool")
        if m["role"] == "tool":
            assert isinstance(m["content"], str | list), "tool message without content"
            assert m["tool_call_id"] == pending.pop(0), f"tool message {i} out of order"
            continue
        assert not pending, f"message {i}: tool calls {pending} not answered right after"
        if m["role"] == "assistant":
            for call in m.get("tool_calls", ()):
                assert call["type"] == "function"
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
                pending.append(call["id"])
            assert "content" in m or m.get("tool_calls")
        else:
            assert isinstance(m["content"], str | list)
    for tool in body.get("tools", ()):
        assert tool["type"] == "function" and "parameters" in tool["function"]
    json.dumps(body)


def test_every_claude_code_request_in_session_b_translates_to_a_valid_openai_request() -> None:
    bodies = session_b()
    assert len(bodies) == 19
    for body in bodies:
        before = copy.deepcopy(body)
        out = anthropic_to_openai_request(body)
        assert body == before, "input mutated"
        check_openai_request(out)
        # Nothing lost: every tool_use and every tool_result survives, in order.
        uses = [
            b["id"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_use"
        ]
        results = [
            b["tool_use_id"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b["type"] == "tool_result"
        ]
        assert [c["id"] for m in out["messages"] for c in m.get("tool_calls", ())] == uses
        assert sorted(m["tool_call_id"] for m in out["messages"] if m["role"] == "tool") == sorted(
            results
        )
        # Thinking travels as reasoning_content on the turns that had it.
        thinking = [
            m
            for m in body["messages"]
            if m["role"] == "assistant"
            and isinstance(m["content"], list)
            and any(b["type"] == "thinking" for b in m["content"])
        ]
        assert sum("reasoning_content" in m for m in out["messages"]) == len(thinking)
        # The inline environment system message stays, in place (Claude Code puts it at [1]).
        assert out["messages"][0]["role"] == "system"
        assert out["messages"][2]["role"] == "system"
        assert out["messages"][0]["content"].startswith("x-anthropic-billing-header")
        assert out["max_tokens"] == 128000 and out["stream"] is True
        assert out["stream_options"] == {"include_usage": True}
        assert out["reasoning_effort"] == "medium"
        assert "context_management" not in out and "cache_control" not in json.dumps(
            out["messages"]
        )
        assert json.loads(out["user"])["session_id"]
        assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in body["tools"]]


def test_session_b_survives_a_round_trip() -> None:
    for body in session_b()[-1:]:
        back = openai_to_anthropic_request(anthropic_to_openai_request(body))
        assert [m["role"] for m in back["messages"]] == [m["role"] for m in body["messages"]]
        assert back["max_tokens"] == body["max_tokens"]


def test_tool_results_become_tool_messages_before_the_remaining_user_text() -> None:
    req = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "A", "input": {"x": 1}},
                    {"type": "tool_use", "id": "t2", "name": "B", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "text", "text": "one"},
                            {"type": "text", "text": "two"},
                        ],
                    },
                    {"type": "tool_result", "tool_use_id": "t2", "is_error": True},
                    {"type": "text", "text": "and then?"},
                ],
            },
        ],
    }
    msgs = anthropic_to_openai_request(req)["messages"]
    assert msgs[1] == {
        "role": "assistant",
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "A", "arguments": '{"x": 1}'}},
            {"id": "t2", "type": "function", "function": {"name": "B", "arguments": "{}"}},
        ],
    }
    assert msgs[2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "one\ntwo"},
        {"role": "tool", "tool_call_id": "t2", "content": ""},
        {"role": "user", "content": "and then?"},
    ]


def test_images_both_ways() -> None:
    blocks = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
        {"type": "text", "text": "what is this?"},
    ]
    req = {"model": "m", "messages": [{"role": "user", "content": blocks}]}
    out = anthropic_to_openai_request(req)
    assert out["messages"][0]["content"][:2] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
    ]
    assert openai_to_anthropic_request(out)["messages"][0]["content"] == blocks


def test_image_inside_tool_result_keeps_a_list() -> None:
    req = {
        "model": "m",
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "r", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "r",
                        "content": [
                            {"type": "text", "text": "img"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/jpeg",
                                    "data": "AA==",
                                },
                            },
                        ],
                    }
                ],
            },
        ],
    }
    tool = anthropic_to_openai_request(req)["messages"][1]
    assert tool["content"][1]["image_url"]["url"] == "data:image/jpeg;base64,AA=="


def test_system_forms_and_developer_role() -> None:
    a = {
        "model": "m",
        "system": [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "b"},
        ],
        "messages": [],
    }
    assert anthropic_to_openai_request(a)["messages"] == [{"role": "system", "content": "a\n\nb"}]
    o = {
        "model": "m",
        "messages": [
            {"role": "developer", "content": "d"},
            {"role": "system", "content": [{"type": "text", "text": "s"}]},
            {"role": "user", "content": "u"},
            {"role": "system", "content": "late"},
        ],
    }
    out = openai_to_anthropic_request(o)
    assert out["system"] == [{"type": "text", "text": "d"}, {"type": "text", "text": "s"}]
    assert out["messages"] == [
        {"role": "user", "content": "u"},
        {"role": "system", "content": "late"},
    ]


def test_parameters_both_ways() -> None:
    a = {
        "model": "claude-x",
        "max_tokens": 1000,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "tools": [
            {"name": "T", "description": "d", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    o = anthropic_to_openai_request(a, max_tokens_field="max_completion_tokens")
    assert o["max_completion_tokens"] == 1000 and "max_tokens" not in o
    assert (o["temperature"], o["top_p"], o["stop"], o["user"]) == (0.5, 0.9, ["END"], "u1")
    assert o["tool_choice"] == "required" and o["parallel_tool_calls"] is False
    assert o["tools"] == [
        {
            "type": "function",
            "function": {"name": "T", "description": "d", "parameters": {"type": "object"}},
        }
    ]
    assert o["reasoning_effort"] == "medium" and "top_k" not in o and "stream" not in o
    back = openai_to_anthropic_request(o)
    assert back["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert (back["max_tokens"], back["stop_sequences"], back["metadata"]) == (
        1000,
        ["END"],
        {"user_id": "u1"},
    )
    assert back["thinking"] == {"type": "adaptive"} and back["output_config"] == {
        "effort": "medium"
    }
    assert back["tools"] == [{"name": "T", "input_schema": {"type": "object"}, "description": "d"}]


@pytest.mark.parametrize(
    ("anthropic", "openai"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "X"}, {"type": "function", "function": {"name": "X"}}),
    ],
)
def test_tool_choice_table(anthropic: dict[str, Any], openai: Any) -> None:
    base = {"model": "m", "messages": []}
    assert anthropic_to_openai_request({**base, "tool_choice": anthropic})["tool_choice"] == openai
    assert openai_to_anthropic_request({**base, "tool_choice": openai})["tool_choice"] == anthropic


def test_openai_defaults_and_refusals() -> None:
    out = openai_to_anthropic_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 1.7,
            "stop": "  ",
        }
    )
    assert (
        out["max_tokens"] == DEFAULT_MAX_TOKENS
        and out["temperature"] == 1.0
        and "stop_sequences" not in out
    )
    with pytest.raises(TranslationError):
        openai_to_anthropic_request({"model": "m", "messages": [], "n": 2})
    with pytest.raises(TranslationError):
        openai_to_anthropic_request(
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ],
            }
        )
    with pytest.raises(TranslationError) as info:
        anthropic_to_openai_request(
            {"model": "m", "messages": [{"role": "wizard", "content": "x"}]}
        )
    assert info.value.status_hint == 400
    with pytest.raises(TranslationError):
        anthropic_to_openai_request({"model": "m"})


def test_openai_tool_messages_group_and_merge_with_following_user() -> None:
    o = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "plan",
                "tool_calls": [
                    {
                        "id": "call:1",
                        "type": "function",
                        "function": {"name": "A", "arguments": '{"q": 1}'},
                    },
                    {
                        "id": "call:2",
                        "type": "function",
                        "function": {"name": "B", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call:1", "content": "r1"},
            {"role": "tool", "tool_call_id": "call:2", "content": [{"type": "text", "text": "r2"}]},
            {"role": "user", "content": "next"},
            {"role": "user", "content": "more"},
        ],
    }
    ids = ToolIdMap()
    out = openai_to_anthropic_request(o, ids=ids)
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assistant = out["messages"][1]["content"]
    assert assistant[0]["type"] == "thinking" and assistant[0]["signature"]
    assert [(b["id"], b["input"]) for b in assistant[1:]] == [("call_1", {"q": 1}), ("call_2", {})]
    assert out["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "r1"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "r2"}],
        },
        {"type": "text", "text": "next"},
        {"type": "text", "text": "more"},
    ]
    assert ids.back("call_1") == "call:1"


# ---------------------------------------------------------------- round trips (hypothesis)

_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20)
_ident = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=24)
_json = st.dictionaries(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=6),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3),
        max_leaves=5,
    ),
    max_size=4,
)
_image = st.sampled_from(
    [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]
)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(1, 4))):
        user: list[dict[str, Any]] = [
            {
                "type": "tool_result",
                "tool_use_id": tid,
                "content": draw(st.one_of(_text, st.just(""))),
            }
            for tid in pending
        ]
        user += draw(
            st.lists(
                st.one_of(_text.map(lambda t: {"type": "text", "text": t}), _image),
                min_size=0 if pending else 1,
                max_size=3,
            )
        )
        messages.append({"role": "user", "content": user})
        assistant: list[dict[str, Any]] = []
        if draw(st.booleans()):
            assistant.append({"type": "thinking", "thinking": draw(_text), "signature": "sig"})
        assistant += [{"type": "text", "text": t} for t in draw(st.lists(_text, max_size=2))]
        pending = []
        for n in range(draw(st.integers(0 if assistant else 1, 3))):
            tid = f"{turn}{n}{draw(_ident)}"
            pending.append(tid)
            assistant.append(
                {"type": "tool_use", "id": tid, "name": draw(_ident), "input": draw(_json)}
            )
        messages.append({"role": "assistant", "content": assistant})
    return {"model": "m", "max_tokens": 100, "system": draw(_text), "messages": messages}


def _norm(messages: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for m in messages:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        blocks = [
            {k: v for k, v in b.items() if k not in ("signature", "is_error", "cache_control")}
            for b in blocks
        ]
        out.append((m["role"], blocks))
    return out


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_anthropic_to_openai_to_anthropic_preserves_content_ids_and_arguments(
    req: dict[str, Any],
) -> None:
    there = anthropic_to_openai_request(req)
    check_openai_request(there)
    back = openai_to_anthropic_request(there)
    assert back["system"] == req["system"]
    assert _norm(back["messages"]) == _norm(req["messages"])
    uses = [b for _, blocks in _norm(back["messages"]) for b in blocks if b["type"] == "tool_use"]
    assert all(is_valid_tool_id(b["id"]) for b in uses)


@st.composite
def openai_conversations(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": draw(_text)}]
    for turn in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(_text)})
        calls = [
            {
                "id": f"{turn}{n}{draw(_ident)}",
                "type": "function",
                "function": {
                    "name": draw(_ident),
                    "arguments": json.dumps(draw(_json), ensure_ascii=False),
                },
            }
            for n in range(draw(st.integers(0, 2)))
        ]
        assistant: dict[str, Any] = {"role": "assistant"}
        text = draw(st.one_of(st.none(), _text)) if calls else draw(_text)
        if text is not None:
            assistant["content"] = text
        if draw(st.booleans()):
            assistant["reasoning_content"] = draw(_text)
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        messages += [
            {"role": "tool", "tool_call_id": c["id"], "content": draw(_text)} for c in calls
        ]
    return {"model": "m", "max_tokens": 50, "messages": messages}


@settings(max_examples=150, deadline=None)
@given(openai_conversations())
def test_openai_to_anthropic_to_openai_preserves_messages(req: dict[str, Any]) -> None:
    back = anthropic_to_openai_request(openai_to_anthropic_request(req))
    assert back["messages"] == req["messages"]
    assert back["max_tokens"] == req["max_tokens"]


def test_inline_system_can_fold_into_the_last_user_turn() -> None:
    for body in session_b()[:2]:
        out = anthropic_to_openai_request(body, fold_inline_system=True)
        check_openai_request(out)
        assert [m["role"] for m in out["messages"]].count("system") == 1
        first_user = out["messages"][1]["content"]
        assert first_user[-1]["text"].startswith("<system-reminder>\n# Environment")
    o = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "env"}],
    }
    folded = openai_to_anthropic_request(o, fold_inline_system=True)
    assert folded["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "text", "text": "<system-reminder>\nenv\n</system-reminder>"},
            ],
        }
    ]
    lone = anthropic_to_openai_request(
        {"model": "m", "messages": [{"role": "system", "content": "x"}]}, fold_inline_system=True
    )
    assert lone["messages"] == [
        {"role": "user", "content": "<system-reminder>\nx\n</system-reminder>"}
    ]
