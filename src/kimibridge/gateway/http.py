"""The thin ASGI edge: one request object and the few ways the gateway answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable
from typing import Any, Final

from kimibridge.errors import TranslationError
from kimibridge.gateway.types import Receive, Scope, Send

__all__ = [
    "JSON_HEADERS",
    "MAX_BODY",
    "SSE_HEADERS",
    "ClientGone",
    "Request",
    "run_until_disconnect",
    "send_bytes",
    "send_json",
]

MAX_BODY: Final = 64 * 1024 * 1024  # Claude Code's requests reach a few MB with images
JSON_HEADERS: Final = [(b"content-type", b"application/json")]
SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(ConnectionError):
    """The client hung up; there is nobody left to answer (an ``OSError``, as uvicorn's own)."""


class Request:
    """What a route needs of one HTTP request; headers lower-cased, last value wins."""

    __slots__ = (
        "agent",
        "headers",
        "method",
        "path",
        "query",
        "raw",
        "receive",
        "scope",
        "started",
    )

    def __init__(self, scope: Scope, receive: Receive, path: str) -> None:
        self.scope = scope
        self.receive = receive
        self.path = path
        self.method: str = scope["method"]
        self.query: bytes = scope.get("query_string", b"")
        self.headers: dict[str, str] = {
            bytes(k).decode("latin-1"): bytes(v).decode("latin-1") for k, v in scope["headers"]
        }
        self.agent: str = (scope.get("state") or {}).get("agent", "default")
        self.started = time.perf_counter()
        self.raw = b""  # the body, once read

    async def body(self, limit: int = MAX_BODY) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone("client disconnected while sending its request")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise TranslationError(
                        f"request body larger than {limit} bytes", status_hint=413
                    )
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        self.raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.raw

    async def json(self) -> dict[str, Any]:
        raw = await self.body()
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise TranslationError("request body is not valid JSON", status_hint=400) from None
        if not isinstance(data, dict):
            raise TranslationError("request body must be a JSON object", status_hint=400)
        return data


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*(headers or JSON_HEADERS), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any) -> None:
    await send_bytes(
        send, status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    )


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(receive: Receive, work: Awaitable[None]) -> bool:
    """Run ``work`` (a response that streams) in this task; cancel it when the client hangs up.

    Returns True when the client disconnected first. Cancelling ``work`` unwinds its
    ``async with`` on the upstream stream, which closes the upstream connection. ``work`` runs in
    the caller's task (one watcher task per stream, no ``asyncio.wait``): streams are the hot path.
    """
    task = asyncio.current_task()
    assert task is not None
    state = {"finished": False, "gone": False}

    async def watch() -> None:
        await _wait_disconnect(receive)
        if not state["finished"]:  # a response that just ended is not cut short
            state["gone"] = True
            task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        await work
    except asyncio.CancelledError:
        if not state["gone"]:
            raise
        task.uncancel()
        return True
    finally:
        state["finished"] = True
        watcher.cancel()
    return False
