"""Errors reach each client in its own dialect: status, body shape, and well-formed stream ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.emulator.faults import FaultKind
from kimibridge.testing import EmulatorHandle
from tests.integration.gateway_env import GatewayEnv, Resp, gateway_env, http

pytestmark = pytest.mark.integration

A_BODY: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
O_BODY: dict[str, Any] = {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(params=["openai", "anthropic"])
def env(
    request: pytest.FixtureRequest, kimi_emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path, upstream_protocol=request.param) as e:
        yield e


def post(env: GatewayEnv, path: str, body: Any, **headers: str) -> Resp:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http(
        "POST",
        env.url + path,
        raw,
        {"x-api-key": env.key, "content-type": "application/json", **headers},
    )


def assert_anthropic_error(resp: Resp, status: int, etype: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == etype
    assert body["error"]["message"]
    assert "Traceback" not in resp.text


def assert_openai_error(resp: Resp, status: int, etype: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    if etype:
        assert body["error"]["type"] == etype
    assert "Traceback" not in resp.text


@pytest.mark.parametrize(
    ("kind", "status", "a_type", "o_type"),
    [
        (FaultKind.RATE_LIMIT, 429, "rate_limit_error", "rate_limit_error"),
        (FaultKind.QUOTA, 429, "rate_limit_error", "insufficient_quota"),
        (FaultKind.SERVER_ERROR, 500, "api_error", "server_error"),
        (FaultKind.BAD_GATEWAY, 502, "api_error", "server_error"),
        (FaultKind.UNAVAILABLE, 503, "overloaded_error", "server_error"),
        (FaultKind.ACCESS_TERMINATED, 403, "permission_error", "access_terminated_error"),
    ],
)
def test_upstream_status_faults_in_each_dialect(
    env: GatewayEnv, kind: FaultKind, status: int, a_type: str, o_type: str
) -> None:
    env.kimi.inject(kind)
    assert_anthropic_error(post(env, "/v1/messages", A_BODY), status, a_type)
    env.kimi.inject(kind)
    assert_openai_error(post(env, "/v1/chat/completions", O_BODY), status, o_type)


def test_access_terminated_one_upstream_call_and_the_cli_text(env: GatewayEnv) -> None:
    env.kimi.clear_requests()
    env.kimi.inject(FaultKind.ACCESS_TERMINATED)
    resp = post(env, "/v1/messages", {**A_BODY, "stream": True})
    assert_anthropic_error(resp, 403, "permission_error")
    assert "access_terminated_error" in resp.json()["error"]["message"]
    assert "kimibridge status" in resp.json()["error"]["message"]
    model_calls = [
        r for r in env.kimi.requests if r.path.endswith(("/chat/completions", "/messages"))
    ]
    assert len(model_calls) == 1


def test_sdks_raise_their_own_typed_errors(env: GatewayEnv) -> None:
    env.kimi.inject(FaultKind.QUOTA)
    with pytest.raises(anthropic.RateLimitError):
        anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0).messages.create(
            **A_BODY
        )
    env.kimi.inject(FaultKind.RATE_LIMIT)
    with pytest.raises(openai.RateLimitError):
        openai.OpenAI(
            base_url=env.openai_base, api_key=env.key, max_retries=0
        ).chat.completions.create(**O_BODY)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1,2]",
        {"model": "x"},
        {"messages": "hi"},
        {"messages": [{"content": "no role"}]},
    ],
)
def test_malformed_client_requests_are_4xx(env: GatewayEnv, body: Any) -> None:
    assert_anthropic_error(post(env, "/v1/messages", body), 400, "invalid_request_error")
    assert_openai_error(post(env, "/v1/chat/completions", body), 400, "invalid_request_error")


def test_pdf_document_refused_with_a_clear_400(env: GatewayEnv) -> None:
    body = {
        **A_BODY,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBE",
                        },
                    }
                ],
            }
        ],
    }
    resp = post(env, "/v1/messages", body)
    assert_anthropic_error(resp, 400, "invalid_request_error")
    assert "document" in resp.json()["error"]["message"]


def test_unknown_route_and_method(env: GatewayEnv) -> None:
    resp = http("GET", env.url + "/v1/nothing", None, {"x-api-key": env.key})
    assert_openai_error(resp, 404)
    resp = http("GET", env.url + "/v1/messages", None, {"x-api-key": env.key})
    assert_anthropic_error(resp, 405, "invalid_request_error")


def sse_events(text: str) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    for block in text.split("\n\n"):
        event = None
        data = []
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((event, "\n".join(data)))
    return out


@pytest.mark.parametrize("kind", [FaultKind.STREAM_CUT, FaultKind.MALFORMED_CHUNK])
def test_stream_fault_ends_anthropic_stream_with_error_event(
    env: GatewayEnv, kind: FaultKind
) -> None:
    env.kimi.script([{"text": "a long answer " * 20}])
    env.kimi.inject(kind, after_chunks=2)
    resp = post(env, "/v1/messages", {**A_BODY, "stream": True})
    assert resp.status_code == 200
    events = sse_events(resp.text)
    names = [e for e, _ in events]
    assert names[0] == "message_start"
    assert names[-1] == "error"
    assert json.loads(events[-1][1])["type"] == "error"
    # every opened block was closed before the error
    starts = names.count("content_block_start")
    assert starts == names.count("content_block_stop")


@pytest.mark.parametrize("kind", [FaultKind.STREAM_CUT, FaultKind.MALFORMED_CHUNK])
def test_stream_fault_ends_openai_stream_with_error_chunk_and_done(
    env: GatewayEnv, kind: FaultKind
) -> None:
    env.kimi.script([{"text": "a long answer " * 20}])
    env.kimi.inject(kind, after_chunks=2)
    resp = post(env, "/v1/chat/completions", {**O_BODY, "stream": True})
    assert resp.status_code == 200
    events = sse_events(resp.text)
    assert events[-1][1] == "[DONE]"
    assert "error" in json.loads(events[-2][1])


def test_upstream_timeout_is_504(kimi_emulator: EmulatorHandle, tmp_path: Path) -> None:
    from kimibridge.kimi.upstream import Timeouts

    with gateway_env(kimi_emulator, tmp_path) as env:
        env.gateway.upstream._timeouts["model"] = Timeouts(read=0.3).client_timeout()  # type: ignore[attr-defined]
        env.kimi.inject(FaultKind.SLOW_FIRST_BYTE, delay_s=1.5)
        resp = post(env, "/v1/messages", A_BODY)
        assert_anthropic_error(resp, 504, "api_error")
