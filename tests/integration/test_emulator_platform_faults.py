"""Injected faults: status faults in each dialect, slow first byte, latency, route targeting."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
import pytest

from kimibridge.emulator.faults import STATUS_FAULTS, FaultKind
from kimibridge.emulator.oauth import CLIENT_ID
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

KEY = "sk-kimi-faults"
HEADERS = {"Authorization": f"Bearer {KEY}", "User-Agent": "KimiCLI/1.52.0"}
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": (
        "/chat/completions",
        {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic": (
        "/messages",
        {
            "model": "kimi-for-coding",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    "anthropic-count": (
        "/messages/count_tokens",
        {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]},
    ),
}
EXPECTED: dict[FaultKind, tuple[int, str]] = {
    FaultKind.RATE_LIMIT: (429, "rate_limit_reached_error"),
    FaultKind.QUOTA: (429, "exceeded_current_quota_error"),
    FaultKind.SERVER_ERROR: (500, "server_error"),
    FaultKind.BAD_GATEWAY: (502, "server_error"),
    FaultKind.UNAVAILABLE: (503, "engine_overloaded_error"),
    FaultKind.UNAUTHORIZED: (401, "invalid_authentication_error"),
    FaultKind.ACCESS_TERMINATED: (403, "access_terminated_error"),
}


@pytest.fixture
def kimi(kimi_emulator: EmulatorHandle) -> EmulatorHandle:
    kimi_emulator.add_api_key(KEY)
    return kimi_emulator


async def post(kimi: EmulatorHandle, route: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + route, headers=HEADERS, json=body) as r,
    ):
        return r.status, await r.json(content_type=None)


def test_expected_table_covers_every_status_fault() -> None:
    assert set(EXPECTED) == STATUS_FAULTS


@pytest.mark.parametrize("kind", sorted(EXPECTED))
@pytest.mark.parametrize("dialect", sorted(ROUTES))
async def test_status_fault_in_each_dialect(
    kimi: EmulatorHandle, kind: FaultKind, dialect: str
) -> None:
    route, body = ROUTES[dialect]
    kimi.inject(kind)
    status, answer = await post(kimi, route, body)
    want_status, want_type = EXPECTED[kind]
    assert status == want_status
    if dialect.startswith("anthropic"):
        assert answer["type"] == "error"
        assert set(answer["error"]) == {"type", "message"}
        assert answer["error"]["type"] == want_type
    else:
        assert set(answer) == {"error"}
        assert set(answer["error"]) == {"message", "type"}
        assert answer["error"]["type"] == want_type
    # One fault, one request: the next request is answered normally.
    status, _ = await post(kimi, route, body)
    assert status == 200
    first, second = kimi.requests
    assert (first.fault, first.status, first.handler_started_at) == (kind.value, want_status, None)
    assert (second.fault, second.status) == (None, 200)


async def test_faults_queue_in_order_and_by_route(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.RATE_LIMIT, route="/messages")
    kimi.inject("server_error")
    route, body = ROUTES["openai"]
    assert (await post(kimi, route, body))[0] == 500  # the /messages fault waits
    route, body = ROUTES["anthropic"]
    assert (await post(kimi, route, body))[0] == 429
    assert kimi.stats["faults_pending"] == 0


async def test_faults_on_platform_routes(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.UNAVAILABLE, route="/search")
    status, body = await post(kimi, "/search", {"text_query": "x"})
    assert (status, body["error"]["type"]) == (503, "engine_overloaded_error")
    assert (await post(kimi, "/search", {"text_query": "x"}))[0] == 200


async def test_fault_on_oauth_token_route_uses_oauth_shape(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.BAD_GATEWAY, route="/api/oauth/token")
    pair = kimi.issue_tokens()
    form = {
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": pair.refresh_token,
    }
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{kimi.oauth_host}/api/oauth/token", data=form) as r:
            assert r.status == 502
            assert set(await r.json()) == {"error", "error_description"}
        # The refresh token was not spent by the failed attempt.
        async with s.post(f"{kimi.oauth_host}/api/oauth/token", data=form) as r:
            assert r.status == 200
    assert kimi.refresh_reuse_count == 0


async def test_slow_first_byte_delays_the_handler(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.SLOW_FIRST_BYTE, delay_s=0.3)
    route, body = ROUTES["openai"]
    status, answer = await post(kimi, route, body)
    assert status == 200 and answer["choices"]
    (recorded,) = kimi.requests
    assert recorded.fault == "slow_first_byte"
    assert recorded.handler_started_at is not None
    assert recorded.handler_started_at - recorded.received_at >= 0.3


@pytest.mark.kimi_emulator(latency_ms=150)
async def test_latency_before_every_answer(kimi: EmulatorHandle) -> None:
    route, body = ROUTES["anthropic"]
    assert (await post(kimi, route, body))[0] == 200
    async with aiohttp.ClientSession() as s, s.get(kimi.base_url + "/me") as r:
        assert r.status == 401  # rejected answers wait too
    for recorded in kimi.requests:
        assert recorded.answered_at is not None
        assert recorded.answered_at - recorded.received_at >= 0.15


async def test_stream_fault_is_left_for_the_model_half(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.STREAM_CUT, after_chunks=1)
    route, body = ROUTES["openai"]
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + route, headers=HEADERS, json={**body, "stream": True}) as r,
    ):
        assert r.status == 200
        raw = b""
        # A cut stream may surface as a payload error.
        with contextlib.suppress(aiohttp.ClientPayloadError):
            raw = await r.read()
    assert b"[DONE]" not in raw
    (recorded,) = kimi.requests
    assert recorded.fault == "stream_cut" and recorded.handler_started_at is not None
