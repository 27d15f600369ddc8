"""Stream pipes: parsed upstream SSE events in, client bytes out, one class per (upstream, client).

Every pipe has the same small surface, so the relay loop in ``gateway.relay`` is one loop:

- ``feed(event) -> bytes`` for each upstream event, ``close() -> bytes`` at the upstream's end
  (a well-formed ending in the client's dialect even when the upstream stopped early),
  ``error(message, kind) -> bytes`` when the upstream failed mid-stream;
- ``usage``, ``stop_reason`` (Anthropic names) and ``text`` for the ledger and turn events.

Same dialect: events go through Kimi's stream cleanup and, when it changed nothing, out as the
upstream's own ``data`` text (no JSON re-serialisation). Different dialects: cleanup, then the
``kimibridge.protocol`` translator.
"""

from __future__ import annotations

from typing import Any, Protocol

from kimibridge.kimi.stream_cleanup import AnthropicStreamCleanup, OpenAIStreamCleanup
from kimibridge.protocol.anthropic import anthropic_error
from kimibridge.protocol.openai import OPENAI_DONE, openai_error
from kimibridge.protocol.responses import anthropic_stop_reason
from kimibridge.protocol.sse import SSEEvent, encode_event, encode_json_event
from kimibridge.protocol.streams import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    encode_anthropic,
    encode_openai,
)
from kimibridge.protocol.usage import Usage, openai_usage_of

__all__ = [
    "AnthropicPassthrough",
    "AnthropicToOpenAIPipe",
    "OpenAIPassthrough",
    "OpenAIToAnthropicPipe",
    "Pipe",
]

_DONE_BYTES = b"data: [DONE]\n\n"


class Pipe(Protocol):
    @property
    def usage(self) -> Usage: ...
    @property
    def stop_reason(self) -> str | None: ...
    @property
    def text(self) -> list[str]: ...

    def feed(self, event: SSEEvent) -> bytes: ...
    def close(self) -> bytes: ...
    def error(self, message: str, kind: str) -> bytes: ...


def _openai_error_type(kind: str) -> str:
    return {
        "rate_limit_error": "rate_limit_error",
        "invalid_request_error": "invalid_request_error",
    }.get(kind, "server_error")


class OpenAIPassthrough:
    """Kimi OpenAI stream -> OpenAI client.

    Fast path: once the answer's text is known not to be Kimi's placeholder, a chunk that carries
    neither usage, tool calls nor a finish reason is forwarded without being parsed (most chunks
    of a long answer), unless someone wants the final text (``want_text``: event subscribers).
    """

    __slots__ = (
        "_cleanup",
        "_done",
        "_ended",
        "_tools",
        "include_usage",
        "stop_reason",
        "text",
        "usage",
        "want_text",
    )

    def __init__(self, *, include_usage: bool, want_text: bool = True) -> None:
        self.include_usage = include_usage
        self.want_text = want_text
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.text: list[str] = []
        self._cleanup = OpenAIStreamCleanup()
        self._done = False
        self._ended = False
        self._tools = False

    def feed(self, event: SSEEvent) -> bytes:
        if self._ended:
            return b""
        data = event.data
        if (
            not self.want_text
            and self._cleanup.settled
            and '"usage"' not in data
            and ('"finish_reason":null' in data or '"finish_reason": null' in data)
            and '"tool_calls"' not in data
        ):
            return encode_event(data)
        if data.strip() == OPENAI_DONE:
            self._done = self._ended = True
            return _DONE_BYTES
        chunk = event.json()
        if not isinstance(chunk, dict):
            return b""
        if "error" in chunk:  # an in-stream error from upstream: pass it on, then end
            self._ended = True
            return encode_event(data) + _DONE_BYTES
        items, changed = self._cleanup.feed(chunk)
        out: list[bytes] = []
        for item in items:
            self._tap(item)
            if not item.get("choices") and item.get("usage") and not self.include_usage:
                changed = True
                continue  # a usage-only chunk the client did not ask for
            if changed:
                out.append(encode_json_event(item))
        return b"".join(out) if changed else encode_event(data)

    def _tap(self, chunk: dict[str, Any]) -> None:
        usage = openai_usage_of(chunk)
        if usage:
            self.usage = Usage.from_openai(usage)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
            if delta.get("tool_calls"):
                self._tools = True
            finish = choice.get("finish_reason")
            if finish:
                self.stop_reason = anthropic_stop_reason(finish, has_tool_use=self._tools)

    def close(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        if self.stop_reason is not None:
            return _DONE_BYTES  # finished but no [DONE]: end it as OpenAI would
        return self.error("upstream ended the stream before the response was complete", "api_error")

    def error(self, message: str, kind: str) -> bytes:
        self._ended = True
        body = openai_error(message, error_type=_openai_error_type(kind))
        return encode_json_event(body) + _DONE_BYTES


class AnthropicPassthrough:
    """Kimi Anthropic stream -> Anthropic client."""

    __slots__ = ("_cleanup", "_ended", "_open", "stop_reason", "text", "usage")

    def __init__(self) -> None:
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.text: list[str] = []
        self._cleanup = AnthropicStreamCleanup()
        self._ended = False
        self._open: int | None = None  # index of the block open on the client's side

    def feed(self, event: SSEEvent) -> bytes:
        if self._ended:
            return b""
        data = event.json()
        if not isinstance(data, dict):
            return b""
        kind = data.get("type")
        if kind == "message_start":
            self.usage = Usage.from_anthropic((data.get("message") or {}).get("usage"))
        elif kind == "message_delta":
            self.usage = self.usage.merged_anthropic(data.get("usage"))
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.text.append(delta["text"])
        elif kind in ("message_stop", "error"):
            self._ended = True
        items, changed = self._cleanup.feed(data)
        for item in items:
            if item.get("type") == "content_block_start":
                self._open = item.get("index")
            elif item.get("type") == "content_block_stop":
                self._open = None
        if not changed:
            return encode_event(event.data, event.event or str(kind))
        return encode_anthropic(items)

    def close(self) -> bytes:
        if self._ended:
            return b""
        return self.error("upstream ended the stream before the response was complete", "api_error")

    def error(self, message: str, kind: str) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        out = b""
        if self._open is not None:
            out = encode_json_event(
                {"type": "content_block_stop", "index": self._open}, "content_block_stop"
            )
        return out + encode_json_event(anthropic_error(message, error_type=kind), "error")


class OpenAIToAnthropicPipe:
    """Kimi OpenAI stream -> Anthropic client (Claude Code on the default upstream)."""

    __slots__ = ("_cleanup", "_t", "text")

    def __init__(self, *, model: str) -> None:
        self._t = OpenAIToAnthropicStream(model=model)
        self._cleanup = OpenAIStreamCleanup()
        self.text: list[str] = []

    @property
    def usage(self) -> Usage:
        return self._t.usage

    @property
    def stop_reason(self) -> str | None:
        return self._t.stop_reason

    def _out(self, events: list[dict[str, Any]]) -> bytes:
        for e in events:
            if e.get("type") == "content_block_delta":
                delta = e.get("delta") or {}
                if delta.get("type") == "text_delta":
                    self.text.append(delta.get("text", ""))
        return encode_anthropic(events)

    def feed(self, event: SSEEvent) -> bytes:
        if event.data.strip() == OPENAI_DONE:
            return self._out(self._t.feed(event))
        chunk = event.json()
        if not isinstance(chunk, dict):
            return b""
        items, _ = self._cleanup.feed(chunk)
        events: list[dict[str, Any]] = []
        for item in items:
            events += self._t.feed(item)
        return self._out(events)

    def close(self) -> bytes:
        return self._out(self._t.close())

    def error(self, message: str, kind: str) -> bytes:
        return self._out(self._t.error(message, error_type=kind))


class AnthropicToOpenAIPipe:
    """Kimi Anthropic stream -> OpenAI client (upstream protocol ``anthropic``)."""

    __slots__ = ("_cleanup", "_t", "text")

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self._t = AnthropicToOpenAIStream(model=model, include_usage=include_usage)
        self._cleanup = AnthropicStreamCleanup()
        self.text: list[str] = []

    @property
    def usage(self) -> Usage:
        return self._t.usage

    @property
    def stop_reason(self) -> str | None:
        finish = self._t.finish_reason
        if finish is None:
            return None
        return {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}.get(
            finish, finish
        )

    def _out(self, items: list[Any]) -> bytes:
        for item in items:
            if isinstance(item, dict):
                for choice in item.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        self.text.append(content)
        return encode_openai(items)

    def feed(self, event: SSEEvent) -> bytes:
        data = event.json()
        if not isinstance(data, dict):
            return b""
        items, _ = self._cleanup.feed(data)
        out: list[Any] = []
        for item in items:
            out += self._t.feed(item)
        return self._out(out)

    def close(self) -> bytes:
        return self._out(self._t.close())

    def error(self, message: str, kind: str) -> bytes:
        return self._out(self._t.error(message, error_type=_openai_error_type(kind)))
