"""API auth on /coding/v1: bearer tokens, static keys, expiry (401) and the agent gate (403)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kimibridge.emulator.errors import ACCESS_TERMINATED_MESSAGE, INVALID_KEY_MESSAGE
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

UA = "KimiCLI/1.52.0"
CHAT = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {
    "model": "kimi-for-coding",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


async def call(
    kimi: EmulatorHandle, method: str, route: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, kimi.base_url + route, headers=headers, json=body) as r,
    ):
        return r.status, await r.json(content_type=None)


def openai_error(error_type: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type}}


def anthropic_error(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


async def test_expired_access_token_gets_kimi_401_in_each_dialect(
    kimi_emulator: EmulatorHandle,
) -> None:
    pair = kimi_emulator.issue_tokens(ttl=0)  # expired on arrival
    headers = {"Authorization": f"Bearer {pair.access_token}", "User-Agent": UA}
    status, body = await call(kimi_emulator, "POST", "/chat/completions", headers, CHAT)
    assert status == 401
    assert body == openai_error("invalid_authentication_error", INVALID_KEY_MESSAGE)
    status, body = await call(kimi_emulator, "POST", "/messages", headers, MESSAGES)
    assert status == 401
    assert body == anthropic_error("invalid_authentication_error", INVALID_KEY_MESSAGE)
    assert [r.rejected for r in kimi_emulator.requests] == ["expired_token", "expired_token"]


async def test_expire_tokens_then_refresh_recovers(kimi_emulator: EmulatorHandle) -> None:
    pair = kimi_emulator.issue_tokens()
    headers = {"Authorization": f"Bearer {pair.access_token}", "User-Agent": UA}
    assert (await call(kimi_emulator, "GET", "/me", headers))[0] == 200
    kimi_emulator.expire_tokens()
    assert (await call(kimi_emulator, "GET", "/me", headers))[0] == 401
    fresh = kimi_emulator.issue_tokens()
    headers["Authorization"] = f"Bearer {fresh.access_token}"
    assert (await call(kimi_emulator, "GET", "/me", headers))[0] == 200


async def test_unknown_and_missing_credentials(kimi_emulator: EmulatorHandle) -> None:
    status, body = await call(
        kimi_emulator, "GET", "/me", {"Authorization": "Bearer nope", "User-Agent": UA}
    )
    assert status == 401 and body["error"]["type"] == "invalid_authentication_error"
    status, _ = await call(kimi_emulator, "GET", "/me", {"User-Agent": UA})
    assert status == 401
    assert [r.rejected for r in kimi_emulator.requests] == ["unknown_token", "missing_credential"]
    assert kimi_emulator.stats["rejected_401"] == 2


async def test_unknown_user_agent_gets_access_terminated(kimi_emulator: EmulatorHandle) -> None:
    pair = kimi_emulator.issue_tokens()
    headers = {"Authorization": f"Bearer {pair.access_token}", "User-Agent": "OpenAI/Python 2.14.0"}
    status, body = await call(kimi_emulator, "POST", "/chat/completions", headers, CHAT)
    assert status == 403
    assert body == openai_error("access_terminated_error", ACCESS_TERMINATED_MESSAGE)
    status, body = await call(kimi_emulator, "POST", "/messages", headers, MESSAGES)
    assert status == 403
    assert body == anthropic_error("access_terminated_error", ACCESS_TERMINATED_MESSAGE)
    for route in ("/search", "/fetch", "/tools", "/files", "/me"):
        method = "GET" if route == "/me" else "POST"
        assert (await call(kimi_emulator, method, route, headers, {}))[0] == 403
    assert {r.rejected for r in kimi_emulator.requests} == {"user_agent"}
    assert kimi_emulator.stats["rejected_403"] == 7


async def test_models_and_usages_skip_the_agent_gate(kimi_emulator: EmulatorHandle) -> None:
    # Legacy kimi-cli fetches these with aiohttp's default User-Agent (kimi-cli-wire §3).
    pair = kimi_emulator.issue_tokens()
    headers = {
        "Authorization": f"Bearer {pair.access_token}",
        "User-Agent": "Python/3.13 aiohttp/3.13.3",
    }
    assert (await call(kimi_emulator, "GET", "/models", headers))[0] == 200
    assert (await call(kimi_emulator, "GET", "/usages", headers))[0] == 200
    # ...but not the credential check.
    assert (await call(kimi_emulator, "GET", "/models", {"User-Agent": UA}))[0] == 401


@pytest.mark.kimi_emulator(static_keys=("sk-kimi-registered",))
async def test_static_keys(kimi_emulator: EmulatorHandle) -> None:
    ok = {"Authorization": "Bearer sk-kimi-registered", "User-Agent": "claude-cli/2.1.330"}
    status, body = await call(kimi_emulator, "POST", "/chat/completions", ok, CHAT)
    assert status == 200, body
    other = {"Authorization": "Bearer sk-kimi-unregistered", "User-Agent": "claude-cli/2.1.330"}
    assert (await call(kimi_emulator, "GET", "/me", other))[0] == 401
    kimi_emulator.add_api_key("sk-kimi-unregistered")
    assert (await call(kimi_emulator, "GET", "/me", other))[0] == 200
    # Claude Code sends ANTHROPIC_API_KEY as x-api-key.
    x_api_key = {"x-api-key": "sk-kimi-registered", "User-Agent": "claude-cli/2.1.330"}
    status, body = await call(kimi_emulator, "POST", "/messages", x_api_key, MESSAGES)
    assert status == 200, body
    assert [r.auth for r in kimi_emulator.requests] == ["api_key", None, "api_key", "api_key"]


@pytest.mark.kimi_emulator(accept_any_static_key=True)
async def test_accept_any_sk_kimi_key(kimi_emulator: EmulatorHandle) -> None:
    headers = {"Authorization": "Bearer sk-kimi-whatever", "User-Agent": "opencode/1.18.33"}
    assert (await call(kimi_emulator, "GET", "/me", headers))[0] == 200
    headers["Authorization"] = "Bearer sk-other"
    assert (await call(kimi_emulator, "GET", "/me", headers))[0] == 401


@pytest.mark.kimi_emulator(user_agent_allowlist=("my-agent/",), static_keys=("k",))
async def test_custom_user_agent_allowlist(kimi_emulator: EmulatorHandle) -> None:
    assert (
        await call(
            kimi_emulator, "GET", "/me", {"Authorization": "Bearer k", "User-Agent": "my-agent/1"}
        )
    )[0] == 200
    assert (
        await call(kimi_emulator, "GET", "/me", {"Authorization": "Bearer k", "User-Agent": UA})
    )[0] == 403


async def test_oauth_and_root_routes_are_not_gated(kimi_emulator: EmulatorHandle) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.head(kimi_emulator.url + "/", headers={"User-Agent": "Bun/1.4.0"}) as r:
            assert r.status == 200
        async with s.head(kimi_emulator.anthropic_base_url) as r:
            assert r.status == 200
