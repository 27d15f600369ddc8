"""The model half of the emulator: state (scenario, prompt cache) and the aiohttp route glue.

Routes: ``POST /coding/v1/chat/completions`` (OpenAI), ``POST /coding/v1/messages`` and
``POST /coding/v1/messages/count_tokens`` (Anthropic; any query string such as
``?beta=true`` is ignored). The platform middleware has already authenticated, recorded and
answered status faults; ``request[FAULT_KEY]`` may hold a stream fault for this request.

Per request: parse → dialect checks (Kimi-style 400s) → the next scenario step or the default
directive → cache lookup on the canonical prompt → a ``sse.Reply`` → JSON or SSE frames, with
stream faults applied to the frames.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kimibridge.emulator import anthropic_messages, directive, openai_chat
from kimibridge.emulator.app import FAULT_KEY
from kimibridge.emulator.cache import PromptCache
from kimibridge.emulator.errors import Dialect, error_response, fault_response
from kimibridge.emulator.faults import STATUS_FAULTS, Fault, FaultKind
from kimibridge.emulator.scenario import ToolCallSpec, Turn, load_steps, parse_steps
from kimibridge.emulator.sse import (
    MALFORMED_EVENT,
    MALFORMED_FRAME,
    Reply,
    apply_stream_fault,
    build_reply,
)
from kimibridge.emulator.tokens import CanonicalPrompt, anthropic_prompt, openai_prompt

if TYPE_CHECKING:
    from kimibridge.emulator.app import Emulator, EmulatorConfig

__all__ = ["ModelState", "empty_response_text", "register"]

_STREAM_FAULTS = frozenset({FaultKind.STREAM_CUT, FaultKind.MALFORMED_CHUNK})


class ModelState:
    """Scripted turns and the prompt cache of one emulator. ``clock`` is injectable for tests."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.cache = PromptCache()
        # Kimi's "type is not defined" schema check; off so unpatched clients can be pointed here.
        self.strict_schemas = False
        # Whether an ``ms://<id>`` reference names an uploaded file; set by ``register``.
        self.file_exists: Callable[[str], bool] | None = None
        self._steps: deque[Turn] = deque()
        if config.scenario_path is not None:
            self.load_scenario(config.scenario_path)

    def script(self, steps: list[dict[str, Any]]) -> None:
        """Replace the pending steps (see ``scenario.py`` for the step format)."""
        self._steps = deque(parse_steps(steps))

    def load_scenario(self, path: Path) -> None:
        self._steps = deque(load_steps(path))

    @property
    def pending_steps(self) -> int:
        return len(self._steps)

    def next_turn(self, conv: directive.Conversation) -> Turn:
        """The head step if it applies to this request, else the default directive."""
        said = directive.user_text(conv.texts_of_last_user_message)
        if self._steps and self._steps[0].matches(said):
            return self._steps.popleft()
        return directive.default_turn(conv)

    def read_cache(self, prompt: CanonicalPrompt) -> int:
        return self.cache.lookup_and_store(prompt, now=self.clock(), ttl=self.config.cache_ttl)

    def stats(self) -> dict[str, int]:
        """Cache counters and pending scenario steps, for the control API and tests."""
        c = self.cache.stats
        return {
            "pending_steps": len(self._steps),
            "cache_entries": len(self.cache),
            "cache_lookups": c.lookups,
            "cache_exact_hits": c.exact_hits,
            "cache_prefix_hits": c.prefix_hits,
            "cache_misses": c.misses,
            "cache_tokens_read": c.tokens_read,
            "cache_tokens_prompted": c.tokens_prompted,
        }

    def missing_file(self, body: Any) -> str | None:
        """The first ``ms://`` URL in the request that names no uploaded file, or None."""
        if self.file_exists is None:
            return None
        return next((url for url in _file_urls(body) if not self.file_exists(url)), None)


def _file_urls(node: Any) -> Iterator[str]:
    """Every ``ms://`` URL anywhere in a request (image/video parts in both dialects)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "url" and isinstance(value, str) and value.startswith("ms://"):
                yield value
            else:
                yield from _file_urls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _file_urls(item)


def _missing_file_response(url: str, dialect: Dialect) -> web.Response:
    # Kimi's wording for an unknown file id is unverified.
    return error_response(
        400, "invalid_request_error", f"Invalid request: file {url} not found", dialect
    )


def empty_response_text(thinking: str) -> str:
    """What Kimi answers when the model only thought: a placeholder text wrapping the thinking.

    Shape from pi-provider-kimi-code ``src/stream.ts`` (kimi-plugins.md §1.10), which filters it.
    """
    return (
        "(Empty response: " + repr({"content": [{"type": "thinking", "thinking": thinking}]}) + ")"
    )


def _tool_calls(
    turn: Turn, tools: Sequence[str], prefix: str, seed: str
) -> tuple[ToolCallSpec, ...]:
    calls = []
    for i, call in enumerate(turn.tool_calls):
        name = directive.resolve_tool_name(call.name, tools) or call.name
        calls.append(ToolCallSpec(name, call.arguments, call.id or f"{prefix}{seed[:16]}_{i}"))
    return tuple(calls)


async def _read_json(request: web.Request, dialect: Dialect) -> dict[str, Any] | web.Response:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        return error_response(
            400, "invalid_request_error", "Invalid request: body is not valid JSON", dialect
        )
    if not isinstance(body, dict):
        return error_response(
            400, "invalid_request_error", "Invalid request: body must be a JSON object", dialect
        )
    return body


def _seed(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


async def _pre_answer(
    turn: Turn, request: web.Request, dialect: Dialect
) -> web.Response | Fault | None:
    """A scripted error or status fault as a response, else the stream fault to apply (or None)."""
    if turn.error is not None:
        return error_response(turn.error.status, turn.error.type, turn.error.message, dialect)
    fault = turn.fault
    if fault is not None and fault.kind in STATUS_FAULTS:
        return fault_response(fault.kind, dialect)
    if fault is not None and fault.kind is FaultKind.SLOW_FIRST_BYTE:
        await asyncio.sleep(fault.delay_s)
    if fault is not None and fault.kind in _STREAM_FAULTS:
        return fault
    injected = request.get(FAULT_KEY)
    return injected if injected is not None and injected.kind in _STREAM_FAULTS else None


async def _send_json(
    request: web.Request, payload: dict[str, Any], fault: Fault | None
) -> web.StreamResponse:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if fault is None:
        return web.Response(body=data, content_type="application/json")
    if fault.kind is FaultKind.MALFORMED_CHUNK:
        # A complete HTTP answer whose JSON is cut: the client's decoder fails.
        return web.Response(body=data[: len(data) // 2], content_type="application/json")
    # STREAM_CUT: promise the whole body, send half, drop the connection.
    resp = web.StreamResponse(
        headers={"Content-Type": "application/json", "Content-Length": str(len(data))}
    )
    await resp.prepare(request)
    await resp.write(data[: len(data) // 2])
    return _cut(request, resp)


def _cut(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()  # no terminator: the client sees an incomplete body
    return resp


async def _send_stream(
    request: web.Request, frames: list[bytes], fault: Fault | None, malformed: bytes, delay_s: float
) -> web.StreamResponse:
    frames, finish = apply_stream_fault(frames, fault, malformed)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    for i, frame in enumerate(frames):
        if delay_s and i:
            await asyncio.sleep(delay_s)
        await resp.write(frame)
    if not finish:
        return _cut(request, resp)
    await resp.write_eof()
    return resp


def _reply(
    state: ModelState,
    turn: Turn,
    conv: directive.Conversation,
    *,
    model: str,
    seed: str,
    thinking: bool,
    max_tokens: int,
    prompt: CanonicalPrompt,
    id_prefix: str,
) -> Reply:
    thinking_text: str | None = None
    text = turn.text
    if thinking:
        said = directive.user_text(conv.texts_of_last_user_message)
        thinking_text = (
            turn.thinking if turn.thinking is not None else directive.default_thinking(said)
        )
        if not text and not turn.tool_calls:
            text = empty_response_text(thinking_text)
    return build_reply(
        model=model,
        seed=seed,
        thinking=thinking_text,
        text=text,
        tool_calls=_tool_calls(turn, conv.tools, id_prefix, seed),
        max_tokens=max_tokens,
        prompt_tokens=prompt.tokens,
        cached_tokens=state.read_cache(prompt),
    )


async def chat_completions(request: web.Request, state: ModelState) -> web.StreamResponse:
    body = await _read_json(request, "openai")
    if isinstance(body, web.Response):
        return body
    info = openai_chat.resolve_model(body)
    if isinstance(info, tuple):
        return error_response(*info, "openai")
    if (
        rejection := openai_chat.check_request(body, info, strict_types=state.strict_schemas)
    ) is not None:
        return error_response(*rejection, "openai")
    if (url := state.missing_file(body)) is not None:
        return _missing_file_response(url, "openai")
    conv = openai_chat.conversation(body)
    turn = state.next_turn(conv)
    pre = await _pre_answer(turn, request, "openai")
    if isinstance(pre, web.Response):
        return pre
    seed = _seed(body)
    reply = _reply(
        state,
        turn,
        conv,
        model=info.id,
        seed=seed,
        thinking=openai_chat.thinking_on(body, info),
        max_tokens=openai_chat.max_output_tokens(body, info),
        prompt=openai_prompt(body),
        id_prefix="call_",
    )
    if body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        frames = openai_chat.render_stream(reply, include_usage=include_usage)
        return await _send_stream(request, frames, pre, MALFORMED_FRAME, turn.delay_s)
    return await _send_json(request, openai_chat.render_json(reply), pre)


async def messages(request: web.Request, state: ModelState) -> web.StreamResponse:
    body = await _read_json(request, "anthropic")
    if isinstance(body, web.Response):
        return body
    if (
        rejection := anthropic_messages.check_request(body, strict_types=state.strict_schemas)
    ) is not None:
        return error_response(*rejection, "anthropic")
    if (url := state.missing_file(body)) is not None:
        return _missing_file_response(url, "anthropic")
    info = anthropic_messages.resolve_model(body)
    conv = anthropic_messages.conversation(body)
    turn = state.next_turn(conv)
    pre = await _pre_answer(turn, request, "anthropic")
    if isinstance(pre, web.Response):
        return pre
    reply = _reply(
        state,
        turn,
        conv,
        model=str(body.get("model") or info.id),
        seed=_seed(body),
        thinking=anthropic_messages.thinking_on(body, info),
        max_tokens=anthropic_messages.max_output_tokens(body, info),
        prompt=anthropic_prompt(body),
        id_prefix="toolu_",
    )
    if body.get("stream") is True:
        frames = anthropic_messages.render_stream(reply)
        return await _send_stream(request, frames, pre, MALFORMED_EVENT, turn.delay_s)
    return await _send_json(request, anthropic_messages.render_json(reply), pre)


async def count_tokens(request: web.Request) -> web.Response:
    body = await _read_json(request, "anthropic")
    if isinstance(body, web.Response):
        return body
    if (rejection := anthropic_messages.check_request(body)) is not None:
        return error_response(*rejection, "anthropic")
    return web.json_response({"input_tokens": anthropic_prompt(body).tokens})


def register(app: web.Application, emulator: Emulator) -> None:
    state = emulator.model
    files = getattr(emulator.platform, "files", None)
    if files is not None:
        state.file_exists = lambda url: files.resolve(url) is not None

    async def chat(request: web.Request) -> web.StreamResponse:
        return await chat_completions(request, state)

    async def msgs(request: web.Request) -> web.StreamResponse:
        return await messages(request, state)

    app.router.add_post("/coding/v1/chat/completions", chat)
    app.router.add_post("/coding/v1/messages", msgs)
    app.router.add_post("/coding/v1/messages/count_tokens", count_tokens)
