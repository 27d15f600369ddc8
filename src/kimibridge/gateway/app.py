"""The gateway: a raw ASGI app (uvicorn, uvloop, httptools) in front of one ``KimiUpstream``.

    gateway = Gateway(upstream, keys, GatewayConfig(upstream_protocol="openai"))
    uvicorn.run(gateway, ...)          # or gateway.asgi behind any ASGI server

Layers, outermost first: path prefixes (``/anthropic``, ``/openai``) stripped -> ``HostCheck``
-> ``LocalAuth`` -> routing -> one route. A route reads the client's request in its dialect,
shapes it for Kimi (``kimi.payload``), translates it when the upstream speaks the other dialect
(``protocol.requests``), and answers through ``exchange``: non-stream as one JSON body,
streams relayed chunk by chunk through a pipe (``gateway.pipes``). Every failure is rendered
once, in the client's dialect (``gateway.errors``). Each request leaves a ledger row and turn
events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kimibridge._version import __version__
from kimibridge.errors import TranslationError, UpstreamError
from kimibridge.gateway.errors import SHAPE_ERRORS, error_event, malformed, render
from kimibridge.gateway.events import EventBus, EventKind, TurnEvent
from kimibridge.gateway.http import (
    SSE_HEADERS,
    Request,
    run_until_disconnect,
    send_bytes,
    send_json,
)
from kimibridge.gateway.ledger import Ledger, LedgerRow
from kimibridge.gateway.local_auth import HostCheck, LocalAuth, LocalKeys
from kimibridge.gateway.pipes import Pipe
from kimibridge.gateway.types import Dialect, Receive, Scope, Send
from kimibridge.gateway.uploads import MediaUploader
from kimibridge.kimi.model_map import ModelMap, ModelSpec
from kimibridge.kimi.upstream import UpstreamReply, UpstreamStream
from kimibridge.protocol.sse import SSEParser
from kimibridge.protocol.usage import Usage

__all__ = ["Extension", "Gateway", "GatewayConfig", "Turn", "Upstream", "dumps"]

log = logging.getLogger("kimibridge.gateway")

_PREFIXES: Final = ("/anthropic", "/openai")
# What can end a relayed stream early: the upstream failing, or an event no pipe can read.
_STREAM_FAULTS: Final[tuple[type[Exception], ...]] = (
    UpstreamError,
    TranslationError,
    *SHAPE_ERRORS,
)


class Extension(Protocol):
    """A part that lives as long as the gateway and serves the paths under ``prefix`` behind
    the gateway's host check and local auth (``team.agent_mcp.TeamExtension``: /mcp/team)."""

    prefix: str

    async def start(self, gateway: Gateway) -> None: ...
    async def stop(self) -> None: ...
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class Upstream(Protocol):
    """What the gateway needs of ``kimi.upstream.KimiUpstream`` (a seam for tests)."""

    async def chat_completions(
        self, body: bytes, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply: ...
    async def messages(
        self, body: bytes, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply: ...
    async def count_tokens(
        self, body: bytes, *, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply: ...
    async def models(self, *, caller_headers: Mapping[str, str] | None = None) -> UpstreamReply: ...
    async def files(
        self,
        data: bytes,
        *,
        mime: str,
        purpose: str = "video",
        filename: str | None = None,
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    upstream_protocol: Dialect = "openai"
    allow_remote: bool = False
    offline: bool = False  # the upstream is the built-in emulator (shown by /health)
    ledger_interval: float = 1.0


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class Turn:
    """One request's bookkeeping: ledger row and turn events."""

    __slots__ = (
        "client_model",
        "dialect_in",
        "dialect_out",
        "gw",
        "id",
        "req",
        "spec",
        "stream",
        "ttfb",
        "wall",
    )

    def __init__(
        self,
        gw: Gateway,
        req: Request,
        dialect: Dialect,
        spec: ModelSpec,
        client_model: object,
        stream: bool,
    ) -> None:
        self.gw = gw
        self.req = req
        self.id = _request_id()
        self.spec = spec
        self.client_model = client_model if isinstance(client_model, str) else ""
        self.dialect_in: Dialect = dialect
        self.dialect_out: Dialect = dialect
        self.stream = stream
        self.ttfb: float | None = None
        self.wall = time.time()
        gw.events.started(req.agent, self.id, spec.id, dialect, stream)

    def first_byte(self) -> None:
        if self.ttfb is None:
            self.ttfb = (time.perf_counter() - self.req.started) * 1000

    def done(
        self,
        status: int,
        usage: Usage,
        stop_reason: str | None,
        text: str | None,
        error: str | None = None,
    ) -> None:
        gw = self.gw
        if gw.ledger is not None:
            gw.ledger.record(
                LedgerRow(
                    ts=self.wall,
                    agent=self.req.agent,
                    model=self.spec.id,
                    client_model=self.client_model,
                    dialect_in=self.dialect_in,
                    dialect_out=self.dialect_out,
                    stream=self.stream,
                    status=status,
                    input_tokens=usage.prompt,
                    output_tokens=usage.output,
                    cached_tokens=usage.cache_read,
                    latency_ms=(time.perf_counter() - self.req.started) * 1000,
                    ttfb_ms=self.ttfb,
                    stop_reason=stop_reason,
                    error=error,
                )
            )
        if gw.events.subscribers:
            kind: EventKind = "request_failed" if error else "response_finished"
            gw.events.publish(
                TurnEvent(
                    kind,
                    self.req.agent,
                    self.id,
                    self.spec.id,
                    self.dialect_in,
                    time.time(),
                    self.stream,
                    stop_reason,
                    text,
                    error,
                    status,
                )
            )


_ids = itertools.count(1)
_ID_PREFIX = f"kb{os.getpid():x}{int(time.time()) & 0xFFFFFF:06x}"


def _request_id() -> str:
    """Unique within this process and across restarts; cheaper than a uuid4 per request."""
    return f"{_ID_PREFIX}_{next(_ids):x}"


Route = Callable[["Gateway", Request, Send], Awaitable[None]]
Opener = Callable[[], Awaitable["UpstreamStream | UpstreamReply"]]
Tap = Callable[[dict[str, Any]], tuple[Usage, str | None, str]]


class Gateway:
    """The ASGI application; one per process, shared by every request."""

    def __init__(
        self,
        upstream: Upstream,
        keys: LocalKeys,
        config: GatewayConfig | None = None,
        *,
        models: ModelMap | None = None,
        ledger: Ledger | None = None,
        events: EventBus | None = None,
    ) -> None:
        from kimibridge.gateway import routes_anthropic, routes_openai

        self.upstream = upstream
        self.keys = keys
        self.config = config or GatewayConfig()
        self.models = models or ModelMap()
        self.ledger = ledger
        self.events = events or EventBus()
        self._tasks: list[asyncio.Task[None]] = []
        self.extensions: list[Extension] = []
        # (monotonic time, Kimi's /models data) for GET /v1/models
        self.catalog_cache: tuple[float, list[dict[str, Any]]] | None = None
        self.uploader = MediaUploader(self._upload)
        self.routes: dict[tuple[str, str], Route] = {
            **routes_openai.ROUTES,
            **routes_anthropic.ROUTES,
            ("GET", "/"): _root,
            ("HEAD", "/"): _root,
            ("HEAD", "/api/hello"): _root,
            ("GET", "/health"): _health,
            ("POST", "/api/event_logging/batch"): _swallow,
            ("GET", "/v1/events"): _events,
        }
        self.asgi = HostCheck(
            LocalAuth(self._dispatch, keys), allow_remote=self.config.allow_remote
        )

    async def _upload(self, data: bytes, mime: str, purpose: str) -> str:
        reply = await self.upstream.files(data, mime=mime, purpose=purpose)
        try:
            file_id = reply.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise TranslationError(
                "Kimi's Files API answered without an id", status_hint=502
            ) from None
        return str(file_id)

    def upstream_for(self, spec: ModelSpec) -> Dialect:
        """The catalog's per-model protocol wins over the configured default."""
        if spec.protocol in ("openai", "anthropic"):
            return spec.protocol  # type: ignore[return-value]
        return self.config.upstream_protocol

    # ----------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            for prefix in _PREFIXES:
                if path.startswith(prefix) and (
                    len(path) == len(prefix) or path[len(prefix)] == "/"
                ):
                    scope["path"] = path[len(prefix) :] or "/"
                    scope.setdefault("state", {})["prefix"] = prefix[1:]
                    break
            await self.asgi(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self.ledger is not None:
            self._tasks.append(asyncio.ensure_future(self.ledger.run(self.config.ledger_interval)))
        self._tasks.append(asyncio.ensure_future(self._load_catalog()))
        for ext in self.extensions:
            await ext.start(self)

    async def shutdown(self) -> None:
        for ext in reversed(self.extensions):
            try:
                await ext.stop()
            except Exception:
                log.exception("stopping %s failed", ext.prefix)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.ledger is not None:
            await asyncio.to_thread(self.ledger.close)
        await self.upstream.aclose()

    async def _load_catalog(self) -> None:
        """The live ``/models`` list replaces the built-in specs (output limits, efforts)."""
        try:
            reply = await self.upstream.models()
            data = reply.json().get("data")
        except (UpstreamError, ValueError, AttributeError) as exc:
            log.info("model catalog not loaded (%s); using built-in model facts", exc)
            return
        except Exception as exc:  # noqa: BLE001 - a catalog failure must not stop the gateway
            log.info("model catalog not loaded (%s)", exc)
            return
        if isinstance(data, list):
            self.models.update_catalog([e for e in data if isinstance(e, dict)])

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        for ext in self.extensions:
            if path == ext.prefix or path.startswith(ext.prefix + "/"):
                await ext(scope, receive, send)
                return
        req = Request(scope, receive, path)
        dialect: Dialect = (
            "anthropic"
            if "/messages" in path or (scope.get("state") or {}).get("prefix") == "anthropic"
            else "openai"
        )
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = True
            await send(message)

        route = self.routes.get((req.method, path))
        try:
            if route is None:
                known = any(p == path for _, p in self.routes)
                status = 405 if known else 404
                what = "method not allowed" if known else f"no route {req.method} {path}"
                raise TranslationError(what, status_hint=status)
            await route(self, req, tracked)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            raise
        except OSError:
            return  # the client went away while we wrote
        except Exception as exc:  # noqa: BLE001 - the edge: every error answered in the dialect
            if started:
                log.warning("error after the response started: %s", exc)
                return
            status, body = render(exc, dialect)
            await send_bytes(send, status, body)

    # ----------------------------------------------------------------------------- exchange

    async def exchange(
        self,
        req: Request,
        send: Send,
        turn: Turn,
        opener: Opener,
        *,
        pipe: Pipe | None,
        convert: Callable[[dict[str, Any]], dict[str, Any]],
        tap: Tap,
    ) -> None:
        """Call the upstream and answer: a relayed stream through ``pipe`` or one JSON body."""
        try:
            reply = await opener()
        except Exception as exc:
            status, _ = render(exc, turn.dialect_in)
            turn.done(status, Usage(), None, None, str(exc))
            raise
        turn.first_byte()
        if not isinstance(reply, UpstreamReply):  # a stream (duck-typed, so tests can fake one)
            assert pipe is not None
            await self._relay(req, send, turn, reply, pipe)
            return
        try:
            try:
                data = reply.json()
            except ValueError:
                raise TranslationError(
                    "upstream answered with invalid JSON", status_hint=502
                ) from None
            with malformed("upstream response", status=502):
                out = convert(data)
                usage, stop, text = tap(out)
        except TranslationError as exc:
            turn.done(exc.status_hint, Usage(), None, None, str(exc))
            raise
        await send_json(send, 200, out)
        turn.done(200, usage, stop, text)

    async def _relay(
        self, req: Request, send: Send, turn: Turn, stream: UpstreamStream, pipe: Pipe
    ) -> None:
        failure: list[str] = []

        async def pump() -> None:
            parser = SSEParser()
            out = bytearray()  # what the pipe produced and the client has not got yet
            first = True
            try:
                await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
                try:
                    async for raw in stream:
                        for event in parser.feed(raw):
                            out += pipe.feed(event)
                            if first and out:
                                # The client sees the answer begin as soon as it can, even when
                                # one read holds a whole fast answer; later reads go out batched.
                                first = False
                                await send(
                                    {
                                        "type": "http.response.body",
                                        "body": bytes(out),
                                        "more_body": True,
                                    }
                                )
                                out.clear()
                        if out:
                            await send(
                                {
                                    "type": "http.response.body",
                                    "body": bytes(out),
                                    "more_body": True,
                                }
                            )
                            out.clear()
                    for event in parser.close():
                        out += pipe.feed(event)
                    out += pipe.close()
                except _STREAM_FAULTS as exc:
                    # a shape error here comes from an upstream event the pipe could not read
                    if not isinstance(exc, UpstreamError | TranslationError):
                        log.info("malformed upstream stream event", exc_info=exc)
                        exc = TranslationError(
                            "upstream sent a malformed stream event", status_hint=502
                        )
                    message, kind = error_event(exc)
                    failure.append(message)
                    out += pipe.error(message, kind)
                await send({"type": "http.response.body", "body": bytes(out), "more_body": False})
            finally:
                await stream.aclose()

        try:
            gone = await run_until_disconnect(req.receive, pump())
        except OSError:
            gone = True
        if gone:
            failure.append("client disconnected")
        turn.done(
            200,
            pipe.usage,
            pipe.stop_reason,
            "".join(pipe.text),
            failure[0] if failure else None,
        )


# ------------------------------------------------------------------------ small routes


async def _root(gw: Gateway, req: Request, send: Send) -> None:
    await send_bytes(send, 200, b"" if req.method == "HEAD" else b'{"ok":true}')


async def _health(gw: Gateway, req: Request, send: Send) -> None:
    await send_json(
        send,
        200,
        {
            "status": "ok",
            "service": "kimibridge",
            "version": __version__,
            "upstream_protocol": gw.config.upstream_protocol,
            "offline": gw.config.offline,
        },
    )


async def _swallow(gw: Gateway, req: Request, send: Send) -> None:
    """Claude Code's telemetry batch: accepted and dropped (a 404 would be retried and logged)."""
    await req.body()
    await send_bytes(send, 200, b"{}")


async def _events(gw: Gateway, req: Request, send: Send) -> None:
    from urllib.parse import parse_qs

    from kimibridge.gateway.events import sse_bytes

    agent = (parse_qs(req.query.decode("latin-1")).get("agent") or [""])[0] or None

    async def pump() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send(
            {"type": "http.response.body", "body": b": kimibridge events\n\n", "more_body": True}
        )
        with gw.events.subscribe(agent) as sub:
            while True:
                try:
                    event: TurnEvent = await sub.get(15.0)
                except TimeoutError:
                    await send(
                        {"type": "http.response.body", "body": b": ping\n\n", "more_body": True}
                    )
                    continue
                await send(
                    {"type": "http.response.body", "body": sse_bytes(event), "more_body": True}
                )

    with contextlib.suppress(OSError):
        await run_until_disconnect(req.receive, pump())
