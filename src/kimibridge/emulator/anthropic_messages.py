"""Kimi's Anthropic dialect (``POST /coding/v1/messages``, ``count_tokens``): checks and rendering.

- Model: any id is served, unknown ones as ``kimi-for-coding`` — kimigas drives Claude Code
  straight at Kimi with no model mapping (kimi-plugins.md §4), so Claude model names pass.
- Thinking: ``{"type": "disabled"}`` turns it off (for ``both`` models); ``enabled`` (with
  ``budget_tokens``), ``adaptive`` or no key leave it on, as on the OpenAI side.
- Content blocks: only image, server_tool_use, text, thinking, tool_result, tool_use and
  web_search_tool_result (gateways.md §2, MoonshotAI/Kimi-K2.5#27); ``document`` and any other
  type → 400. ``system`` (string or blocks), ``role: "system"`` messages, ``cache_control``,
  ``metadata``, ``tool_choice``, ``context_management``, ``output_config`` are accepted.
- Missing thinking before a history ``tool_use`` is accepted here: live probes of Kimi's
  Anthropic side answered 200 (NousResearch/hermes-agent#49143), unlike its OpenAI side.
- Usage: ``input_tokens`` excludes cache reads, as Anthropic defines it (Kimi's choice is
  unverified); ``cache_read_input_tokens`` mirrors the OpenAI ``cached_tokens``;
  ``cache_creation_input_tokens`` is always 0 (kimi-plugins.md §1.2 finding 8).
- Thinking signatures are opaque and fixed length (kimi-cli-wire.md §11.3).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kimibridge.emulator.catalog import DEFAULT_MODEL, ModelInfo, get_model
from kimibridge.emulator.directive import Conversation
from kimibridge.emulator.openai_chat import INVALID, Rejection, check_tools
from kimibridge.emulator.sse import Reply, event_frame, pieces

__all__ = [
    "ALLOWED_BLOCKS",
    "check_request",
    "conversation",
    "max_output_tokens",
    "render_json",
    "render_stream",
    "resolve_model",
    "signature",
    "thinking_on",
]

ALLOWED_BLOCKS = (
    "image",
    "server_tool_use",
    "text",
    "thinking",
    "tool_result",
    "tool_use",
    "web_search_tool_result",
)
_ROLES = frozenset({"user", "assistant", "system"})
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def resolve_model(body: Mapping[str, Any]) -> ModelInfo:
    name = body.get("model")
    info = get_model(name) if isinstance(name, str) else None
    return info or get_model(DEFAULT_MODEL)  # type: ignore[return-value]


def thinking_on(body: Mapping[str, Any], info: ModelInfo) -> bool:
    if info.supports_thinking_type != "both":
        return info.supports_thinking_type == "only"
    thinking = body.get("thinking")
    return not (isinstance(thinking, Mapping) and thinking.get("type") == "disabled")


def max_output_tokens(body: Mapping[str, Any], info: ModelInfo) -> int:
    value = body.get("max_tokens")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return info.max_output_tokens


def _block_error(where: str, kind: Any) -> str:
    expected = ", ".join(f"'{b}'" for b in ALLOWED_BLOCKS)
    return f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags: {expected}"


def check_request(body: Mapping[str, Any], *, strict_types: bool = False) -> Rejection | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, INVALID, "Invalid request: messages must be a non-empty list"
    tools = body.get("tools")
    if (problem := check_tools(tools, name_of="anthropic", strict_types=strict_types)) is not None:
        return 400, INVALID, problem
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping) or msg.get("role") not in _ROLES:
            role = msg.get("role") if isinstance(msg, Mapping) else None
            return 400, INVALID, f"Invalid request: unsupported role {role!r} in messages.{i}"
        content = msg.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return 400, INVALID, f"Invalid request: messages.{i}.content must be a string or a list"
        for j, block in enumerate(content):
            kind = block.get("type") if isinstance(block, Mapping) else None
            if kind not in ALLOWED_BLOCKS:
                return 400, INVALID, _block_error(f"messages.{i}.content.{j}", kind)
            if kind == "tool_result" and isinstance(block.get("content"), list):
                for k, inner in enumerate(block["content"]):
                    inner_kind = inner.get("type") if isinstance(inner, Mapping) else None
                    if inner_kind not in ("text", "image"):
                        return (
                            400,
                            INVALID,
                            _block_error(f"messages.{i}.content.{j}.content.{k}", inner_kind),
                        )
    return None


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            b["text"]
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
    return []


def _result_text(block: Mapping[str, Any]) -> str:
    content = block.get("content")
    return content if isinstance(content, str) else "\n".join(_texts(content))


def conversation(body: Mapping[str, Any]) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    results: tuple[str, ...] | None = None
    if (
        messages
        and messages[-1].get("role") == "user"
        and isinstance(messages[-1].get("content"), list)
    ):
        found = [
            _result_text(b)
            for b in messages[-1]["content"]
            if isinstance(b, Mapping) and b.get("type") == "tool_result"
        ]
        results = tuple(found) if found else None
    texts: tuple[str, ...] = ()
    for msg in reversed(messages):
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, list) and any(
            isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
        ):
            continue  # Claude Code puts reminders next to tool results: not the user's prompt
        if found_texts := _texts(content):
            texts = tuple(found_texts)
            break
    tools = tuple(
        str(t["name"]) for t in body.get("tools") or [] if isinstance(t, Mapping) and "name" in t
    )
    return Conversation(texts, results, tools)


def signature(thinking: str) -> str:
    """Opaque and fixed length (88 characters); Kimi does not validate what comes back."""
    return base64.b64encode(hashlib.sha512(thinking.encode("utf-8")).digest()).decode("ascii")


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens,
        "output_tokens": reply.completion_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking is not None:
        blocks.append(
            {"type": "thinking", "thinking": reply.thinking, "signature": signature(reply.thinking)}
        )
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments),
            }
        )
    return blocks


def render_json(reply: Reply) -> dict[str, Any]:
    return {
        "id": f"msg_{reply.seed[:24]}",
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": _blocks(reply),
        "stop_reason": _STOP[reply.finish],
        "stop_sequence": None,
        "usage": _usage(reply),
    }


def render_stream(reply: Reply) -> list[bytes]:
    """Every SSE event: message_start, ping, blocks in order, message_delta, message_stop."""
    start = render_json(reply)
    start.update(content=[], stop_reason=None, usage={**_usage(reply), "output_tokens": 0})
    frames = [event_frame("message_start", {"type": "message_start", "message": start})]
    frames.append(event_frame("ping", {"type": "ping"}))

    def block(index: int, opening: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
        out = [
            event_frame(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        ]
        out += [
            event_frame(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        ]
        out.append(
            event_frame("content_block_stop", {"type": "content_block_stop", "index": index})
        )
        return out

    index = 0
    if reply.thinking is not None:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(reply.thinking)]
        deltas.append({"type": "signature_delta", "signature": signature(reply.thinking)})
        frames += block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if reply.text:
        frames += block(
            index,
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": p} for p in pieces(reply.text)],
        )
        index += 1
    for call in reply.tool_calls:
        opening: dict[str, Any] = {
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": {},
        }
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(call.arguments)]
        frames += block(index, opening, deltas)
        index += 1
    delta = {"stop_reason": _STOP[reply.finish], "stop_sequence": None}
    frames.append(
        event_frame(
            "message_delta", {"type": "message_delta", "delta": delta, "usage": _usage(reply)}
        )
    )
    frames.append(event_frame("message_stop", {"type": "message_stop"}))
    return frames
