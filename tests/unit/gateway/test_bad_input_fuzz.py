"""Whatever a client sends, the answer is a 2xx or a 4xx in its dialect, never a 500
(the ASGI app driven in-process with an in-memory upstream)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.gateway import EventBus, Gateway, GatewayConfig, LocalKeys
from kimibridge.kimi.upstream import UpstreamReply

OPENAI_REPLY = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "kimi-for-coding",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
ANTHROPIC_REPLY = {
    "id": "m",
    "type": "message",
    "role": "assistant",
    "model": "kimi-for-coding",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


class Upstream:
    async def chat_completions(
        self, body: bytes, *, stream: bool, caller_headers: Any = None
    ) -> Any:
        json.loads(body)  # what the gateway sends is always JSON
        return UpstreamReply(200, {}, json.dumps(OPENAI_REPLY).encode())

    async def messages(self, body: bytes, *, stream: bool, caller_headers: Any = None) -> Any:
        json.loads(body)
        return UpstreamReply(200, {}, json.dumps(ANTHROPIC_REPLY).encode())

    async def count_tokens(self, body: bytes, *, caller_headers: Any = None) -> Any:
        return UpstreamReply(200, {}, b'{"input_tokens": 3}')

    async def models(self, *, caller_headers: Any = None) -> Any:
        return UpstreamReply(200, {}, b'{"data": []}')

    async def files(self, data: bytes, **kw: Any) -> Any:
        return UpstreamReply(200, {}, b'{"id": "f1"}')

    async def aclose(self) -> None:
        return None


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8))
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
ROLES = st.sampled_from(["user", "assistant", "system", "developer", "tool", "x", None])
BLOCK_TYPES = st.sampled_from(
    [
        "text",
        "image",
        "tool_use",
        "tool_result",
        "thinking",
        "document",
        "image_url",
        "redacted_thinking",
        "x",
    ]
)
block = st.fixed_dictionaries(
    {"type": BLOCK_TYPES},
    optional={
        "text": json_any,
        "id": json_any,
        "name": json_any,
        "input": json_any,
        "content": json_any,
        "tool_use_id": json_any,
        "source": json_any,
        "image_url": json_any,
        "thinking": json_any,
    },
)
message = st.fixed_dictionaries(
    {"role": ROLES},
    optional={
        "content": st.one_of(st.text(max_size=10), st.lists(block, max_size=3), json_any),
        "tool_calls": st.one_of(
            json_any,
            st.lists(st.fixed_dictionaries({"id": json_any, "function": json_any}), max_size=2),
        ),
        "tool_call_id": json_any,
        "reasoning_content": json_any,
    },
)
body = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(message, min_size=1, max_size=4), json_any)},
    optional={
        "model": json_any,
        "max_tokens": json_any,
        "stream": st.just(False),
        "system": json_any,
        "tools": json_any,
        "tool_choice": json_any,
        "thinking": json_any,
        "reasoning_effort": json_any,
        "output_config": json_any,
        "metadata": json_any,
        "stop": json_any,
        "stop_sequences": json_any,
        "stream_options": json_any,
        "response_format": json_any,
        "temperature": json_any,
    },
)


async def call(gw: Gateway, key: str, path: str, payload: Any) -> tuple[int, Any]:
    raw = json.dumps(payload).encode()
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", key.encode())],
    }
    await gw(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"])


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=body,
    path=st.sampled_from(["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens"]),
)
async def test_no_input_makes_a_500(tmp_path: Path, payload: dict[str, Any], path: str) -> None:
    keys = LocalKeys.load_or_create(tmp_path)
    for upstream in ("openai", "anthropic"):
        gw = Gateway(Upstream(), keys, GatewayConfig(upstream_protocol=upstream), events=EventBus())
        status, answer = await call(gw, keys.default, path, payload)
        assert status < 500, (status, answer, payload)
        if status >= 400:
            assert "error" in answer
