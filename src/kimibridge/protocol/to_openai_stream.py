"""Anthropic Messages events -> OpenAI chunk stream; see :mod:`kimibridge.protocol.streams`."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from kimibridge.errors import TranslationError
from kimibridge.protocol._states import (
    A2O_KINDS,
    A2O_TRANSITIONS,
    StreamState,
    protocol_error,
    unparsable,
)
from kimibridge.protocol.content import SHAPE_ERRORS
from kimibridge.protocol.ids import ToolIdMap
from kimibridge.protocol.openai import OPENAI_DONE, OpenAIStreamItem, openai_error
from kimibridge.protocol.responses import openai_finish_reason
from kimibridge.protocol.sse import SSEEvent
from kimibridge.protocol.usage import Usage

S = StreamState

__all__ = ["AnthropicToOpenAIStream"]

_CONTENT_DELTAS = frozenset({"text_delta", "thinking_delta", "input_json_delta"})


class AnthropicToOpenAIStream:
    """Anthropic Messages events -> OpenAI chat.completion.chunk items, ending in ``[DONE]``.

    ``include_usage`` mirrors the client's ``stream_options.include_usage``: when set, a last
    chunk with ``choices: []`` carries the usage (clients that did not ask may choke on it).
    The usage is available as :attr:`usage` either way.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        completion_id: str | None = None,
        created: int | None = None,
        include_usage: bool = False,
        ids: ToolIdMap | None = None,
    ) -> None:
        self.state = S.START
        self.model = model
        self.completion_id = completion_id
        self.created = int(time.time()) if created is None else created
        self.include_usage = include_usage
        self.usage = Usage()
        self.finish_reason: str | None = None
        self._ids = ids
        self._blocks: dict[int, str] = {}  # open Anthropic block index -> kind
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool index
        self._tool_args: dict[int, list[str]] = {}
        self._any_content = False
        self._ended = False
        self._stash: list[OpenAIStreamItem] = []
        self._fault_state = S.START

    @property
    def started(self) -> bool:
        return self.state is not S.START

    def feed(self, item: SSEEvent | Mapping[str, Any]) -> list[OpenAIStreamItem]:
        if self._ended:
            return []
        if self.state is S.ERROR:
            raise protocol_error("fed after a fault; call error() or close()")
        out: list[OpenAIStreamItem] = []
        try:
            event = item.json() if isinstance(item, SSEEvent) else item
            if not isinstance(event, dict):  # dict, not the slower Mapping ABC
                raise protocol_error("an event is not a JSON object")
            self._event(event, out)
        except SHAPE_ERRORS as exc:
            self._stash = out
            self._fault_state, self.state = self.state, S.ERROR
            raise protocol_error(f"{type(exc).__name__}: {exc}") from exc
        except TranslationError:
            self._stash = out
            self._fault_state, self.state = self.state, S.ERROR
            raise
        return out

    def close(self) -> list[OpenAIStreamItem]:
        if self._ended:
            return []
        if self.state is S.ERROR:
            return self.error("upstream stream was malformed")
        out: list[OpenAIStreamItem] = []
        if not self._any_content and self.finish_reason is None:
            self._error_items(out, "upstream ended the stream without a response", "server_error")
            return out
        if self.finish_reason is None:
            truncated = any(unparsable(a) for i, a in self._tool_args.items() if i in self._blocks)
            self._finish_with("max_tokens" if truncated else "end_turn", out)
        self._final(out)
        return out

    def error(self, message: str, *, error_type: str = "server_error") -> list[OpenAIStreamItem]:
        """End with an OpenAI error chunk (``{"error": {...}}``) and ``[DONE]``."""
        if self._ended:
            return []
        out, self._stash = self._stash, []
        self._error_items(out, message, error_type)
        return out

    # -- internals

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _error_items(self, out: list[OpenAIStreamItem], message: str, error_type: str) -> None:
        out.append(openai_error(message, error_type=error_type))
        out.append(OPENAI_DONE)
        self.state = S.ERROR
        self._ended = True

    def _begin(self, message: Mapping[str, Any], out: list[OpenAIStreamItem]) -> None:
        self.model = self.model or str(message.get("model") or "")
        self.completion_id = self.completion_id or str(message.get("id") or "chatcmpl-kimibridge")
        self.usage = Usage.from_anthropic(message.get("usage"))
        out.append(self._chunk({"role": "assistant", "content": ""}))

    def _event(self, event: Mapping[str, Any], out: list[OpenAIStreamItem]) -> None:
        kind = str(event.get("type") or "")
        if kind == "error":
            body = event.get("error") or {}
            message = str(body.get("message") or "upstream error")
            self._error_items(out, message, str(body.get("type") or "server_error"))
            return
        nxt = A2O_TRANSITIONS.get((self.state, kind))
        if nxt is None:
            if kind == "ping" or kind not in A2O_KINDS:
                return  # keep-alives and event types added after this was written
            raise protocol_error(f"{kind!r} while {self.state.value}")
        if self.state is S.START:
            self._begin(event.get("message") or {}, out)
        self.state = nxt
        if kind == "content_block_start":
            self._block_start(event, out)
        elif kind == "content_block_delta":
            self._block_delta(event, out)
        elif kind == "content_block_stop":
            self._block_stop(event, out)
        elif kind == "message_delta":
            self.usage = self.usage.merged_anthropic(event.get("usage"))
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop and self.finish_reason is None:
                self._finish_with(str(stop), out)
        elif kind == "message_stop":
            if self.finish_reason is None:
                self._finish_with("end_turn", out)
            self._final(out)

    def _block_start(self, event: Mapping[str, Any], out: list[OpenAIStreamItem]) -> None:
        index = int(event.get("index", len(self._blocks)))
        block = event.get("content_block") or {}
        kind = str(block.get("type") or "")
        if index in self._blocks:
            raise protocol_error(f"block {index} started twice")
        self._blocks[index] = kind
        if kind == "text" and block.get("text"):
            self._emit(out, {"content": block["text"]})
        elif kind == "thinking" and block.get("thinking"):
            self._emit(out, {"reasoning_content": block["thinking"]})
        elif kind == "tool_use":
            tool_index = len(self._tool_index)
            self._tool_index[index] = tool_index
            raw = str(block.get("id") or f"call_{tool_index}")
            initial = block.get("input")
            args = json.dumps(initial, ensure_ascii=False) if initial else ""
            self._tool_args[index] = [args] if args else []
            call = {
                "index": tool_index,
                "id": self._ids.back(raw) if self._ids is not None else raw,
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": args},
            }
            self._emit(out, {"tool_calls": [call]})
        # redacted_thinking, server_tool_use, web_search_tool_result, ...: skipped on purpose,
        # the OpenAI dialect cannot carry them; their deltas are ignored below.

    def _block_delta(self, event: Mapping[str, Any], out: list[OpenAIStreamItem]) -> None:
        index = event.get("index")
        kind = self._blocks.get(index)  # type: ignore[arg-type]
        if kind is None:
            raise protocol_error(f"delta for block {index}, which is not open")
        delta = event.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta" and kind == "text":
            if delta.get("text"):
                self._emit(out, {"content": delta["text"]})
        elif dtype == "thinking_delta" and kind == "thinking":
            if delta.get("thinking"):
                self._emit(out, {"reasoning_content": delta["thinking"]})
        elif dtype == "input_json_delta" and kind == "tool_use":
            part = delta.get("partial_json") or ""
            if part:
                self._tool_args[index].append(part)  # type: ignore[index]
                call = {"index": self._tool_index[index], "function": {"arguments": part}}  # type: ignore[index]
                self._emit(out, {"tool_calls": [call]})
        elif kind in ("text", "thinking", "tool_use") and dtype in _CONTENT_DELTAS:
            raise protocol_error(f"{dtype} into a {kind} block")
        # signature_delta (no OpenAI field), citations_delta and unknown deltas: skipped on purpose.

    def _block_stop(self, event: Mapping[str, Any], out: list[OpenAIStreamItem]) -> None:
        index = event.get("index")
        kind = self._blocks.pop(index, None)  # type: ignore[arg-type]
        if kind is None:
            raise protocol_error(f"stop for block {index}, which is not open")
        if kind == "tool_use" and not self._tool_args.get(index):  # type: ignore[arg-type]
            # A call with no arguments still needs valid JSON for its arguments.
            self._tool_args[index] = ["{}"]  # type: ignore[index]
            call = {"index": self._tool_index[index], "function": {"arguments": "{}"}}  # type: ignore[index]
            self._emit(out, {"tool_calls": [call]})

    def _emit(self, out: list[OpenAIStreamItem], delta: dict[str, Any]) -> None:
        self._any_content = True
        out.append(self._chunk(delta))

    def _finish_with(self, stop_reason: str, out: list[OpenAIStreamItem]) -> None:
        self.finish_reason = openai_finish_reason(
            stop_reason, has_tool_calls=bool(self._tool_index)
        )
        out.append(self._chunk({}, self.finish_reason))

    def _final(self, out: list[OpenAIStreamItem]) -> None:
        if self.include_usage:
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = self.usage.to_openai()
            out.append(chunk)
        out.append(OPENAI_DONE)
        self.state = S.DONE
        self._ended = True
