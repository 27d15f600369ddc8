"""Stream translators: sans-I/O state machines between the two streaming dialects.

Shape (h11 style)::

    t = OpenAIToAnthropicStream(model="kimi-for-coding")
    for event in parser.feed(upstream_bytes):      # SSEParser
        client.write(encode_anthropic(t.feed(event)))
    client.write(encode_anthropic(t.close()))       # always a well-formed ending

- ``feed(item)`` takes an :class:`SSEEvent` or an already-parsed dict and returns the client
  events it produces; ``close()`` ends the stream (a missing finish still gets a proper
  ending); ``error(message)`` ends it with the client dialect's error event.
- Anthropic output events are dicts whose ``type`` is the SSE event name; OpenAI output items
  are chunk dicts and, last, the :data:`OPENAI_DONE` marker. :func:`encode_anthropic` and
  :func:`encode_openai` turn them into bytes.
- A malformed upstream raises :class:`TranslationError` (``status_hint=502``) and leaves the
  machine in ``ERROR``; events produced before the fault are not lost: ``error()`` (or
  ``close()``) returns them ahead of the error ending. Input after the end is ignored.
- The states and their transitions are the two tables in :mod:`kimibridge.protocol._states`
  (re-exported here); anything not in a table is a protocol error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kimibridge.protocol._states import A2O_TRANSITIONS, O2A_TRANSITIONS, StreamState
from kimibridge.protocol.openai import OPENAI_DONE, OpenAIStreamItem
from kimibridge.protocol.sse import encode_json_event
from kimibridge.protocol.to_anthropic_stream import OpenAIToAnthropicStream
from kimibridge.protocol.to_openai_stream import AnthropicToOpenAIStream

__all__ = [
    "A2O_TRANSITIONS",
    "O2A_TRANSITIONS",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "StreamState",
    "encode_anthropic",
    "encode_openai",
]


def encode_anthropic(events: Iterable[Mapping[str, Any]]) -> bytes:
    """Anthropic events as SSE bytes: ``event: <type>`` + ``data: <json>`` per event."""
    return b"".join(encode_json_event(e, str(e["type"])) for e in events)


def encode_openai(items: Iterable[OpenAIStreamItem]) -> bytes:
    """OpenAI stream items as SSE bytes: ``data: <json>`` per chunk, ``data: [DONE]`` last."""
    return b"".join(
        b"data: [DONE]\n\n" if item == OPENAI_DONE else encode_json_event(item) for item in items
    )
