"""Request translation: Anthropic Messages <-> OpenAI Chat Completions, as dict walks.

What each direction keeps, drops and invents is listed on the two entry points. Neither
applies Kimi shaping (billing-header removal, effort gating, ``reasoning_content`` padding,
``tool_choice`` coercion, schema back-filling of ``type``, model mapping): that is the
gateway's job, done on either side of these functions. Inputs are never mutated; nested
values that pass through unchanged (tool schemas, tool inputs, image data) are shared with
the input, not copied, so a shaping step that edits them in place edits the client's body too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kimibridge.protocol.anthropic import synthesize_signature
from kimibridge.protocol.content import (
    bad,
    document_to_openai,
    dumps,
    image_to_openai,
    parse_tool_arguments,
    parts_to_blocks,
    shape_errors,
    text_of,
)
from kimibridge.protocol.ids import ToolIdMap
from kimibridge.protocol.params import (
    effort_from_thinking,
    thinking_to_anthropic,
    tool_choice_to_anthropic,
    tool_choice_to_openai,
    tools_to_anthropic,
    tools_to_openai,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "anthropic_to_openai_request",
    "openai_to_anthropic_request",
]

# Anthropic requires max_tokens; OpenAI clients often omit it. Large enough for a coding turn;
# the gateway clamps it to the model's output limit afterwards.
DEFAULT_MAX_TOKENS = 32000


# ---------------------------------------------------------------- Anthropic -> OpenAI


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(b.get("text", "") for b in system if isinstance(b, Mapping))
    raise bad("`system` must be a string or a list of text blocks")


def _tool_result_to_openai(block: Mapping[str, Any], tool_id: str) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list) and any(
        isinstance(p, Mapping) and p.get("type") == "image" for p in content
    ):
        parts: list[dict[str, Any]] = []
        for p in content:
            if p.get("type") == "text":
                parts.append({"type": "text", "text": p.get("text", "")})
            elif p.get("type") == "image":
                parts.append(image_to_openai(p))
        body: Any = parts
    else:
        # Always a string, never absent: Kimi rejects a tool message without content (CCR #245).
        body = text_of(content)
    return {"role": "tool", "tool_call_id": tool_id, "content": body}


def _user_to_openai(
    content: Any, ids: ToolIdMap | None, open_calls: dict[str, int], out: list[dict[str, Any]]
) -> None:
    if isinstance(content, str):
        out.append({"role": "user", "content": content})
        return
    if not isinstance(content, list):
        raise bad("message `content` must be a string or a list of blocks")
    parts: list[dict[str, Any]] = []
    results: list[tuple[int, dict[str, Any]]] = []
    for block in content:
        kind = block.get("type")
        if kind == "tool_result":
            raw = str(block.get("tool_use_id", ""))
            tool_id = ids.outward(raw) if ids is not None else raw
            position = open_calls.pop(tool_id, None)
            if position is not None:
                results.append((position, _tool_result_to_openai(block, tool_id)))
            else:
                # An orphan result (its call was compacted away) would be a 400 upstream; keep its
                # text for the model as part of the user turn instead.
                parts.append(
                    {
                        "type": "text",
                        "text": f"[tool result {raw}]\n{text_of(block.get('content'))}",
                    }
                )
        elif kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(image_to_openai(block))
        elif kind == "document":
            parts.append(document_to_openai(block))
        # Other kinds (thinking in a user turn, tool_reference, search results) are skipped on
        # purpose: the OpenAI dialect has no place for them.
    # Tool messages go first, right after the assistant turn, in the order of its tool_calls
    # (Claude Code may answer parallel calls in another order).
    results.sort(key=lambda r: r[0])
    out.extend(msg for _, msg in results)
    if parts:
        if len(parts) == 1 and parts[0]["type"] == "text":
            out.append({"role": "user", "content": parts[0]["text"]})
        else:
            out.append({"role": "user", "content": parts})


def _assistant_to_openai(
    content: Any, ids: ToolIdMap | None, reasoning_pad: str | None
) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
        elif kind == "tool_use":
            raw = str(block.get("id", ""))
            calls.append(
                {
                    "id": ids.outward(raw) if ids is not None else raw,
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": dumps(block.get("input") or {}),
                    },
                }
            )
        # redacted_thinking (encrypted, meaningless to Kimi), server_tool_use and hosted-tool
        # results are skipped on purpose.
    msg: dict[str, Any] = {"role": "assistant"}
    visible = [t for t in texts if t]
    if len(visible) == 1:
        msg["content"] = visible[0]
    elif visible:
        msg["content"] = [{"type": "text", "text": t} for t in visible]
    elif not calls:
        msg["content"] = ""
    # else: content omitted when the turn is only tool calls (what kosong sends Kimi).
    if thinking:
        msg["reasoning_content"] = "".join(thinking)
    elif calls and reasoning_pad is not None:
        msg["reasoning_content"] = reasoning_pad
    if calls:
        msg["tool_calls"] = calls
    return msg


def system_reminder(text: str) -> str:
    return f"<system-reminder>\n{text}\n</system-reminder>"


def _fold_into_last_user(out: list[dict[str, Any]], text: str) -> None:
    """Append an inline system message to the latest user turn (CCR PR #1446's rule).

    The latest one, not the next one: the text then sits where the client put it, and the
    prefix of every later request stays the same (cache-friendly).
    """
    for msg in reversed(out):
        if msg["role"] == "user":
            content = msg["content"]
            parts = (
                [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
            )
            parts.append({"type": "text", "text": system_reminder(text)})
            msg["content"] = parts
            return
    out.append({"role": "user", "content": system_reminder(text)})


@shape_errors("Anthropic request", 400)
def anthropic_to_openai_request(
    req: Mapping[str, Any],
    *,
    ids: ToolIdMap | None = None,
    max_tokens_field: str = "max_tokens",
    reasoning_pad: str | None = None,
    fold_inline_system: bool = False,
) -> dict[str, Any]:
    """Anthropic Messages request -> OpenAI Chat Completions request.

    - ``system`` (string or text blocks, joined with a blank line) -> first system message;
      inline ``role: "system"`` messages stay system messages in place, or with
      ``fold_inline_system`` join the last user turn as ``<system-reminder>`` text (never dropped).
    - ``tool_result`` blocks -> ``role: tool`` messages right after the assistant turn, in
      order, always with ``content``; the user's other blocks follow as one user message.
      ``is_error`` has no OpenAI field and is dropped (the result text usually says so).
    - thinking blocks -> ``reasoning_content`` (signatures dropped: OpenAI has none);
      ``redacted_thinking`` dropped. ``reasoning_pad`` fills ``reasoning_content`` on tool-call
      turns that have no thinking (Kimi requires it with thinking on).
    - tools -> functions with ``parameters`` (back-filled); hosted tools dropped.
    - ``tool_choice`` any/auto/none/tool -> required/auto/none/function; ``stop_sequences`` ->
      ``stop``; ``metadata.user_id`` -> ``user``; ``max_tokens`` -> ``max_tokens_field``.
    - ``thinking`` / ``output_config.effort`` -> ``reasoning_effort`` (none, low, medium, high
      or the effort as given); ``output_config.format`` -> ``response_format``.
    - Dropped: ``cache_control``, ``context_management``, ``top_k``, ``container`` and any other
      Anthropic-only field.
    """
    messages = req.get("messages")
    if not isinstance(messages, list):
        raise bad("`messages` must be a list")
    out: list[dict[str, Any]] = []
    system = req.get("system")
    if system:
        out.append({"role": "system", "content": _system_text(system)})
    open_calls: dict[str, int] = {}  # tool calls of the last assistant turn still unanswered
    for msg in messages:
        if not isinstance(msg, Mapping):
            raise bad("every message must be an object")
        role = msg.get("role")
        content = msg.get("content")
        if role == "user":
            _user_to_openai(content, ids, open_calls, out)
        elif role == "assistant":
            if not isinstance(content, str | list):
                raise bad("message `content` must be a string or a list of blocks")
            turn = _assistant_to_openai(content, ids, reasoning_pad)
            open_calls = {c["id"]: i for i, c in enumerate(turn.get("tool_calls", ()))}
            out.append(turn)
        elif role == "system" and fold_inline_system:
            _fold_into_last_user(out, _system_text(content))
        elif role == "system":
            out.append({"role": "system", "content": _system_text(content)})
        else:
            raise bad(f"unknown message role {role!r}")

    body: dict[str, Any] = {"model": req.get("model", ""), "messages": out}
    if req.get("max_tokens") is not None:
        body[max_tokens_field] = req["max_tokens"]
    for key in ("temperature", "top_p"):
        if req.get(key) is not None:
            body[key] = req[key]
    if req.get("stop_sequences"):
        body["stop"] = list(req["stop_sequences"])
    if req.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.get("tools"):
        tools = tools_to_openai(req["tools"])
        if tools:
            body["tools"] = tools
    if isinstance(req.get("tool_choice"), Mapping):
        tool_choice_to_openai(req["tool_choice"], body)
    user_id = (req.get("metadata") or {}).get("user_id")
    if user_id:
        body["user"] = str(user_id)
    effort = effort_from_thinking(req)
    if effort is not None:
        body["reasoning_effort"] = effort
    fmt = (req.get("output_config") or {}).get("format") or req.get("output_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt.get("schema") or {}, "strict": True},
        }
    return body


# ---------------------------------------------------------------- OpenAI -> Anthropic


def _assistant_blocks(msg: Mapping[str, Any], ids: ToolIdMap | None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    reasoning = msg.get("reasoning_content")
    if reasoning is None:
        reasoning = msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        blocks.append(
            {
                "type": "thinking",
                "thinking": reasoning,
                "signature": synthesize_signature(reasoning),
            }
        )
    blocks.extend(b for b in parts_to_blocks(msg.get("content")) if b.get("text") != "")
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        raw = str(call.get("id", ""))
        blocks.append(
            {
                "type": "tool_use",
                "id": ids.outward(raw) if ids is not None else raw,
                "name": fn.get("name", ""),
                "input": parse_tool_arguments(fn.get("arguments")),
            }
        )
    return blocks


def _tool_result_block(msg: Mapping[str, Any], ids: ToolIdMap | None) -> dict[str, Any]:
    raw = str(msg.get("tool_call_id", ""))
    content = msg.get("content")
    body: Any = content if isinstance(content, str) else parts_to_blocks(content)
    return {
        "type": "tool_result",
        "tool_use_id": ids.outward(raw) if ids is not None else raw,
        "content": body,
    }


def _fold_into_last_user_turn(out: list[dict[str, Any]], text: str) -> None:
    block = {"type": "text", "text": system_reminder(text)}
    for msg in reversed(out):
        if msg["role"] == "user":
            if isinstance(msg["content"], str):
                msg["content"] = [{"type": "text", "text": msg["content"]}]
            msg["content"].append(block)
            return
    out.append({"role": "user", "content": [block]})


def _append(
    out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], text: str | None
) -> None:
    """Add a turn, merging into the previous one when the role repeats (Anthropic alternates)."""
    if out and out[-1]["role"] == role and role != "system":
        prev = out[-1]
        if isinstance(prev["content"], str):
            prev["content"] = [{"type": "text", "text": prev["content"]}] if prev["content"] else []
        prev["content"].extend(blocks if text is None else [{"type": "text", "text": text}])
        return
    out.append({"role": role, "content": text if text is not None else blocks})


@shape_errors("OpenAI request", 400)
def openai_to_anthropic_request(
    req: Mapping[str, Any],
    *,
    ids: ToolIdMap | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    fold_inline_system: bool = False,
) -> dict[str, Any]:
    """OpenAI Chat Completions request -> Anthropic Messages request.

    - Leading ``system`` / ``developer`` messages -> ``system`` (a string when there is one,
      else text blocks); later ones stay inline ``role: "system"`` messages, the form Claude
      Code itself sends, or with ``fold_inline_system`` join the last user turn as
      ``<system-reminder>`` text.
    - Consecutive same-role turns are merged; consecutive ``role: tool`` messages become one
      user turn of ``tool_result`` blocks, and a following user message joins that turn after
      them. Tool-call ids go through ``ids`` (e.g. ``call:1`` -> ``call_1``) when given.
    - ``reasoning_content`` -> a thinking block with a synthesised deterministic signature.
    - ``max_completion_tokens`` / ``max_tokens`` -> ``max_tokens``, else ``default_max_tokens``
      (Anthropic requires it). ``temperature`` is capped at 1 (Anthropic's range).
    - ``stop`` -> ``stop_sequences`` (whitespace-only entries dropped: Anthropic rejects them);
      ``user`` -> ``metadata.user_id``; tool_choice required/auto/none/function -> any/auto/
      none/tool, ``parallel_tool_calls: false`` -> ``disable_parallel_tool_use``.
    - ``reasoning_effort`` or Kimi's ``thinking`` -> ``thinking`` (adaptive/disabled) plus
      ``output_config.effort``; ``response_format`` json_schema -> ``output_config.format``.
    - ``n > 1`` is refused (one choice only); audio and file parts are refused.
    """
    messages = req.get("messages")
    if not isinstance(messages, list):
        raise bad("`messages` must be a list")
    if (req.get("n") or 1) > 1:
        raise bad("n > 1 is not supported: the Anthropic dialect returns one choice")
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        if not isinstance(msg, Mapping):
            raise bad("every message must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            blocks = parts_to_blocks(msg.get("content"))
            text = "\n\n".join(b.get("text", "") for b in blocks)
            if not out:
                system.append(text)
            elif fold_inline_system:
                _fold_into_last_user_turn(out, text)
            else:
                out.append({"role": "system", "content": text})
        elif role == "user":
            content = msg.get("content")
            if isinstance(content, str):
                _append(out, "user", [], content)
            else:
                _append(out, "user", parts_to_blocks(content), None)
        elif role == "assistant":
            blocks = _assistant_blocks(msg, ids)
            if blocks:  # an empty assistant turn is a 400 on the Anthropic side; it said nothing
                _append(out, "assistant", blocks, None)
        elif role in ("tool", "function"):
            _append(out, "user", [_tool_result_block(msg, ids)], None)
        else:
            raise bad(f"unknown message role {role!r}")

    body: dict[str, Any] = {"model": req.get("model", "")}
    if system:
        body["system"] = (
            system[0] if len(system) == 1 else [{"type": "text", "text": s} for s in system]
        )
    body["messages"] = out
    max_tokens = req.get("max_completion_tokens") or req.get("max_tokens")
    body["max_tokens"] = int(max_tokens) if max_tokens else default_max_tokens
    if req.get("temperature") is not None:
        body["temperature"] = min(float(req["temperature"]), 1.0)
    if req.get("top_p") is not None:
        body["top_p"] = req["top_p"]
    stop = req.get("stop")
    if stop:
        stops = [stop] if isinstance(stop, str) else list(stop)
        stops = [s for s in stops if isinstance(s, str) and s.strip()]
        if stops:
            body["stop_sequences"] = stops
    if req.get("stream"):
        body["stream"] = True
    if req.get("tools"):
        tools = tools_to_anthropic(req["tools"])
        if tools:
            body["tools"] = tools
    choice = tool_choice_to_anthropic(req.get("tool_choice"), req.get("parallel_tool_calls"))
    if choice is not None:
        body["tool_choice"] = choice
    if req.get("user"):
        body["metadata"] = {"user_id": str(req["user"])}
    thinking_to_anthropic(req, body)
    fmt = req.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        body.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}
    return body
