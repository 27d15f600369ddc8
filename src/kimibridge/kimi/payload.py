"""Kimi request shaping: what a client sends, made into what Kimi's coding endpoint takes.

Pure functions on request dicts the gateway owns (freshly parsed, mutated in place). Three rule
tables, each an ordered list of small documented functions (reference/real-clients.md "What each
client sends that Kimi's coding endpoint will not take as is", gateways.md (a)/(b),
kimi-plugins.md §1.9-1.10):

``ANTHROPIC_CLIENT_RULES``   on an Anthropic request as the client sent it, before it is sent
                             upstream or translated (Claude Code's peculiarities live here);
``OPENAI_UPSTREAM_RULES``    on the OpenAI-shaped body about to go to ``/chat/completions``;
``ANTHROPIC_UPSTREAM_RULES`` on the Anthropic-shaped body about to go to ``/messages``.

The client's intent (thinking, effort, session) is read once from the request in its own dialect
(``ShapeContext``), so translation in between cannot lose it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kimibridge.errors import TranslationError
from kimibridge.kimi.intent import (
    EFFORT_MAP,
    ThinkingIntent,
    intent_from_anthropic,
    intent_from_openai,
    session_key,
)
from kimibridge.kimi.model_map import ModelSpec
from kimibridge.kimi.tool_schemas import ensure_property_types, shrink_schema
from kimibridge.protocol.ids import sanitize_tool_id

__all__ = [
    "ANTHROPIC_CLIENT_RULES",
    "ANTHROPIC_UPSTREAM_RULES",
    "BILLING_HEADER_PREFIX",
    "EFFORT_MAP",
    "OPENAI_UPSTREAM_RULES",
    "REASONING_PLACEHOLDER",
    "ShapeContext",
    "ThinkingIntent",
    "clean_anthropic_request",
    "intent_from_anthropic",
    "intent_from_openai",
    "session_key",
    "shape_anthropic_upstream",
    "shape_openai_upstream",
]

Body = dict[str, Any]

# Claude Code's per-request attribution block (`cch=<hash>` changes every request), first in
# `system`; it defeats Kimi's prefix cache (anthropics/claude-code#68900).
BILLING_HEADER_PREFIX: Final = "x-anthropic-billing-header:"
# Kimi wants `reasoning_content` on every assistant tool-call turn while thinking is on; a single
# space is the minimum value accepted (LiteLLM moonshot `fill_reasoning_content`). Deterministic,
# so the padded history stays byte-identical across turns (prefix cache).
REASONING_PLACEHOLDER: Final = " "
# Anthropic request fields Kimi has no use for, or rejects (anthropics/claude-code#11773 for
# context_management; the rest are Anthropic platform features).
_ANTHROPIC_ONLY: Final = ("context_management", "container", "mcp_servers", "service_tier")
_SYSTEM_REMINDER: Final = "<system-reminder>\n{}\n</system-reminder>"


@dataclass(frozen=True, slots=True)
class ShapeContext:
    spec: ModelSpec  # the Kimi model the request goes to
    intent: ThinkingIntent = field(default_factory=ThinkingIntent)
    session: str | None = None  # prompt_cache_key from the client's session, if any

    @property
    def thinking_on(self) -> bool:
        """Whether the upstream request runs with thinking (the model decides over the client)."""
        if self.spec.supports_thinking_type == "no":
            return False
        if self.spec.supports_thinking_type == "only":
            return True
        return self.intent.enabled is not False


def _stable_prefix_key(body: Mapping[str, Any]) -> str:
    """A key from the system prompt and the tool names: the same agent setup, the same key.
    (Tool names, not schemas: hashing a 50 KB tool list per request costs more than it tells.)"""
    digest = hashlib.sha256()
    for message in body.get("messages") or ():
        if _role(message) == "system":
            content = message.get("content")
            digest.update(content.encode() if isinstance(content, str) else repr(content).encode())
    if "system" in body:
        digest.update(repr(body["system"]).encode())
    for tool in body.get("tools") or ():
        if isinstance(tool, Mapping):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
            digest.update(b"\x00" + str(name).encode())
    return "kb_" + digest.hexdigest()[:32]


def _role(message: object) -> object:
    return message.get("role") if isinstance(message, Mapping) else None


# ------------------------------------------------------------------ Anthropic client cleanup


def strip_billing_header(body: Body, ctx: ShapeContext) -> None:
    """Drop Claude Code's ``x-anthropic-billing-header`` text block(s) from ``system``."""
    system = body.get("system")
    if isinstance(system, list):
        kept = [b for b in system if not _is_billing_block(b)]
        if len(kept) != len(system):
            body["system"] = kept
    elif isinstance(system, str) and system.startswith(BILLING_HEADER_PREFIX):
        _, _, rest = system.partition("\n")
        body["system"] = rest.lstrip("\n")


def _is_billing_block(block: object) -> bool:
    return (
        isinstance(block, Mapping)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
        and block["text"].lstrip().startswith(BILLING_HEADER_PREFIX)
    )


def fold_inline_system_anthropic(body: Body, ctx: ShapeContext) -> None:
    """``role: system`` inside ``messages`` (Claude Code sends one right after the first user
    message) becomes a ``<system-reminder>`` text block at the start of the adjacent user turn:
    the previous one when it directly follows a user message, else the next one, else a user
    message of its own. Anthropic has no such role, reminders ahead of the user's text are the
    form Claude Code and Kimi's CLI use themselves, and the user's prompt stays the last text.
    Blocks go after any leading ``tool_result`` blocks, which must open a user turn."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not any(_role(m) == "system" for m in messages):
        return
    out: list[Any] = []
    pending: list[dict[str, Any]] = []
    for message in messages:
        if _role(message) == "system":
            text = _text_of(message.get("content"))
            if not text:
                continue
            block = {"type": "text", "text": _SYSTEM_REMINDER.format(text)}
            if out and _role(out[-1]) == "user" and not pending:
                out[-1] = _with_leading(out[-1], [block])
            else:
                pending.append(block)
            continue
        if pending and _role(message) == "user":
            message = _with_leading(message, pending)
            pending = []
        elif pending:
            out.append({"role": "user", "content": pending})
            pending = []
        out.append(message)
    if pending:
        out.append({"role": "user", "content": pending})
    body["messages"] = out


def _with_leading(message: Mapping[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of user ``message`` with ``blocks`` inserted after its leading tool results."""
    content = message.get("content")
    existing = (
        [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    )
    at = 0
    while (
        at < len(existing)
        and isinstance(existing[at], Mapping)
        and existing[at].get("type") == "tool_result"
    ):
        at += 1
    return {**message, "content": [*existing[:at], *blocks, *existing[at:]]}


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, Mapping) and "text" in b
        )
    return ""


def drop_anthropic_only_fields(body: Body, ctx: ShapeContext) -> None:
    """``context_management`` and other Anthropic platform fields are removed."""
    for key in _ANTHROPIC_ONLY:
        body.pop(key, None)


def drop_deferred_tools(body: Body, ctx: ShapeContext) -> None:
    """Tools with ``defer_loading: true`` (Claude Code's tool search) are not sent: their schema
    is loaded on demand on Anthropic, and Kimi neither knows the flag nor tool references."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return
    kept = [t for t in tools if not (isinstance(t, Mapping) and t.get("defer_loading") is True)]
    for tool in kept:
        if isinstance(tool, dict):
            tool.pop("defer_loading", None)
    body["tools"] = kept


def documents_to_text(body: Body, ctx: ShapeContext) -> None:
    """``document`` blocks (Kimi rejects them): plain-text documents become text blocks; a PDF or
    other binary document is refused with a 400 that says so."""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            _documents_in(content)


def _documents_in(blocks: list[Any]) -> None:
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            _documents_in(block["content"])
        if block.get("type") != "document":
            continue
        source = block.get("source") or {}
        title = block.get("title")
        head = f"Document: {title}\n\n" if isinstance(title, str) and title else ""
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            blocks[i] = {"type": "text", "text": head + source["data"]}
        elif source.get("type") == "content":
            blocks[i] = {"type": "text", "text": head + _text_of(source.get("content"))}
        else:
            kind = source.get("media_type") or source.get("type") or "binary"
            raise TranslationError(
                f"Kimi does not accept {kind} document blocks; send the document as text",
                status_hint=400,
            )


def sanitize_tool_ids_anthropic(body: Body, ctx: ShapeContext) -> None:
    """``tool_use.id`` / ``tool_result.tool_use_id`` to ``[A-Za-z0-9_-]{1,64}`` (deterministic,
    so ids the gateway handed out earlier come back unchanged)."""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict):
                continue
            for key in ("id", "tool_use_id"):
                value = block.get(key)
                if isinstance(value, str) and block.get("type") in ("tool_use", "tool_result"):
                    block[key] = sanitize_tool_id(value)


# ------------------------------------------------------------------------ OpenAI upstream


def map_model(body: Body, ctx: ShapeContext) -> None:
    """``model`` becomes the Kimi model the model map chose (``kimi.model_map``)."""
    body["model"] = ctx.spec.id


def developer_to_system(body: Body, ctx: ShapeContext) -> None:
    """``role: developer`` (pi, newer OpenAI SDKs) becomes ``system``: Kimi knows no developer role."""
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "developer":
            message["role"] = "system"


def fold_inline_system_openai(body: Body, ctx: ShapeContext) -> None:
    """System messages after the conversation started become ``<system-reminder>`` user
    messages, the form Kimi's own CLI sends; leading system messages stay where they are."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    started = False
    for i, message in enumerate(messages):
        role = _role(message)
        if role != "system":
            started = True
        elif started:
            text = _text_of(message.get("content"))
            messages[i] = {"role": "user", "content": _SYSTEM_REMINDER.format(text)}


def thinking_openai(body: Body, ctx: ShapeContext) -> None:
    """Kimi's ``thinking`` {type, effort?} from the client's intent, gated by the catalog:
    ``no`` -> field removed; ``only`` -> always enabled; effort only when the model lists it
    (else the model's default effort). ``reasoning_effort`` is never sent (kimi-cli >= 1.49)."""
    body.pop("reasoning_effort", None)
    spec = ctx.spec
    if spec.supports_thinking_type == "no":
        body.pop("thinking", None)
        return
    thinking: dict[str, Any] = {"type": "enabled" if ctx.thinking_on else "disabled"}
    if ctx.thinking_on and spec.valid_efforts:
        effort = ctx.intent.effort
        if effort not in spec.valid_efforts:
            effort = spec.default_effort
        if effort:
            thinking["effort"] = effort
    keep = body.get("thinking", {}).get("keep") if isinstance(body.get("thinking"), dict) else None
    if keep and ctx.thinking_on:
        thinking["keep"] = keep
    body["thinking"] = thinking


def pad_reasoning_content(body: Body, ctx: ShapeContext) -> None:
    """With thinking on, every assistant message with ``tool_calls`` carries ``reasoning_content``
    (Kimi answers 400 "reasoning_content is missing" otherwise): the client's own reasoning when
    it kept it (translated from thinking blocks), else ``REASONING_PLACEHOLDER``."""
    if not ctx.thinking_on:
        return
    for message in body.get("messages") or ():
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and message.get("tool_calls")
            and not message.get("reasoning_content")
        ):
            message["reasoning_content"] = REASONING_PLACEHOLDER


def coerce_tool_choice_openai(body: Body, ctx: ShapeContext) -> None:
    """``tool_choice: "required"`` becomes ``"auto"`` (Kimi rejects it; LiteLLM moonshot), and so
    does a named function while thinking is on (K2.7 rejects it; pi-provider-kimi-code)."""
    choice = body.get("tool_choice")
    if choice == "required" or (isinstance(choice, dict) and ctx.thinking_on):
        body["tool_choice"] = "auto"
    if not body.get("tools"):
        body.pop("tool_choice", None)


def tool_schemas_openai(body: Body, ctx: ShapeContext) -> None:
    """Every tool gets ``parameters`` (an empty object schema when absent) with a ``type`` on every
    property, shrunk under Kimi's per-tool size limit (``kimi.tool_schemas``)."""
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict):
            continue
        params = function.get("parameters")
        if not isinstance(params, dict):
            params = function["parameters"] = {"type": "object", "properties": {}}
        params.setdefault("type", "object")
        ensure_property_types(params)
        shrink_schema(params)


def sanitize_tool_ids_openai(body: Body, ctx: ShapeContext) -> None:
    """``tool_calls[].id`` and ``tool_call_id`` to ``[A-Za-z0-9_-]{1,64}`` (kimi-code 2.1 does the
    same: ``SearchWeb:0`` -> ``SearchWeb_0``); a tool message always has ``content`` (CCR #245)."""
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                call["id"] = sanitize_tool_id(call["id"])
        if message.get("role") == "tool":
            if isinstance(message.get("tool_call_id"), str):
                message["tool_call_id"] = sanitize_tool_id(message["tool_call_id"])
            if message.get("content") is None:
                message["content"] = ""


def clamp_max_tokens_openai(body: Body, ctx: ShapeContext) -> None:
    """``max_tokens`` / ``max_completion_tokens`` no larger than the model's output limit."""
    limit = ctx.spec.max_output_tokens
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > limit:
            body[key] = limit


def prompt_cache_key(body: Body, ctx: ShapeContext) -> None:
    """``prompt_cache_key`` from the client's session, else a stable hash of system + tools
    (kept for kimi-cli parity; Kimi's cache is content-addressed either way)."""
    body["prompt_cache_key"] = ctx.session or _stable_prefix_key(body)


def stream_usage(body: Body, ctx: ShapeContext) -> None:
    """Streams ask for usage (the ledger needs it; Kimi puts it in ``choices[0].usage``)."""
    if body.get("stream"):
        options = body.get("stream_options")
        body["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    else:
        body.pop("stream_options", None)


# --------------------------------------------------------------------- Anthropic upstream


def thinking_anthropic(body: Body, ctx: ShapeContext) -> None:
    """Anthropic ``thinking`` gated by the catalog, effort as ``output_config.effort`` only when
    the model lists it; the client's ``display`` and other extras are dropped."""
    spec = ctx.spec
    config = body.get("output_config")
    if isinstance(config, dict):
        config.pop("effort", None)
        if not config:
            body.pop("output_config")
    if spec.supports_thinking_type == "no":
        body.pop("thinking", None)
        return
    if not ctx.thinking_on:
        body["thinking"] = {"type": "disabled"}
        return
    current = body.get("thinking")
    kind = current.get("type") if isinstance(current, dict) else None
    if kind == "adaptive":
        body["thinking"] = {"type": "adaptive"}
    else:
        budget = ctx.intent.budget_tokens or 8192
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and budget >= max_tokens:
            budget = max(1024, max_tokens - 1)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if spec.valid_efforts:
        effort = (
            ctx.intent.effort if ctx.intent.effort in spec.valid_efforts else spec.default_effort
        )
        if effort:
            body.setdefault("output_config", {})["effort"] = effort


def coerce_tool_choice_anthropic(body: Body, ctx: ShapeContext) -> None:
    """``{type: any}`` becomes ``{type: auto}``, and a named tool too while thinking is on."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and (
        choice.get("type") == "any" or (choice.get("type") == "tool" and ctx.thinking_on)
    ):
        rest = {k: v for k, v in choice.items() if k == "disable_parallel_tool_use"}
        body["tool_choice"] = {"type": "auto", **rest}


def tool_schemas_anthropic(body: Body, ctx: ShapeContext) -> None:
    """As ``tool_schemas_openai``, on ``input_schema``."""
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type") not in ("custom", None):
            continue  # hosted tools (web_search_...) have no schema
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            schema = tool["input_schema"] = {"type": "object", "properties": {}}
        schema.setdefault("type", "object")
        ensure_property_types(schema)
        shrink_schema(schema)


def clamp_max_tokens_anthropic(body: Body, ctx: ShapeContext) -> None:
    """``max_tokens`` no larger than the model's output limit, and present (Anthropic needs it)."""
    value = body.get("max_tokens")
    limit = ctx.spec.max_output_tokens
    if not isinstance(value, int) or value > limit:
        body["max_tokens"] = limit


Rule = Callable[[Body, ShapeContext], None]

ANTHROPIC_CLIENT_RULES: Final[tuple[Rule, ...]] = (
    strip_billing_header,
    fold_inline_system_anthropic,
    drop_anthropic_only_fields,
    drop_deferred_tools,
    documents_to_text,
    sanitize_tool_ids_anthropic,
)
OPENAI_UPSTREAM_RULES: Final[tuple[Rule, ...]] = (
    map_model,
    developer_to_system,
    fold_inline_system_openai,
    thinking_openai,
    pad_reasoning_content,
    coerce_tool_choice_openai,
    tool_schemas_openai,
    sanitize_tool_ids_openai,
    clamp_max_tokens_openai,
    prompt_cache_key,
    stream_usage,
)
ANTHROPIC_UPSTREAM_RULES: Final[tuple[Rule, ...]] = (
    map_model,
    clamp_max_tokens_anthropic,  # before thinking: budget_tokens must stay below max_tokens
    thinking_anthropic,
    coerce_tool_choice_anthropic,
    tool_schemas_anthropic,
)


def _apply(rules: tuple[Rule, ...], body: Body, ctx: ShapeContext) -> Body:
    for rule in rules:
        rule(body, ctx)
    return body


def clean_anthropic_request(body: Body, ctx: ShapeContext) -> Body:
    return _apply(ANTHROPIC_CLIENT_RULES, body, ctx)


def shape_openai_upstream(body: Body, ctx: ShapeContext) -> Body:
    return _apply(OPENAI_UPSTREAM_RULES, body, ctx)


def shape_anthropic_upstream(body: Body, ctx: ShapeContext) -> Body:
    return _apply(ANTHROPIC_UPSTREAM_RULES, body, ctx)
