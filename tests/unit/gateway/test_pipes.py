"""Stream pipes: untouched events pass as the upstream's own text, ends are always well formed."""

from __future__ import annotations

import json
from typing import Any

from kimibridge.gateway.pipes import AnthropicPassthrough, OpenAIPassthrough, OpenAIToAnthropicPipe
from kimibridge.protocol.sse import SSEEvent, SSEParser


def ev(obj: Any, event: str | None = None) -> SSEEvent:
    return SSEEvent(obj if isinstance(obj, str) else json.dumps(obj), event)


def chunk(**delta: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def test_openai_passthrough_keeps_upstream_text() -> None:
    pipe = OpenAIPassthrough(include_usage=True)
    pipe.feed(ev(chunk(role="assistant", content="Hello")))
    raw = '{"id":"c","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":null}]}'
    assert pipe.feed(ev(raw)) == f"data: {raw}\n\n".encode()
    final = {
        "id": "c",
        "choices": [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "stop",
                "usage": {"prompt_tokens": 7, "completion_tokens": 2, "cached_tokens": 4},
            }
        ],
    }
    out = pipe.feed(ev(final))
    assert json.loads(out.decode()[6:])["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    assert pipe.feed(ev("[DONE]")) == b"data: [DONE]\n\n"
    assert pipe.close() == b""
    assert pipe.usage.cache_read == 4 and pipe.usage.input_other == 3
    assert pipe.stop_reason == "end_turn"
    assert "".join(pipe.text) == "Hello there"


def test_openai_passthrough_drops_usage_chunk_not_asked_for() -> None:
    pipe = OpenAIPassthrough(include_usage=False)
    assert (
        pipe.feed(
            ev({"id": "c", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
        )
        == b""
    )
    assert pipe.usage.output == 1


def test_openai_passthrough_early_end_is_an_error_then_done() -> None:
    pipe = OpenAIPassthrough(include_usage=False)
    pipe.feed(ev(chunk(content="Hel")))
    tail = pipe.close().decode()
    assert '"error"' in tail and tail.endswith("data: [DONE]\n\n")


def test_anthropic_passthrough_closes_open_block_before_error() -> None:
    pipe = AnthropicPassthrough()
    pipe.feed(
        ev({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}, "message_start")
    )
    pipe.feed(
        ev(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
            "content_block_start",
        )
    )
    out = pipe.close()
    events = SSEParser().feed(out)
    assert [e.event for e in events] == ["content_block_stop", "error"]
    assert pipe.close() == b""


def test_cross_pipe_placeholder_removed() -> None:
    pipe = OpenAIToAnthropicPipe(model="kimi-for-coding")
    out = pipe.feed(ev(chunk(role="assistant", reasoning_content="thinking...")))
    out += pipe.feed(ev(chunk(content="(Empty response: {'content': [")))
    out += pipe.feed(ev(chunk(content="{'type': 'thinking'}]})")))
    out += pipe.feed(
        ev({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    out += pipe.feed(ev("[DONE]"))
    out += pipe.close()
    kinds = [e.event for e in SSEParser().feed(out)]
    assert "Empty response" not in out.decode()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "".join(pipe.text) == ""


def test_openai_fast_path_forwards_unparsed_and_still_taps_the_end() -> None:
    pipe = OpenAIPassthrough(include_usage=False, want_text=False)
    pipe.feed(ev(chunk(role="assistant", content="Hi")))  # decides: ordinary text
    raw = '{"id":"c","choices":[{"index":0,"delta":{"content":"(Empty response:"},"finish_reason":null}]}'
    assert pipe.feed(ev(raw)) == f"data: {raw}\n\n".encode()  # settled: no second look
    final = {
        "id": "c",
        "choices": [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "tool_calls",
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        ],
    }
    pipe.feed(ev(final))
    assert pipe.stop_reason == "end_turn" and pipe.usage.output == 1
    assert pipe.text == ["Hi"]  # text is only collected while undecided
