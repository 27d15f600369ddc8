"""The relay with an in-memory upstream: odd upstream events end the stream properly and the
turn is always reported."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kimibridge.gateway import EventBus, Gateway, GatewayConfig, LocalKeys
from kimibridge.kimi.upstream import UpstreamReply
from kimibridge.protocol.sse import SSEParser


class FakeStream:
    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part

    async def aclose(self) -> None:
        self.closed = True


class Upstream:
    def __init__(self, parts: list[bytes], reply: bytes = b"{}") -> None:
        self.stream = FakeStream(parts)
        self.reply = reply

    async def chat_completions(
        self, body: bytes, *, stream: bool, caller_headers: Any = None
    ) -> Any:
        return self.stream if stream else UpstreamReply(200, {}, self.reply)

    messages = chat_completions

    async def aclose(self) -> None:
        return None


OK = b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n'
ODD_OPENAI = b'data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":"nonsense"},"finish_reason":null}]}\n\n'
ODD_ANTHROPIC = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":"x","delta":7}\n\n'
)
A_START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
    b'"role":"assistant","model":"k","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}\n\n'
)


async def run(
    tmp_path: Path, upstream: Upstream, path: str, body: dict[str, Any], protocol: str
) -> tuple[int, bytes, list[Any]]:
    keys = LocalKeys.load_or_create(tmp_path)
    bus = EventBus()
    gw = Gateway(upstream, keys, GatewayConfig(upstream_protocol=protocol), events=bus)  # type: ignore[arg-type]
    sub = bus.subscribe()
    raw = json.dumps(body).encode()
    sent: list[Any] = []
    first = [True]

    async def receive() -> Any:
        if first[0]:
            first[0] = False
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()
        return {}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"x-api-key", keys.default.encode())],
    }
    await gw(scope, receive, send)
    events = []
    while not sub.queue.empty():
        events.append(sub.queue.get_nowait())
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), events


A_BODY = {
    "model": "claude-x",
    "max_tokens": 100,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}
O_BODY = {"model": "gpt-x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("path", "body", "protocol", "parts"),
    [
        ("/v1/messages", A_BODY, "openai", [OK, ODD_OPENAI]),
        ("/v1/chat/completions", O_BODY, "anthropic", [A_START, ODD_ANTHROPIC]),
        (
            "/v1/messages",
            A_BODY,
            "anthropic",
            [A_START, b"event: ping\ndata: [1, 2]\n\n", b"data: {not json\n\n"],
        ),
    ],
)
async def test_odd_upstream_event_ends_the_stream_with_an_error(
    tmp_path: Path, path: str, body: dict[str, Any], protocol: str, parts: list[bytes]
) -> None:
    upstream = Upstream(parts)
    status, out, events = await run(tmp_path, upstream, path, body, protocol)
    assert status == 200
    parsed = SSEParser().feed(out)
    last = parsed[-1] if parsed[-1].data != "[DONE]" else parsed[-2]
    assert "error" in json.loads(last.data)
    assert upstream.stream.closed
    assert [e.kind for e in events] == ["request_started", "request_failed"]


async def test_malformed_non_stream_answer_is_502_and_reported(tmp_path: Path) -> None:
    upstream = Upstream([], reply=b"[1, 2]")
    status, out, events = await run(
        tmp_path, upstream, "/v1/messages", {**A_BODY, "stream": False}, "openai"
    )
    assert status == 502
    assert json.loads(out)["type"] == "error"
    assert [e.kind for e in events] == ["request_started", "request_failed"]
