"""Non-streaming responses both ways, stop reasons, usage, ids."""

from __future__ import annotations

from typing import Any

import pytest

from kimibridge.protocol import (
    ToolIdMap,
    anthropic_error_to_openai,
    anthropic_stop_reason,
    anthropic_to_openai_response,
    openai_error_to_anthropic,
    openai_finish_reason,
    openai_to_anthropic_response,
    synthesize_signature,
)

KIMI_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 1,
    "model": "kimi-for-coding",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Running it.",
                "reasoning_content": "Need to list files.",
                "tool_calls": [
                    {
                        "id": "functions.Bash:0",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                    },
                    {
                        "id": "functions.Read:1",
                        "type": "function",
                        "function": {"name": "Read", "arguments": "not json"},
                    },
                ],
            },
            "finish_reason": "tool_calls",
            # Kimi nests usage in the choice and reports the cache read at top level of usage.
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 50,
                "total_tokens": 1050,
                "cached_tokens": 768,
            },
        }
    ],
}


def test_kimi_response_to_anthropic_message() -> None:
    msg = openai_to_anthropic_response(KIMI_RESPONSE)
    assert msg["id"] == "msg_chatcmpl-abc" and msg["model"] == "kimi-for-coding"
    assert msg["content"] == [
        {
            "type": "thinking",
            "thinking": "Need to list files.",
            "signature": synthesize_signature("Need to list files."),
        },
        {"type": "text", "text": "Running it."},
        {"type": "tool_use", "id": "functions_Bash_0", "name": "Bash", "input": {"command": "ls"}},
        {
            "type": "tool_use",
            "id": "functions_Read_1",
            "name": "Read",
            "input": {"_raw_arguments": "not json"},
        },
    ]
    assert msg["stop_reason"] == "tool_use"
    assert msg["usage"] == {
        "input_tokens": 232,
        "output_tokens": 50,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 768,
    }


def test_anthropic_message_to_openai_and_back_with_id_map() -> None:
    ids = ToolIdMap()
    msg = openai_to_anthropic_response(KIMI_RESPONSE, ids=ids)
    back = anthropic_to_openai_response(msg, ids=ids, created=5)
    choice = back["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert [c["id"] for c in choice["message"]["tool_calls"]] == [
        "functions.Bash:0",
        "functions.Read:1",
    ]
    assert choice["message"]["reasoning_content"] == "Need to list files."
    assert choice["message"]["content"] == "Running it."
    assert back["usage"] == {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1050,
        "prompt_tokens_details": {"cached_tokens": 768},
    }
    assert back["object"] == "chat.completion" and back["created"] == 5


def test_anthropic_text_blocks_join_and_unknown_blocks_are_skipped() -> None:
    msg = {
        "id": "msg_1",
        "model": "k",
        "content": [
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "text", "text": "a"},
            {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
            {"type": "text", "text": "b"},
        ],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 5,
            "output_tokens": 2,
            "cache_creation_input_tokens": 3,
            "cache_read_input_tokens": 10,
        },
    }
    out = anthropic_to_openai_response(msg, created=0)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "ab"}
    assert out["usage"]["prompt_tokens"] == 18
    assert out["usage"]["prompt_tokens_details"] == {
        "cached_tokens": 10,
        "cache_write_tokens": 3,
    }
    assert openai_to_anthropic_response(out)["usage"]["cache_creation_input_tokens"] == 3


@pytest.mark.parametrize(
    ("finish", "tools", "stop"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("tool_calls", False, "end_turn"),
        ("stop", True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("function_call", True, "tool_use"),
        (None, False, "end_turn"),
        ("something_new", False, "end_turn"),
    ],
)
def test_finish_to_stop_reason(finish: str | None, tools: bool, stop: str) -> None:
    assert anthropic_stop_reason(finish, has_tool_use=tools) == stop


@pytest.mark.parametrize(
    ("stop", "tools", "finish"),
    [
        ("end_turn", False, "stop"),
        ("stop_sequence", False, "stop"),
        ("max_tokens", False, "length"),
        ("tool_use", True, "tool_calls"),
        ("tool_use", False, "stop"),
        ("end_turn", True, "tool_calls"),
        ("refusal", False, "content_filter"),
        ("pause_turn", False, "stop"),
        ("model_context_window_exceeded", False, "length"),
    ],
)
def test_stop_reason_to_finish(stop: str, tools: bool, finish: str) -> None:
    assert openai_finish_reason(stop, has_tool_calls=tools) == finish


def test_empty_or_odd_openai_responses() -> None:
    msg = openai_to_anthropic_response(
        {
            "id": "",
            "choices": [
                {"message": {"content": None, "refusal": "no"}, "finish_reason": "content_filter"}
            ],
        }
    )
    assert msg["content"] == [{"type": "text", "text": "no"}] and msg["stop_reason"] == "refusal"
    assert openai_to_anthropic_response({})["content"] == []


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (
            {"error": {"message": "slow down", "type": "rate_limit_reached_error"}},
            429,
            "rate_limit_error",
        ),
        (
            {"error": {"message": "quota", "type": "exceeded_current_quota_error"}},
            429,
            "rate_limit_error",
        ),
        (
            {"error": {"message": "busy", "type": "engine_overloaded_error"}},
            503,
            "overloaded_error",
        ),
        (
            {"error": {"message": "bad", "type": "invalid_request_error"}},
            400,
            "invalid_request_error",
        ),
        ({"error": "plain string"}, 401, "authentication_error"),
        ("not json at all", 502, "api_error"),
        ({}, 404, "not_found_error"),
    ],
)
def test_openai_error_bodies_become_anthropic_ones(body: Any, status: int, kind: str) -> None:
    out = openai_error_to_anthropic(body, status=status)
    assert out["type"] == "error" and out["error"]["type"] == kind and out["error"]["message"]


def test_anthropic_error_bodies_become_openai_ones() -> None:
    body = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "busy"},
        "request_id": "r",
    }
    out = anthropic_error_to_openai(body, status=529)
    assert out["error"]["message"] == "busy" and out["error"]["type"] == "overloaded_error"
    assert anthropic_error_to_openai(None, status=500)["error"]["type"] == "server_error"
