"""Kimi's OpenAI dialect (``POST /coding/v1/chat/completions``): checks and rendering, no I/O.

Thinking: on unless the request sends ``thinking: {"type": "disabled"}``, for models whose
catalog ``supports_thinking_type`` is ``both``; always on for ``only`` (a disable is ignored),
never for ``no``. Kimi enables thinking server-side when the key is absent
(NousResearch/hermes-agent#56730).

Usage, Kimi's shape (reference/gateways.md §2, kimi-cli-wire.md §4 stream parsing): the
chunk carrying ``finish_reason`` has ``choices[0].usage``; with
``stream_options.include_usage`` one more chunk follows with ``choices: []`` and a top-level
``usage``. Non-streaming answers carry both. ``usage`` holds ``cached_tokens`` at its top level
and again under ``prompt_tokens_details``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kimibridge.emulator.catalog import ModelInfo, get_model
from kimibridge.emulator.directive import Conversation
from kimibridge.emulator.sse import CREATED, Reply, data_frame, pieces

__all__ = [
    "MAX_TOOLS",
    "MAX_TOOL_SCHEMA_BYTES",
    "Rejection",
    "check_request",
    "conversation",
    "max_output_tokens",
    "render_json",
    "render_stream",
    "resolve_model",
    "schema_bytes",
    "thinking_on",
    "untyped_property",
]

# (status, error type, message)
Rejection = tuple[int, str, str]

MAX_TOOLS = 128  # "a max of 128 tools can be supported" (MoonshotAI/Kimi-K2#90)
# "Moonshot's ~15 KB per-tool function.parameters limit" (kimi-plugins.md §1.10, measured by
# pi-provider-kimi-code issues #16/#21); the exact cut-off is unverified.
MAX_TOOL_SCHEMA_BYTES = 15 * 1024
_ROLES = frozenset({"system", "user", "assistant", "tool"})
INVALID = "invalid_request_error"


def resolve_model(body: Mapping[str, Any]) -> ModelInfo | Rejection:
    name = body.get("model")
    info = get_model(name) if isinstance(name, str) else None
    if info is None:
        # Moonshot's wording for an unknown model; status and text unverified on the coding plan.
        return 404, "resource_not_found_error", f"Not found the model {name} or Permission denied"
    return info


def schema_bytes(schema: Any) -> int:
    return len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def thinking_on(body: Mapping[str, Any], info: ModelInfo) -> bool:
    if info.supports_thinking_type != "both":
        return info.supports_thinking_type == "only"
    thinking = body.get("thinking")
    return not (isinstance(thinking, Mapping) and thinking.get("type") == "disabled")


def max_output_tokens(body: Mapping[str, Any], info: ModelInfo) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return info.max_output_tokens


_COMPOSED = ("anyOf", "oneOf", "allOf", "$ref")


def untyped_property(schema: Any, path: str = "") -> str | None:
    """Path of the first property schema with no ``type`` (and no composition), or None.

    Kimi answers 400 "type is not defined" for such a node (real-clients.md, last table:
    Claude Code's ``Workflow`` tool); kosong back-fills ``type`` for the same reason.
    """
    if not isinstance(schema, Mapping):
        return None
    props = schema.get("properties")
    for key, sub in props.items() if isinstance(props, Mapping) else ():
        where = f"{path}properties.{key}"
        if isinstance(sub, Mapping) and "type" not in sub and not any(k in sub for k in _COMPOSED):
            return where
        if (found := untyped_property(sub, where + ".")) is not None:
            return found
    items = schema.get("items")
    return untyped_property(items, f"{path}items.") if isinstance(items, Mapping) else None


def check_tools(tools: Any, *, name_of: str, strict_types: bool = False) -> str | None:
    """Shared by both dialects: count and per-tool schema size. ``name_of`` picks the schema.

    ``strict_types`` adds Kimi's "type is not defined" check (off by default so unpatched
    clients such as Claude Code can be pointed straight at the emulator).
    """
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "Invalid request: tools must be a list"
    if len(tools) > MAX_TOOLS:
        return f"Invalid request: a max of {MAX_TOOLS} tools can be supported, got {len(tools)}"
    for tool in tools:
        if not isinstance(tool, Mapping):
            return "Invalid request: each tool must be an object"
        if name_of == "openai":
            fn = tool.get("function")
            fn = fn if isinstance(fn, Mapping) else {}
            name, schema = fn.get("name"), fn.get("parameters")
        else:
            name, schema = tool.get("name"), tool.get("input_schema")
        size = schema_bytes(schema or {})
        if size > MAX_TOOL_SCHEMA_BYTES:
            return (
                f"Invalid request: the schema of tool {name} is too large "
                f"({size} bytes; the limit is {MAX_TOOL_SCHEMA_BYTES})"
            )
        if strict_types and (where := untyped_property(schema)) is not None:
            return f"Invalid request: tool {name}: type is not defined at {where}"
    return None


def check_request(
    body: Mapping[str, Any], info: ModelInfo, *, strict_types: bool = False
) -> Rejection | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, INVALID, "Invalid request: messages must be a non-empty list"
    tools = body.get("tools")
    if (problem := check_tools(tools, name_of="openai", strict_types=strict_types)) is not None:
        return 400, INVALID, problem
    thinking = thinking_on(body, info)
    choice = body.get("tool_choice")
    if choice == "required":
        return 400, INVALID, "Invalid request: tool_choice 'required' is not supported"
    if isinstance(choice, Mapping) and thinking:
        # pi-provider-kimi-code coerces these to auto: K2.7 rejects them with thinking on.
        return (
            400,
            INVALID,
            "Invalid request: a specific tool_choice is not supported when thinking is enabled",
        )
    thinking_field = body.get("thinking")
    efforts = {
        # Kimi's docs (cited in BigPizzaV3/CodexPlusPlus#1909): K3 takes top-level
        # reasoning_effort low/high/max and answers 400 to other values; null means unset.
        "reasoning_effort": body.get("reasoning_effort"),
        "thinking.effort": thinking_field.get("effort")
        if isinstance(thinking_field, Mapping)
        else None,
    }
    for field, effort in efforts.items():
        if effort is not None and info.valid_efforts and effort not in info.valid_efforts:
            valid = ", ".join(info.valid_efforts)
            return 400, INVALID, f"Invalid request: {field} must be one of {valid}, got {effort}"
    for index, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            return 400, INVALID, f"Invalid request: message at index {index} must be an object"
        role = msg.get("role")
        if role not in _ROLES:
            # Kimi's coding endpoint does not take `developer` (real-clients.md, last table).
            return (
                400,
                INVALID,
                f"Invalid request: unsupported role {role!r} in message at index {index}",
            )
        if role == "tool" and "content" not in msg:
            return 400, INVALID, f"Invalid request: tool message at index {index} has no content"
        if (
            thinking
            and role == "assistant"
            and msg.get("tool_calls")
            and msg.get("reasoning_content") is None
        ):
            return (
                400,
                INVALID,
                "thinking is enabled but reasoning_content is missing in assistant tool call message "
                f"at index {index}",
            )
    return None


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        ]
    return []


def conversation(body: Mapping[str, Any]) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    results: list[str] = []
    for msg in reversed(messages):
        if msg.get("role") != "tool":
            break
        results.insert(0, "\n".join(_texts(msg.get("content"))))
    texts: tuple[str, ...] = ()
    for msg in reversed(messages):
        if msg.get("role") == "user" and (found := _texts(msg.get("content"))):
            texts = tuple(found)
            break
    tools = tuple(
        str(t["function"]["name"])
        for t in body.get("tools") or []
        if isinstance(t, Mapping)
        and isinstance(t.get("function"), Mapping)
        and "name" in t["function"]
    )
    return Conversation(texts, tuple(results) if results else None, tools)


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "cached_tokens": reply.cached_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
    }


def _response_id(reply: Reply) -> str:
    return f"chatcmpl-{reply.seed[:24]}"


def render_json(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.thinking is not None:
        message["reasoning_content"] = reply.thinking
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "index": i,
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    usage = _usage(reply)
    return {
        "id": _response_id(reply),
        "object": "chat.completion",
        "created": CREATED,
        "model": reply.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.finish, "usage": usage}
        ],
        "usage": usage,
    }


def render_stream(reply: Reply, *, include_usage: bool) -> list[bytes]:
    """Every SSE frame of the answer, ``data: [DONE]`` last."""
    base = {
        "id": _response_id(reply),
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": reply.model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
        return data_frame({**base, "choices": [choice]})

    frames = [chunk({"role": "assistant", "content": ""})]
    if reply.thinking is not None:
        frames += [chunk({"reasoning_content": p}) for p in pieces(reply.thinking) or [""]]
    frames += [chunk({"content": p}) for p in pieces(reply.text)]
    for i, call in enumerate(reply.tool_calls):
        first = {
            "index": i,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        frames.append(chunk({"tool_calls": [first]}))
        frames += [
            chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]})
            for p in pieces(call.arguments)
        ]
    frames.append(chunk({}, reply.finish, usage=_usage(reply)))
    if include_usage:
        frames.append(data_frame({**base, "choices": [], "usage": _usage(reply)}))
    frames.append(b"data: [DONE]\n\n")
    return frames
