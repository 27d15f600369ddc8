"""OpenAI-dialect routes: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Upstream ``openai`` (default): the request is shaped (``kimi.payload.OPENAI_UPSTREAM_RULES``)
and passed through; the answer goes through Kimi's stream cleanup only. Upstream ``anthropic``:
translated to Anthropic, cleaned and shaped for Kimi's Anthropic side, and the answer
translated back.
"""

from __future__ import annotations

import time
from typing import Any

from kimibridge.errors import TranslationError
from kimibridge.gateway.app import Gateway, Route, Turn, dumps
from kimibridge.gateway.errors import malformed
from kimibridge.gateway.http import Request, send_json
from kimibridge.gateway.pipes import AnthropicToOpenAIPipe, OpenAIPassthrough
from kimibridge.gateway.types import Send
from kimibridge.kimi.payload import (
    ShapeContext,
    clean_anthropic_request,
    intent_from_openai,
    session_key,
    shape_anthropic_upstream,
    shape_openai_upstream,
)
from kimibridge.kimi.stream_cleanup import AnthropicStreamCleanup, OpenAIStreamCleanup
from kimibridge.protocol.requests import openai_to_anthropic_request
from kimibridge.protocol.responses import anthropic_stop_reason, anthropic_to_openai_response
from kimibridge.protocol.usage import Usage, openai_usage_of

__all__ = ["ROUTES", "chat_completions", "models", "tap_openai"]


def tap_openai(out: dict[str, Any]) -> tuple[Usage, str | None, str]:
    """Usage, stop reason (Anthropic names) and text of a ``chat.completion``."""
    usage = Usage.from_openai(openai_usage_of(out))
    choices = out.get("choices") or [{}]
    message = choices[0].get("message") or {}
    finish = choices[0].get("finish_reason")
    stop = (
        anthropic_stop_reason(finish, has_tool_use=bool(message.get("tool_calls")))
        if finish
        else None
    )
    content = message.get("content")
    return usage, stop, content if isinstance(content, str) else ""


def _check(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("`messages` must be a non-empty list", status_hint=400)
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise TranslationError("every message needs a `role`", status_hint=400)


async def chat_completions(gw: Gateway, req: Request, send: Send) -> None:
    body = await req.json()
    with malformed("request"):
        _check(body)
        if gw.uploader.worth_a_look(req.raw):
            await gw.uploader.rewrite_openai(body)
        stream = body.get("stream") is True
        client_model = body.get("model")
        spec = gw.models.resolve(client_model if isinstance(client_model, str) else None)
        ctx = ShapeContext(spec, intent_from_openai(body), session_key(req.headers, body))
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        to_openai = gw.upstream_for(spec) == "openai"
        if to_openai:
            payload = dumps(shape_openai_upstream(body, ctx))
        else:
            anthropic = openai_to_anthropic_request(body)
            clean_anthropic_request(anthropic, ctx)
            shape_anthropic_upstream(anthropic, ctx)
            anthropic["stream"] = stream
            payload = dumps(anthropic)
    turn = Turn(gw, req, "openai", spec, client_model, stream)
    upstream = gw.upstream
    headers = req.headers

    if to_openai:
        await gw.exchange(
            req,
            send,
            turn,
            lambda: upstream.chat_completions(payload, stream=stream, caller_headers=headers),
            pipe=OpenAIPassthrough(
                include_usage=include_usage, want_text=bool(gw.events.subscribers)
            )
            if stream
            else None,
            convert=OpenAIStreamCleanup().feed_message,
            tap=tap_openai,
        )
        return

    turn.dialect_out = "anthropic"

    def convert(resp: dict[str, Any]) -> dict[str, Any]:
        return anthropic_to_openai_response(
            AnthropicStreamCleanup().feed_message(resp), model=spec.id
        )

    await gw.exchange(
        req,
        send,
        turn,
        lambda: upstream.messages(payload, stream=stream, caller_headers=headers),
        pipe=AnthropicToOpenAIPipe(model=spec.id, include_usage=include_usage) if stream else None,
        convert=convert,
        tap=tap_openai,
    )


_CATALOG_TTL = 300.0


async def _catalog(gw: Gateway, req: Request) -> list[dict[str, Any]]:
    """Kimi's ``/models`` data, cached for a few minutes; the built-in specs if it fails."""
    cached = gw.catalog_cache
    now = time.monotonic()
    if cached and now - cached[0] < _CATALOG_TTL:
        return cached[1]
    try:
        reply = await gw.upstream.models(caller_headers=req.headers)
        data = reply.json().get("data")
    except Exception:  # noqa: BLE001 - a list of models is still answerable from the built-ins
        data = None
    if not isinstance(data, list):
        data = [{"id": s.id, "context_length": s.context_length} for s in gw.models.specs.values()]
    entries = [e for e in data if isinstance(e, dict) and isinstance(e.get("id"), str)]
    gw.catalog_cache = (now, entries)
    return entries


async def models(gw: Gateway, req: Request, send: Send) -> None:
    """``GET /v1/models`` in the dialect the client speaks (Anthropic SDKs send ``anthropic-version``)."""
    entries = await _catalog(gw, req)
    anthropic = (
        "anthropic-version" in req.headers
        or (req.scope.get("state") or {}).get("prefix") == "anthropic"
    )
    if anthropic:
        data = [
            {
                "type": "model",
                "id": e["id"],
                "display_name": e.get("display_name") or e["id"],
                "created_at": "2025-01-01T00:00:00Z",
            }
            for e in entries
        ]
        await send_json(
            send,
            200,
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
        )
        return
    await send_json(
        send,
        200,
        {
            "object": "list",
            "data": [
                {
                    **e,
                    "object": "model",
                    "created": int(e.get("created") or 0),
                    "owned_by": "moonshotai",
                }
                for e in entries
            ],
        },
    )


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/chat/completions"): chat_completions,
    ("GET", "/v1/models"): models,
    ("GET", "/models"): models,
}
