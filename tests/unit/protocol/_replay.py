"""h11 ``tr()`` for stream translators, and well-formedness checks for both client dialects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from kimibridge.protocol import (
    OPENAI_DONE,
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    SSEParser,
)

Translator = OpenAIToAnthropicStream | AnthropicToOpenAIStream
MODES = ("whole", "bytewise", "trailing")

# Bytes after the terminal event: a late chunk, a keep-alive and a half line. A finished
# translator must ignore them; the parser must keep the half line buffered.
TRAILING = b'data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\n: ping\n\ndata: {"par'


def run(data: bytes, translator: Translator, pieces: Iterable[bytes] | None = None) -> list[Any]:
    parser = SSEParser()
    out: list[Any] = []
    for piece in pieces if pieces is not None else [data]:
        for event in parser.feed(piece):
            out += translator.feed(event)
    out += translator.close()
    return out


def replay(data: bytes, make: Callable[[], Translator], mode: str) -> list[Any]:
    if mode == "whole":
        return run(data, make())
    if mode == "bytewise":
        return run(data, make(), (data[i : i + 1] for i in range(len(data))))
    assert mode == "trailing"
    parser = SSEParser()
    translator = make()
    out: list[Any] = []
    for event in parser.feed(data + TRAILING):
        out += translator.feed(event)
    assert parser.buffered == len(b'data: {"par')
    out += translator.close()
    return out


def check_anthropic(events: list[dict[str, Any]], *, error: bool = False) -> None:
    """The event grammar Claude Code relies on: sequential blocks, matching delta kinds."""
    allowed = {
        "text": {"text_delta", "citations_delta"},
        "thinking": {"thinking_delta", "signature_delta"},
        "tool_use": {"input_json_delta"},
    }
    kinds = [e["type"] for e in events]
    if error:
        assert kinds[-1] == "error", kinds
        assert "message_stop" not in kinds
        body = events[-1]
        assert set(body) == {"type", "error"} and {"type", "message"} <= set(body["error"])
        events = events[:-1]
        if not events:
            return
    assert kinds[0] == "message_start", kinds
    assert kinds.count("message_start") == 1
    open_index: int | None = None
    open_kind = ""
    next_index = 0
    seen_delta = False
    for event in events[1:]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, "block opened while another is open"
            assert event["index"] == next_index
            open_index, open_kind = event["index"], event["content_block"]["type"]
            if open_kind == "tool_use":
                assert event["content_block"]["input"] == {}
                assert event["content_block"]["id"]
            next_index += 1
        elif kind == "content_block_delta":
            assert event["index"] == open_index, "delta for a block that is not open"
            assert event["delta"]["type"] in allowed[open_kind], (open_kind, event)
            text = event["delta"].get("text", event["delta"].get("thinking", "x"))
            assert text != "", "empty delta"
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            open_index = None
        elif kind == "message_delta":
            assert open_index is None, "message_delta with a block open"
            seen_delta = True
        elif kind == "message_stop":
            assert seen_delta and event is events[-1]
    if not error:
        assert kinds[-2:] == ["message_delta", "message_stop"], kinds
    else:
        assert kinds[-1] not in ("message_stop",)


def check_openai(items: list[Any], *, error: bool = False) -> None:
    assert items[-1] == OPENAI_DONE and items.count(OPENAI_DONE) == 1
    chunks = items[:-1]
    if error:
        assert "error" in chunks[-1] and {"message", "type"} <= set(chunks[-1]["error"])
        return
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == [finishes[-1]] and finishes[-1], finishes
    seen: dict[int, bool] = {}
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        json.dumps(chunk)
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", ()):
                if call["index"] not in seen:
                    assert call["id"] and call["function"]["name"], "first fragment lacks id/name"
                    seen[call["index"]] = True
                assert call["index"] == max(seen), "fragment for an earlier call"
