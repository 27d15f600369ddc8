"""The thinking-only placeholder filter and usage normalisation, for both dialects."""

from __future__ import annotations

from typing import Any

from kimibridge.kimi.stream_cleanup import AnthropicStreamCleanup, OpenAIStreamCleanup


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    d = dict(delta)
    if content is not None:
        d["content"] = content
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
    }


def run_openai(chunks: list[dict[str, Any]]) -> str:
    f = OpenAIStreamCleanup()
    text = ""
    for c in chunks:
        out, _ = f.feed(c)
        for o in out:
            for ch in o["choices"]:
                text += ch["delta"].get("content") or ""
    return text


def test_openai_placeholder_dropped_in_pieces() -> None:
    pieces = ["(Emp", "ty resp", "onse: {'content': [{'type': 'thinking'}]})"]
    chunks = [chunk(reasoning_content="hmm"), *(chunk(x) for x in pieces), chunk(finish="stop")]
    assert run_openai(chunks) == ""


def test_openai_ordinary_text_released() -> None:
    assert (
        run_openai([chunk("(E"), chunk("xample)"), chunk(" ok", finish="stop")]) == "(Example) ok"
    )
    assert run_openai([chunk("Hello"), chunk(" world"), chunk(finish="stop")]) == "Hello world"
    # held text that never decided is released at the finish
    assert run_openai([chunk("(Em"), chunk(finish="stop")]) == "(Em"


def test_openai_unchanged_chunks_flagged_unchanged() -> None:
    f = OpenAIStreamCleanup()
    out, changed = f.feed(chunk("Hello"))
    assert changed  # first text decides
    out, changed = f.feed(chunk(" again"))
    assert not changed and out[0]["choices"][0]["delta"]["content"] == " again"


def test_openai_usage_promoted() -> None:
    f = OpenAIStreamCleanup()
    c = {
        "choices": [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "stop",
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 8},
            }
        ]
    }
    out, changed = f.feed(c)
    assert changed
    assert out[0]["usage"]["prompt_tokens_details"] == {"cached_tokens": 8}


def test_openai_non_stream_message() -> None:
    f = OpenAIStreamCleanup()
    r = f.feed_message({"choices": [{"message": {"content": "(Empty response: {...})"}}]})
    assert r["choices"][0]["message"]["content"] == ""


def ev(kind: str, index: int, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "index": index, **kw}


def test_anthropic_placeholder_block_removed_and_indices_shifted() -> None:
    f = AnthropicStreamCleanup()
    events = [
        {"type": "message_start", "message": {}},
        ev("content_block_start", 0, content_block={"type": "thinking", "thinking": ""}),
        ev("content_block_delta", 0, delta={"type": "thinking_delta", "thinking": "x"}),
        ev("content_block_stop", 0),
        ev("content_block_start", 1, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", 1, delta={"type": "text_delta", "text": "(Empty "}),
        ev("content_block_delta", 1, delta={"type": "text_delta", "text": "response: {}"}),
        ev("content_block_stop", 1),
        ev(
            "content_block_start",
            2,
            content_block={"type": "tool_use", "id": "t", "name": "n", "input": {}},
        ),
        ev("content_block_stop", 2),
        {"type": "message_stop"},
    ]
    out: list[dict[str, Any]] = []
    for e in events:
        got, _ = f.feed(e)
        out += got
    kinds = [(e["type"], e.get("index")) for e in out]
    assert kinds == [
        ("message_start", None),
        ("content_block_start", 0),
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("message_stop", None),
    ]
    assert out[4]["content_block"]["type"] == "tool_use"


def test_anthropic_ordinary_text_passes() -> None:
    f = AnthropicStreamCleanup()
    out: list[dict[str, Any]] = []
    for e in [
        ev("content_block_start", 0, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", 0, delta={"type": "text_delta", "text": "("}),
        ev("content_block_delta", 0, delta={"type": "text_delta", "text": "hi)"}),
        ev("content_block_delta", 0, delta={"type": "text_delta", "text": "!"}),
        ev("content_block_stop", 0),
    ]:
        got, _ = f.feed(e)
        out += got
    assert [e["type"] for e in out] == [
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
    ]
