"""The official SDKs judge our output: every event validates against their models and their
own stream accumulators build the expected final message (no network involved)."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from kimibridge.protocol import (
    OPENAI_DONE,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_to_openai_response,
    openai_to_anthropic_response,
)

from ._cases import COMMON_CASES, Case, anthropic_content, anthropic_sse, openai_message, openai_sse
from ._replay import run

CASES = [pytest.param(c, id=c.name) for c in COMMON_CASES]
EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


@pytest.mark.parametrize("case", CASES)
def test_anthropic_sdk_accepts_our_events(case: Case) -> None:
    events = run(openai_sse(case), OpenAIToAnthropicStream())
    snapshot: Any = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        model = EVENT.validate_python(event)  # strict: raises on a missing or wrong field
        snapshot = accumulate_event(event=model, current_snapshot=snapshot, json_bufs=json_bufs)
    final = snapshot.to_dict()
    assert final["content"] == anthropic_content(case)
    assert final["stop_reason"] == case.stop_reason


@pytest.mark.parametrize("case", CASES)
def test_openai_sdk_accepts_our_chunks(case: Case) -> None:
    items = run(anthropic_sse(case), AnthropicToOpenAIStream(include_usage=True))
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for item in items:
        if item == OPENAI_DONE:
            continue
        state.handle_chunk(ChatCompletionChunk.model_validate(item))
    # get_final_completion() raises on finish_reason "length" by design; the snapshot is the same.
    final = state.current_completion_snapshot
    message = final.choices[0].message
    expected = openai_message(case)
    assert (message.content or None) == (expected["content"] or None)
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
    assert calls == [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in expected.get("tool_calls", ())
    ]
    assert final.choices[0].finish_reason == case.finish
    assert final.usage is not None and final.usage.prompt_tokens == case.usage["prompt"]


def test_non_stream_responses_validate_against_sdk_models() -> None:
    from anthropic.types import Message

    kimi = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "kimi-for-coding",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "x",
                    "reasoning_content": "r",
                    "tool_calls": [
                        {
                            "id": "functions.Bash:0",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "total_tokens": 12,
            "cached_tokens": 4,
        },
    }
    message = Message.model_validate(openai_to_anthropic_response(kimi))
    assert message.stop_reason == "tool_use"
    completion = ChatCompletion.model_validate(
        anthropic_to_openai_response(message.to_dict(), created=1)
    )
    assert completion.choices[0].message.tool_calls
