"""Bad input is a TranslationError (a 4xx or 502 at the edge), never any other exception (a 500)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.errors import TranslationError
from kimibridge.protocol import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_request,
    anthropic_to_openai_response,
    openai_to_anthropic_request,
    openai_to_anthropic_response,
)

_keys = st.sampled_from(
    [
        "type",
        "role",
        "content",
        "text",
        "thinking",
        "id",
        "name",
        "input",
        "tool_use_id",
        "source",
        "data",
        "url",
        "media_type",
        "tool_calls",
        "function",
        "arguments",
        "index",
        "tool_call_id",
        "reasoning_content",
        "image_url",
        "delta",
        "choices",
        "finish_reason",
        "usage",
        "message",
        "content_block",
        "partial_json",
        "stop_reason",
        "error",
        "system",
        "messages",
        "tools",
        "tool_choice",
        "max_tokens",
        "stop",
        "metadata",
        "thinking",
        "input_schema",
        "parameters",
        "prompt_tokens",
        "cached_tokens",
        "model",
        "stream",
    ]
)
_values = st.sampled_from(
    [
        "user",
        "assistant",
        "tool",
        "system",
        "developer",
        "text",
        "thinking",
        "tool_use",
        "tool_result",
        "image",
        "image_url",
        "base64",
        "url",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "tool_calls",
        "stop",
        "auto",
        "any",
        "required",
        "function",
        "enabled",
        "data:image/png;base64,AA",
        "{",
        "{}",
    ]
)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | _values | st.text(max_size=4),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(_keys, c, max_size=5),
    max_leaves=15,
)
_FUNCS = [
    anthropic_to_openai_request,
    openai_to_anthropic_request,
    anthropic_to_openai_response,
    openai_to_anthropic_response,
]


@pytest.mark.parametrize("func", _FUNCS, ids=lambda f: f.__name__)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(_keys, _json, max_size=6))
def test_translators_raise_only_translation_errors(func: Any, body: dict[str, Any]) -> None:
    with contextlib.suppress(TranslationError):
        func(body)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.dictionaries(_keys, _json, max_size=5), max_size=8))
def test_stream_translators_raise_only_translation_errors(items: list[dict[str, Any]]) -> None:
    for make in (OpenAIToAnthropicStream, AnthropicToOpenAIStream):
        t = make()
        out: list[Any] = []
        try:
            for item in items:
                out += t.feed(item)
        except TranslationError:
            pass
        out += t.close()
        assert out, "every stream ends with something for the client"
