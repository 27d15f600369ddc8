"""Collectors: a whole stream folded into the equivalent non-streaming response.

The gateway uses them when a client asked for a plain response but the upstream streams
(Kimi's CLI path always streams); tests use them to compare streams by their final message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kimibridge.protocol.content import parse_tool_arguments
from kimibridge.protocol.openai import OPENAI_DONE, OpenAIStreamItem
from kimibridge.protocol.usage import Usage, openai_usage_of

__all__ = ["AnthropicMessageCollector", "OpenAICompletionCollector"]


class AnthropicMessageCollector:
    """Anthropic stream events -> the ``message`` a non-streaming call would have returned.

    ``error`` holds the error body if the stream ended with an ``error`` event.
    """

    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self._json: dict[int, list[str]] = {}
        self._usage = Usage()

    def feed_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.feed(event)

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self.message = dict(event.get("message") or {})
            self.message["content"] = []
            self._usage = Usage.from_anthropic(self.message.get("usage"))
        elif kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            self.message.setdefault("content", []).append(block)
            if block.get("type") == "tool_use":
                self._json[int(event.get("index", 0))] = []
        elif kind == "content_block_delta":
            self._delta(int(event.get("index", 0)), event.get("delta") or {})
        elif kind == "content_block_stop":
            index = int(event.get("index", 0))
            if index in self._json:
                parts = self._json.pop(index)
                if parts:
                    self.message["content"][index]["input"] = parse_tool_arguments("".join(parts))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            self.message["stop_reason"] = delta.get("stop_reason")
            self.message["stop_sequence"] = delta.get("stop_sequence")
            self._usage = self._usage.merged_anthropic(event.get("usage"))
            self.message["usage"] = self._usage.to_anthropic()
        elif kind == "error":
            self.error = dict(event)

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        block = self.message["content"][index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature", "")
        elif kind == "input_json_delta":
            self._json[index].append(delta.get("partial_json", ""))


class OpenAICompletionCollector:
    """OpenAI stream items -> the ``chat.completion`` a non-streaming call would have returned."""

    def __init__(self) -> None:
        self.completion: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self.done = False
        self._message: dict[str, Any] = {"role": "assistant", "content": None}
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Mapping[str, Any] | None = None

    def feed_all(self, items: list[OpenAIStreamItem]) -> None:
        for item in items:
            self.feed(item)

    def feed(self, item: OpenAIStreamItem | Mapping[str, Any]) -> None:
        if item == OPENAI_DONE or isinstance(item, str):
            self.done = True
            return
        if item.get("error"):
            self.error = dict(item)
            return
        if not self.completion:
            self.completion = {
                "id": item.get("id"),
                "object": "chat.completion",
                "created": item.get("created"),
                "model": item.get("model"),
            }
        usage = openai_usage_of(item)
        if usage:
            self._usage = usage
        for choice in item.get("choices") or ():
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning_content"):
                if delta.get(key):
                    self._message[key] = (self._message.get(key) or "") + delta[key]
            for call in delta.get("tool_calls") or ():
                entry = self._calls.setdefault(
                    int(call.get("index", 0)),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if call.get("id"):
                    entry["id"] = call["id"]
                fn = call.get("function") or {}
                entry["function"]["name"] += fn.get("name") or ""
                entry["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]

    @property
    def result(self) -> dict[str, Any]:
        message = dict(self._message)
        if self._calls:
            message["tool_calls"] = [self._calls[i] for i in sorted(self._calls)]
        elif message["content"] is None:
            message["content"] = ""
        out = dict(self.completion)
        out["choices"] = [{"index": 0, "message": message, "finish_reason": self._finish}]
        out["usage"] = Usage.from_openai(self._usage).to_openai() if self._usage else None
        return out
