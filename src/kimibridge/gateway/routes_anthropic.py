"""Anthropic-dialect routes: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

The client's request is cleaned first (``kimi.payload.ANTHROPIC_CLIENT_RULES``: billing block,
inline system messages, Anthropic-only fields, deferred tools, documents, tool ids). Upstream
``openai`` (default): translated to Chat Completions, shaped, and the answer translated back.
Upstream ``anthropic``: shaped and passed through. The query string (``?beta=true``) is ignored.
"""

from __future__ import annotations

import json
from typing import Any

from kimibridge.errors import TranslationError, UpstreamStatusError
from kimibridge.gateway.app import Gateway, Route, Turn, dumps
from kimibridge.gateway.errors import malformed
from kimibridge.gateway.http import Request, send_bytes, send_json
from kimibridge.gateway.pipes import AnthropicPassthrough, OpenAIToAnthropicPipe
from kimibridge.gateway.types import Send
from kimibridge.kimi.payload import (
    REASONING_PLACEHOLDER,
    ShapeContext,
    clean_anthropic_request,
    intent_from_anthropic,
    session_key,
    shape_anthropic_upstream,
    shape_openai_upstream,
)
from kimibridge.kimi.stream_cleanup import AnthropicStreamCleanup, OpenAIStreamCleanup
from kimibridge.protocol.requests import anthropic_to_openai_request
from kimibridge.protocol.responses import openai_to_anthropic_response
from kimibridge.protocol.usage import Usage

__all__ = ["ROUTES", "count_tokens", "messages", "tap_anthropic"]

# Fields count_tokens takes (Anthropic's API); the rest of a messages body is dropped.
_COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking")


def tap_anthropic(out: dict[str, Any]) -> tuple[Usage, str | None, str]:
    text = "".join(
        b.get("text", "")
        for b in out.get("content") or ()
        if isinstance(b, dict) and b.get("type") == "text"
    )
    return Usage.from_anthropic(out.get("usage")), out.get("stop_reason"), text


def _check(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages: must be a non-empty list", status_hint=400)
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "user",
            "assistant",
            "system",
        ):
            raise TranslationError(f"messages.{i}.role: must be user or assistant", status_hint=400)


async def messages(gw: Gateway, req: Request, send: Send) -> None:
    body = await req.json()
    with malformed("request"):
        _check(body)
        if gw.uploader.worth_a_look(req.raw):
            await gw.uploader.rewrite_anthropic(body)
        stream = body.get("stream") is True
        client_model = body.get("model")
        spec = gw.models.resolve(client_model if isinstance(client_model, str) else None)
        ctx = ShapeContext(spec, intent_from_anthropic(body), session_key(req.headers, body))
        clean_anthropic_request(body, ctx)
        to_anthropic = gw.upstream_for(spec) == "anthropic"
        if to_anthropic:
            payload = dumps(shape_anthropic_upstream(body, ctx))
        else:
            openai = anthropic_to_openai_request(
                body, reasoning_pad=REASONING_PLACEHOLDER if ctx.thinking_on else None
            )
            shape_openai_upstream(openai, ctx)
            openai["stream"] = stream
            payload = dumps(openai)
    turn = Turn(gw, req, "anthropic", spec, client_model, stream)
    upstream = gw.upstream
    headers = req.headers

    if to_anthropic:
        await gw.exchange(
            req,
            send,
            turn,
            lambda: upstream.messages(payload, stream=stream, caller_headers=headers),
            pipe=AnthropicPassthrough() if stream else None,
            convert=AnthropicStreamCleanup().feed_message,
            tap=tap_anthropic,
        )
        return

    turn.dialect_out = "openai"

    def convert(resp: dict[str, Any]) -> dict[str, Any]:
        return openai_to_anthropic_response(OpenAIStreamCleanup().feed_message(resp), model=spec.id)

    await gw.exchange(
        req,
        send,
        turn,
        lambda: upstream.chat_completions(payload, stream=stream, caller_headers=headers),
        pipe=OpenAIToAnthropicPipe(model=spec.id) if stream else None,
        convert=convert,
        tap=tap_anthropic,
    )


def _estimate_tokens(body: dict[str, Any]) -> int:
    """A local estimate when the upstream has no count_tokens: ~4 characters per token."""
    text = json.dumps(
        [body.get("system"), body.get("messages"), body.get("tools")], ensure_ascii=False
    )
    return max(1, len(text) // 4)


async def count_tokens(gw: Gateway, req: Request, send: Send) -> None:
    body = await req.json()
    with malformed("request"):
        _check(body)
        model = body.get("model")
        spec = gw.models.resolve(model if isinstance(model, str) else None)
        ctx = ShapeContext(spec, intent_from_anthropic(body))
        clean_anthropic_request(body, ctx)
        request = {k: body[k] for k in _COUNT_FIELDS if k in body}
        request["model"] = spec.id
    try:
        reply = await gw.upstream.count_tokens(dumps(request), caller_headers=req.headers)
    except UpstreamStatusError as exc:
        if exc.status not in (404, 405, 501):
            raise
        await send_json(send, 200, {"input_tokens": _estimate_tokens(request)})
        return
    await send_bytes(send, 200, reply.body)


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/messages"): messages,
    ("POST", "/messages"): messages,
    ("POST", "/v1/messages/count_tokens"): count_tokens,
    ("POST", "/messages/count_tokens"): count_tokens,
}
