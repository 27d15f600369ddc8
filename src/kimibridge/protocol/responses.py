"""Non-streaming responses both ways, and the stop-reason tables the streams share."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from kimibridge.protocol.anthropic import (
    anthropic_error,
    anthropic_error_type,
    synthesize_signature,
)
from kimibridge.protocol.content import parse_tool_arguments, shape_errors
from kimibridge.protocol.ids import ToolIdMap, sanitize_tool_id
from kimibridge.protocol.openai import openai_error
from kimibridge.protocol.usage import Usage, openai_usage_of

__all__ = [
    "anthropic_error_to_openai",
    "anthropic_stop_reason",
    "anthropic_to_openai_response",
    "openai_error_to_anthropic",
    "openai_finish_reason",
    "openai_to_anthropic_response",
]

_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    # A filtered answer is a refusal, not a normal end (BerriAI/litellm#40857).
    "content_filter": "refusal",
}

_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    # pause_turn: the server paused a long hosted-tool loop; to an OpenAI client the turn ended.
    "pause_turn": "stop",
}


def anthropic_stop_reason(finish_reason: str | None, *, has_tool_use: bool) -> str:
    """OpenAI ``finish_reason`` -> Anthropic ``stop_reason``, consistent with the content.

    ``tool_use`` is reported exactly when tool_use blocks were produced: a ``stop`` next to tool
    calls would leave the tools unrun, and ``tool_use`` with no tool block stalls Claude Code.
    """
    reason = _FINISH_TO_STOP.get(finish_reason or "stop", "end_turn")
    if has_tool_use and reason == "end_turn":
        return "tool_use"
    if not has_tool_use and reason == "tool_use":
        return "end_turn"
    return reason


def openai_finish_reason(stop_reason: str | None, *, has_tool_calls: bool) -> str:
    """Anthropic ``stop_reason`` -> OpenAI ``finish_reason``, with the same consistency rule."""
    reason = _STOP_TO_FINISH.get(stop_reason or "end_turn", "stop")
    if has_tool_calls and reason == "stop":
        return "tool_calls"
    if not has_tool_calls and reason == "tool_calls":
        return "stop"
    return reason


def _message_id(raw: Any) -> str:
    text = str(raw or "")
    if text.startswith("msg_"):
        return text
    return "msg_" + sanitize_tool_id(text) if text else "msg_kimibridge"


@shape_errors("OpenAI response", 502)
def openai_to_anthropic_response(
    resp: Mapping[str, Any],
    *,
    ids: ToolIdMap | None = None,
    model: str | None = None,
    thinking: bool = True,
) -> dict[str, Any]:
    """OpenAI ``chat.completion`` -> Anthropic ``message``.

    Content order is thinking, text, tool_use (what a streamed answer looks like). Tool-call ids
    are made Anthropic-valid through ``ids`` (or a fresh :class:`ToolIdMap`). Usage is read from
    ``usage`` or Kimi's ``choices[0].usage`` (see :mod:`kimibridge.protocol.usage`).
    ``thinking=False`` leaves reasoning out for clients that did not ask for thinking.
    """
    choices = resp.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    ids = ids if ids is not None else ToolIdMap()  # keeps ids that sanitise alike apart
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if thinking and isinstance(reasoning, str) and reasoning:
        content.append(
            {
                "type": "thinking",
                "thinking": reasoning,
                "signature": synthesize_signature(reasoning),
            }
        )
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, Mapping))
    if text:
        content.append({"type": "text", "text": text})
    elif message.get("refusal"):
        content.append({"type": "text", "text": str(message["refusal"])})
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        raw = str(call.get("id") or f"call_{len(content)}")
        content.append(
            {
                "type": "tool_use",
                "id": ids.outward(raw),
                "name": fn.get("name", ""),
                "input": parse_tool_arguments(fn.get("arguments")),
            }
        )
    has_tools = any(b["type"] == "tool_use" for b in content)
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model or resp.get("model", ""),
        "content": content,
        "stop_reason": anthropic_stop_reason(choice.get("finish_reason"), has_tool_use=has_tools),
        "stop_sequence": None,
        "usage": Usage.from_openai(openai_usage_of(resp)).to_anthropic(),
    }


@shape_errors("Anthropic response", 502)
def anthropic_to_openai_response(
    msg: Mapping[str, Any],
    *,
    ids: ToolIdMap | None = None,
    model: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """Anthropic ``message`` -> OpenAI ``chat.completion``.

    Text blocks are concatenated (Anthropic splits one answer around citations); thinking
    becomes ``reasoning_content`` (signatures have no OpenAI field); ``redacted_thinking`` and
    hosted-tool blocks are skipped on purpose. ``ids.back`` restores client tool-call ids.
    """
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            raw = str(block.get("id", ""))
            calls.append(
                {
                    "id": ids.back(raw) if ids is not None else raw,
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": str(msg.get("id") or "chatcmpl-kimibridge"),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model or msg.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": openai_finish_reason(
                    msg.get("stop_reason"), has_tool_calls=bool(calls)
                ),
            }
        ],
        "usage": Usage.from_anthropic(msg.get("usage")).to_openai(),
    }


def _error_of(body: Any, status: int) -> tuple[str, str | None]:
    err = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(err, Mapping):
        text = err if isinstance(err, str) else body if isinstance(body, str) else None
        return (text or f"upstream error (HTTP {status})", None)
    message = str(err.get("message") or f"upstream error (HTTP {status})")
    kind = err.get("type") or err.get("code")
    return message, str(kind) if kind else None


def openai_error_to_anthropic(body: Any, *, status: int) -> dict[str, Any]:
    """An OpenAI-dialect error body (Kimi's ``{"error": {...}}``) as an Anthropic error body.

    The HTTP status stays the gateway's choice; ``body`` may be any decoded JSON (or text).
    """
    message, kind = _error_of(body, status)
    return anthropic_error(message, error_type=anthropic_error_type(status, kind))


def anthropic_error_to_openai(body: Any, *, status: int) -> dict[str, Any]:
    """An Anthropic error body (``{"type": "error", "error": {...}}``) as an OpenAI error body."""
    message, kind = _error_of(body, status)
    return openai_error(message, status=status, error_type=kind, code=kind)
