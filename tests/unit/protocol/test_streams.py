"""Stream translators, both directions, on the shared cases; each replayed three ways (h11 tr())."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimibridge.errors import TranslationError
from kimibridge.protocol import (
    OPENAI_DONE,
    AnthropicMessageCollector,
    AnthropicToOpenAIStream,
    OpenAICompletionCollector,
    OpenAIToAnthropicStream,
    SSEEvent,
    StreamState,
    encode_anthropic,
    encode_openai,
)
from kimibridge.protocol.streams import A2O_TRANSITIONS, O2A_TRANSITIONS

from ._cases import (
    COMMON_CASES,
    Case,
    anthropic_content,
    anthropic_sse,
    anthropic_usage,
    openai_message,
    openai_sse,
)
from ._replay import MODES, check_anthropic, check_openai, replay, run

CASES = [pytest.param(c, id=c.name) for c in COMMON_CASES]


def o2a() -> OpenAIToAnthropicStream:
    return OpenAIToAnthropicStream()


def a2o() -> AnthropicToOpenAIStream:
    return AnthropicToOpenAIStream(created=1, include_usage=True)


def collect_anthropic(events: list[dict[str, Any]]) -> dict[str, Any]:
    c = AnthropicMessageCollector()
    c.feed_all(events)
    return c.message


def collect_openai(items: list[Any]) -> dict[str, Any]:
    c = OpenAICompletionCollector()
    c.feed_all(items)
    return c.result


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_openai_to_anthropic(case: Case, mode: str) -> None:
    events = replay(openai_sse(case), o2a, mode)
    check_anthropic(events)
    message = collect_anthropic(events)
    assert message["content"] == anthropic_content(case)
    assert message["stop_reason"] == case.stop_reason
    assert message["usage"] == anthropic_usage(case)
    assert events == replay(openai_sse(case), o2a, "whole")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_anthropic_to_openai(case: Case, mode: str) -> None:
    items = replay(anthropic_sse(case), a2o, mode)
    check_openai(items)
    result = collect_openai(items)
    assert result["choices"][0]["message"] == openai_message(case)
    assert result["choices"][0]["finish_reason"] == case.finish
    usage = result["usage"]
    assert usage["prompt_tokens"] == case.usage["prompt"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == case.usage["cached"]
    assert usage["completion_tokens"] == case.usage["completion"]
    assert items == replay(anthropic_sse(case), a2o, "whole")


@pytest.mark.parametrize("case", CASES)
def test_openai_to_anthropic_to_openai(case: Case) -> None:
    events = run(openai_sse(case), o2a())
    items = run(encode_anthropic(events), a2o())
    check_openai(items)
    result = collect_openai(items)
    assert result["choices"][0]["message"] == openai_message(case, sanitize=True)
    assert result["choices"][0]["finish_reason"] == case.finish
    assert result["usage"]["prompt_tokens"] == case.usage["prompt"]


@pytest.mark.parametrize("case", CASES)
def test_anthropic_to_openai_to_anthropic(case: Case) -> None:
    items = run(anthropic_sse(case), a2o())
    events = run(encode_openai(items), o2a())
    check_anthropic(events)
    message = collect_anthropic(events)
    assert message["content"] == anthropic_content(case)
    assert message["stop_reason"] == case.stop_reason
    assert message["usage"] == anthropic_usage(case)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), case=st.sampled_from(COMMON_CASES))
def test_any_rechunking_gives_the_same_client_events(data: st.DataObject, case: Case) -> None:
    for raw, make in ((openai_sse(case), o2a), (anthropic_sse(case), a2o)):
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=30)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        assert run(raw, make(), pieces) == run(raw, make())


# ---------------------------------------------------------------- tables and states


def test_transition_tables_are_data() -> None:
    assert O2A_TRANSITIONS[(StreamState.TEXT, "tool")] is StreamState.TOOL
    assert (StreamState.TEXT, "args") not in O2A_TRANSITIONS
    assert A2O_TRANSITIONS[(StreamState.START, "message_start")] is StreamState.MESSAGE
    assert (StreamState.DONE, "content_block_start") not in A2O_TRANSITIONS


def test_state_is_readable_through_a_stream() -> None:
    t = OpenAIToAnthropicStream()
    seen = [t.state]
    t.start()
    seen.append(t.state)
    for chunk in (
        {"choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]},
        {"choices": [{"index": 0, "delta": {"content": "x"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ):
        t.feed(chunk)
        seen.append(t.state)
    t.feed(SSEEvent("[DONE]"))
    seen.append(t.state)
    S = StreamState
    assert seen == [S.START, S.MESSAGE, S.THINKING, S.TEXT, S.FINISHING, S.DONE]
    assert t.stop_reason == "end_turn"


def test_start_sends_message_start_before_upstream_answers() -> None:
    t = OpenAIToAnthropicStream(model="kimi-for-coding", message_id="msg_x")
    first = t.start()
    assert [e["type"] for e in first] == ["message_start"]
    assert first[0]["message"]["usage"]["cache_read_input_tokens"] == 0
    assert t.start() == []
    rest = t.feed({"choices": [{"index": 0, "delta": {"content": "hi"}}]}) + t.close()
    check_anthropic(first + rest)


# ---------------------------------------------------------------- errors and abrupt ends


def test_openai_error_chunk_mid_stream_becomes_anthropic_error_event() -> None:
    t = OpenAIToAnthropicStream()
    events = t.feed({"choices": [{"index": 0, "delta": {"content": "partial"}}]})
    events += t.feed({"error": {"message": "engine overloaded", "type": "engine_overloaded_error"}})
    events += t.feed({"choices": [{"index": 0, "delta": {"content": "ignored"}}]}) + t.close()
    check_anthropic(events, error=True)
    assert events[-2] == {"type": "content_block_stop", "index": 0}
    assert events[-1]["error"] == {"type": "overloaded_error", "message": "engine overloaded"}
    assert t.state is StreamState.ERROR


def test_anthropic_error_event_becomes_openai_error_chunk() -> None:
    t = AnthropicToOpenAIStream(created=1)
    items = t.feed(
        SSEEvent('{"type":"message_start","message":{"id":"m","usage":{}}}', "message_start")
    )
    items += t.feed({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    items += t.close()
    check_openai(items, error=True)
    error = items[-2]
    assert isinstance(error, dict) and error["error"]["message"] == "busy"


def test_error_method_ends_either_dialect() -> None:
    t = OpenAIToAnthropicStream()
    t.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "a", "function": {"name": "X", "arguments": "{"}}
                        ]
                    },
                }
            ]
        }
    )
    events = t.error("client went away")
    assert [e["type"] for e in events] == ["content_block_stop", "error"]
    assert t.error("again") == [] and t.close() == []
    u = AnthropicToOpenAIStream()
    assert u.error("upstream timeout")[-1] == OPENAI_DONE


def test_malformed_upstream_raises_then_error_returns_what_was_pending() -> None:
    t = OpenAIToAnthropicStream()
    t.feed({"choices": [{"index": 0, "delta": {"content": "a"}}]})
    with pytest.raises(TranslationError) as info:
        t.feed(SSEEvent("{not json"))
    assert info.value.status_hint == 502
    assert t.state is StreamState.ERROR
    with pytest.raises(TranslationError):
        t.feed({"choices": []})
    events = t.close()
    assert [e["type"] for e in events] == ["content_block_stop", "error"]


def test_interleaved_tool_fragments_are_a_protocol_error_not_silent_corruption() -> None:
    t = OpenAIToAnthropicStream()
    t.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "a", "function": {"name": "A", "arguments": "{"}}
                        ]
                    },
                }
            ]
        }
    )
    t.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 1, "id": "b", "function": {"name": "B", "arguments": "{}"}}
                        ]
                    },
                }
            ]
        }
    )
    with pytest.raises(TranslationError):
        t.feed(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
                    }
                ]
            }
        )


def test_tool_name_arriving_after_arguments_still_opens_one_block() -> None:
    t = OpenAIToAnthropicStream()
    events = t.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "id": "c1", "function": {"arguments": '{"a":'}}]
                    },
                }
            ]
        }
    )
    events += t.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "function": {"name": "Edit", "arguments": " 1}"}}
                        ]
                    },
                }
            ]
        }
    )
    events += (
        t.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}) + t.close()
    )
    check_anthropic(events)
    assert collect_anthropic(events)["content"] == [
        {"type": "tool_use", "id": "c1", "name": "Edit", "input": {"a": 1}}
    ]


def test_chunks_without_tool_index_are_assigned_by_id() -> None:
    t = OpenAIToAnthropicStream()
    events = []
    for call in (
        {"id": "x1", "function": {"name": "A", "arguments": "{}"}},
        {"id": "x2", "function": {"name": "B", "arguments": ""}},
        {"function": {"arguments": "{}"}},
    ):
        events += t.feed({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    events += t.close()
    content = collect_anthropic(events)["content"]
    assert [(b["id"], b["input"]) for b in content] == [("x1", {}), ("x2", {})]


def test_unknown_anthropic_events_and_blocks_are_skipped() -> None:
    t = AnthropicToOpenAIStream(created=1)
    stream: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "m", "model": "k", "usage": {"input_tokens": 3}},
        },
        {"type": "some_future_event", "x": 1},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "redacted_thinking", "data": "zz"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "server_tool_use",
                "id": "s",
                "name": "web_search",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "{}"},
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "citations_delta", "citation": {}},
        },
        {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    items = [i for e in stream for i in t.feed(e)] + t.close()
    check_openai(items)
    assert collect_openai(items)["choices"][0]["message"] == {"role": "assistant", "content": "ok"}


def test_anthropic_delta_into_wrong_block_is_a_protocol_error() -> None:
    t = AnthropicToOpenAIStream()
    t.feed({"type": "message_start", "message": {"id": "m"}})
    t.feed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    with pytest.raises(TranslationError):
        t.feed(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            }
        )
    assert t.close()[-1] == OPENAI_DONE


def test_openai_client_without_include_usage_gets_no_empty_choices_chunk() -> None:
    case = COMMON_CASES[0]
    items = run(anthropic_sse(case), AnthropicToOpenAIStream())
    assert all(i == OPENAI_DONE or i["choices"] for i in items)


def test_thinking_can_be_left_out_for_clients_that_did_not_ask() -> None:
    case = COMMON_CASES[1]  # thinking then text
    events = run(openai_sse(case), OpenAIToAnthropicStream(thinking=False))
    check_anthropic(events)
    assert [b["type"] for b in collect_anthropic(events)["content"]] == ["text"]


def test_openai_error_event_with_a_bare_body() -> None:
    t = OpenAIToAnthropicStream()
    events = t.feed(
        SSEEvent('{"message": "quota", "type": "exceeded_current_quota_error"}', "error")
    )
    check_anthropic(events, error=True)
    assert events[-1]["error"]["type"] == "rate_limit_error"
