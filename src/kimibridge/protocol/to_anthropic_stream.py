"""OpenAI (Kimi) chunk stream -> Anthropic Messages events; see :mod:`kimibridge.protocol.streams`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kimibridge.errors import TranslationError
from kimibridge.protocol._states import (
    BLOCK_STATES,
    O2A_TRANSITIONS,
    StreamState,
    protocol_error,
    unparsable,
)
from kimibridge.protocol.anthropic import (
    anthropic_error,
    anthropic_error_type,
    synthesize_signature,
)
from kimibridge.protocol.content import SHAPE_ERRORS
from kimibridge.protocol.ids import ToolIdMap, sanitize_tool_id
from kimibridge.protocol.openai import OPENAI_DONE
from kimibridge.protocol.responses import anthropic_stop_reason
from kimibridge.protocol.sse import SSEEvent
from kimibridge.protocol.usage import Usage, openai_usage_of

S = StreamState

__all__ = ["OpenAIToAnthropicStream"]


class _Tool:
    __slots__ = ("args", "block", "id", "name", "pending")

    def __init__(self, tool_id: str, name: str) -> None:
        self.id = tool_id
        self.name = name
        self.args: list[str] = []
        self.pending = ""  # fragments that arrived before the name
        self.block = -1  # Anthropic block index once opened


class OpenAIToAnthropicStream:
    """OpenAI chat.completion.chunk stream (Kimi's) -> Anthropic Messages events.

    ``thinking=False`` drops ``reasoning_content`` for clients that did not ask for thinking
    blocks; ``ids`` maps upstream tool-call ids to Anthropic-valid ones (a private map if
    omitted).
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        message_id: str | None = None,
        ids: ToolIdMap | None = None,
        thinking: bool = True,
    ) -> None:
        self.state = S.START
        self.thinking = thinking
        self.model = model
        self.message_id = message_id
        self.usage = Usage()
        self.stop_reason: str | None = None
        # A private map when none is given still keeps two ids that sanitise alike apart.
        self._ids = ids if ids is not None else ToolIdMap()
        self._finish: str | None = None
        self._blocks = 0
        self._tools: dict[int, _Tool] = {}
        self._current: _Tool | None = None
        self._thinking_text: list[str] = []
        self._any_content = False
        self._ended = False  # the client has its final event (message_stop or error)
        self._stash: list[dict[str, Any]] = []  # produced before a fault, not yet returned
        self._fault_state = S.START

    @property
    def started(self) -> bool:
        """Whether anything was emitted (else the gateway may still answer with an HTTP error)."""
        return self.state is not S.START

    def start(self) -> list[dict[str, Any]]:
        """Emit ``message_start`` now, before the upstream answers (lower time to first byte)."""
        out: list[dict[str, Any]] = []
        if self.state is S.START:
            self._message_start(out, {})
            self.state = S.MESSAGE
        return out

    def feed(self, item: SSEEvent | Mapping[str, Any]) -> list[dict[str, Any]]:
        if self._ended:
            return []
        if self.state is S.ERROR:
            raise protocol_error("fed after a fault; call error() or close()")
        out: list[dict[str, Any]] = []
        try:
            if isinstance(item, SSEEvent):
                if item.data.strip() == OPENAI_DONE:
                    self._end(out)
                    return out
                chunk = item.json()
                if item.event == "error" and isinstance(chunk, Mapping) and "error" not in chunk:
                    chunk = {"error": chunk}  # `event: error` carrying the bare error body
            else:
                chunk = item
            # dict, not the Mapping ABC: an ABC isinstance costs ~1 µs per chunk on the hot path
            if not isinstance(chunk, dict):
                raise protocol_error("a chunk is not a JSON object")
            self._chunk(chunk, out)
        except SHAPE_ERRORS as exc:
            self._stash = out
            self._fault_state, self.state = self.state, S.ERROR
            raise protocol_error(f"{type(exc).__name__}: {exc}") from exc
        except TranslationError:
            self._stash = out
            self._fault_state, self.state = self.state, S.ERROR
            raise
        return out

    def close(self) -> list[dict[str, Any]]:
        if self._ended:
            return []
        if self.state is S.ERROR:
            return self.error("upstream stream was malformed")
        out: list[dict[str, Any]] = []
        self._end(out)
        return out

    def error(self, message: str, *, error_type: str = "api_error") -> list[dict[str, Any]]:
        """End with an Anthropic ``error`` event, after closing an open block; ``[]`` once ended."""
        if self._ended:
            return []
        out, self._stash = self._stash, []
        if self.state is S.ERROR:
            self.state = self._fault_state
        self._error_events(out, message, error_type)
        return out

    def _error_events(self, out: list[dict[str, Any]], message: str, error_type: str) -> None:
        if self.state in BLOCK_STATES:
            out.append({"type": "content_block_stop", "index": self._blocks - 1})
        out.append(anthropic_error(message, error_type=error_type))
        self.state = S.ERROR
        self._ended = True

    # -- internals

    def _move(self, kind: str, out: list[dict[str, Any]]) -> StreamState:
        nxt = O2A_TRANSITIONS.get((self.state, kind))
        if nxt is None:
            raise protocol_error(f"{kind!r} while {self.state.value}")
        if self.state is S.START:
            self._message_start(out, {})
        opens = nxt in BLOCK_STATES and (kind == "tool" or nxt is not self.state)
        if self.state in BLOCK_STATES and (opens or nxt not in BLOCK_STATES):
            self._close_block(out)
        self.state = nxt
        if opens and nxt is S.TEXT:
            self._open(out, {"type": "text", "text": ""})
        elif opens and nxt is S.THINKING:
            self._open(out, {"type": "thinking", "thinking": "", "signature": ""})
        return nxt

    def _message_start(self, out: list[dict[str, Any]], chunk: Mapping[str, Any]) -> None:
        self.model = self.model or str(chunk.get("model") or "")
        if not self.message_id:
            raw = str(chunk.get("id") or "")
            self.message_id = "msg_" + (sanitize_tool_id(raw) if raw else "kimibridge")
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": Usage().to_anthropic(),  # zeros; real counts arrive in message_delta
        }
        out.append({"type": "message_start", "message": message})

    def _open(self, out: list[dict[str, Any]], block: dict[str, Any]) -> int:
        index = self._blocks
        self._blocks += 1
        self._any_content = True
        out.append({"type": "content_block_start", "index": index, "content_block": block})
        return index

    def _delta(self, out: list[dict[str, Any]], delta: dict[str, Any]) -> None:
        out.append({"type": "content_block_delta", "index": self._blocks - 1, "delta": delta})

    def _close_block(self, out: list[dict[str, Any]]) -> None:
        if self.state is S.THINKING:
            signature = synthesize_signature("".join(self._thinking_text))
            self._thinking_text = []
            self._delta(out, {"type": "signature_delta", "signature": signature})
        out.append({"type": "content_block_stop", "index": self._blocks - 1})
        self._current = None

    def _chunk(self, chunk: Mapping[str, Any], out: list[dict[str, Any]]) -> None:
        error = chunk.get("error")
        if error:
            body = error if isinstance(error, Mapping) else {"message": str(error)}
            message = str(body.get("message") or "upstream error")
            kind = str(body.get("type") or body.get("code") or "")
            self._error_events(out, message, anthropic_error_type(500, kind))
            return
        if self.state is S.START:
            self._message_start(out, chunk)
            self.state = S.MESSAGE
        usage = openai_usage_of(chunk)
        if usage:
            self.usage = Usage.from_openai(usage)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # n > 1 is refused at request time; stray choices are ignored
            delta = choice.get("delta") or {}
            # Order inside one chunk: thinking, text, tools (what Anthropic streams look like).
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if (
                self.thinking
                and isinstance(reasoning, str)
                and reasoning
                and self._move("thinking", out) is S.THINKING
            ):
                self._thinking_text.append(reasoning)
                self._delta(out, {"type": "thinking_delta", "thinking": reasoning})
            content = delta.get("content")
            # Empty deltas never reach the client (an empty text_delta breaks strict clients).
            if isinstance(content, str) and content and self._move("text", out) is S.TEXT:
                self._delta(out, {"type": "text_delta", "text": content})
            for call in delta.get("tool_calls") or ():
                self._tool_fragment(call, out)
            if choice.get("finish_reason"):
                self._finish_with(str(choice["finish_reason"]), out)
        if self.state is S.FINISHING and usage:
            self._final(out)

    def _tool_fragment(self, call: Mapping[str, Any], out: list[dict[str, Any]]) -> None:
        if self.state is S.FINISHING:
            return  # content after the finish is dropped
        fn = call.get("function") or {}
        index = call.get("index")
        if index is None:  # some upstreams omit it: a new id is a new call, else the current one
            known = [i for i, t in self._tools.items() if t.id and t.id == call.get("id")]
            index = (
                known[0]
                if known
                else (len(self._tools) if call.get("id") or not self._tools else max(self._tools))
            )
        tool = self._tools.get(index)
        if tool is None:
            tool = self._tools[index] = _Tool(str(call.get("id") or ""), str(fn.get("name") or ""))
        else:
            tool.id = tool.id or str(call.get("id") or "")
            tool.name = tool.name or str(fn.get("name") or "")
        args = fn.get("arguments") or ""
        if not isinstance(args, str):
            args = json.dumps(args, ensure_ascii=False)
        if tool.block < 0:
            tool.pending += args
            if tool.name:
                self._open_tool(tool, out)
            return
        if not args:
            return  # an id/name-only repeat carries nothing new
        if tool is not self._current:
            raise protocol_error(f"arguments for tool call {index} after its block was closed")
        if self._move("args", out) is S.TOOL:
            tool.args.append(args)
            self._delta(out, {"type": "input_json_delta", "partial_json": args})

    def _open_tool(self, tool: _Tool, out: list[dict[str, Any]]) -> None:
        if self._move("tool", out) is not S.TOOL:
            return
        raw = tool.id or f"call_{len(self._tools)}"
        tool_id = self._ids.outward(raw)
        tool.block = self._open(
            out, {"type": "tool_use", "id": tool_id, "name": tool.name, "input": {}}
        )
        self._current = tool
        if tool.pending:
            tool.args.append(tool.pending)
            self._delta(out, {"type": "input_json_delta", "partial_json": tool.pending})
            tool.pending = ""

    def _finish_with(self, finish: str, out: list[dict[str, Any]]) -> None:
        if self.state is S.FINISHING:
            return
        for tool in list(self._tools.values()):
            if tool.block < 0:  # a call whose name never came: show it rather than lose it
                self._open_tool(tool, out)
        self._finish = finish
        self._move("finish", out)

    def _truncated(self) -> bool:
        return self._current is not None and unparsable(self._current.args)

    def _end(self, out: list[dict[str, Any]]) -> None:
        if self._finish is None and not self._any_content:
            # Nothing at all came back: an empty success would read as "no content"; say why.
            self._error_events(out, "upstream ended the stream without a response", "api_error")
            return
        if self._finish is None:
            # Abrupt end: truncated tool arguments read as max_tokens, so they are never run.
            finish = "length" if self._truncated() else "stop"
            self._finish_with(finish, out)
        self._final(out)

    def _final(self, out: list[dict[str, Any]]) -> None:
        self.stop_reason = anthropic_stop_reason(self._finish, has_tool_use=bool(self._tools))
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": self.usage.to_anthropic(),
            }
        )
        out.append({"type": "message_stop"})
        self.state = S.DONE
        self._ended = True
