"""The emulator's OAuth device flow (RFC 8628) and rotating refresh tokens, over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kimibridge.emulator.oauth import CLIENT_ID, DEVICE_GRANT
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def post_form(url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(url, data=form) as r:
        assert r.content_type == "application/json"
        return r.status, await r.json()


async def start_login(kimi: EmulatorHandle) -> dict[str, Any]:
    status, body = await post_form(
        f"{kimi.oauth_host}/api/oauth/device_authorization", {"client_id": CLIENT_ID}
    )
    assert status == 200
    return body


async def poll(kimi: EmulatorHandle, device_code: str) -> tuple[int, dict[str, Any]]:
    return await post_form(
        f"{kimi.oauth_host}/api/oauth/token",
        {"client_id": CLIENT_ID, "device_code": device_code, "grant_type": DEVICE_GRANT},
    )


async def refresh(kimi: EmulatorHandle, token: str) -> tuple[int, dict[str, Any]]:
    return await post_form(
        f"{kimi.oauth_host}/api/oauth/token",
        {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token},
    )


@pytest.fixture
def clock(kimi_emulator: EmulatorHandle) -> FakeClock:
    fake = FakeClock()
    kimi_emulator.emulator.platform.oauth.clock = fake
    return fake


async def test_device_authorization_fields(kimi_emulator: EmulatorHandle) -> None:
    body = await start_login(kimi_emulator)
    assert set(body) >= {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert body["verification_uri_complete"].startswith(kimi_emulator.oauth_host)
    assert body["user_code"] in body["verification_uri_complete"]
    assert body["interval"] == 5 and body["expires_in"] == 1800


async def expect_error(kimi: EmulatorHandle, code: str, error: str) -> None:
    status, body = await poll(kimi, code)
    assert (status, body["error"]) == (400, error)
    assert body["error_description"]


@pytest.mark.kimi_emulator(approve_after_polls=2)
async def test_full_flow_pending_slow_down_then_tokens(
    kimi_emulator: EmulatorHandle, clock: FakeClock
) -> None:
    code = (await start_login(kimi_emulator))["device_code"]
    await expect_error(kimi_emulator, code, "authorization_pending")
    await expect_error(kimi_emulator, code, "slow_down")  # no time passed: too fast
    clock.advance(5)
    await expect_error(kimi_emulator, code, "authorization_pending")
    clock.advance(5)
    status, tokens = await poll(kimi_emulator, code)
    assert status == 200
    assert set(tokens) == {"access_token", "refresh_token", "expires_in", "scope", "token_type"}
    assert tokens["expires_in"] == 900 and tokens["token_type"] == "Bearer"
    stats = kimi_emulator.stats
    assert (stats["polls"], stats["slow_downs"], stats["tokens_issued"]) == (4, 1, 1)
    # The access token works on the API.
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "User-Agent": "KimiCLI/1.52.0"}
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{kimi_emulator.base_url}/me", headers=headers) as r,
    ):
        assert r.status == 200


@pytest.mark.kimi_emulator(device_code_ttl=60)
async def test_expired_device_code(kimi_emulator: EmulatorHandle, clock: FakeClock) -> None:
    code = (await start_login(kimi_emulator))["device_code"]
    clock.advance(60)
    await expect_error(kimi_emulator, code, "expired_token")


@pytest.mark.kimi_emulator(approve_after_polls=None)
async def test_denied_login(kimi_emulator: EmulatorHandle, clock: FakeClock) -> None:
    login = await start_login(kimi_emulator)
    await expect_error(kimi_emulator, login["device_code"], "authorization_pending")
    assert kimi_emulator.deny(login["user_code"]) == [login["user_code"]]
    clock.advance(5)
    await expect_error(kimi_emulator, login["device_code"], "access_denied")


@pytest.mark.kimi_emulator(approve_after_polls=None)
async def test_manual_approval_waits_for_control(
    kimi_emulator: EmulatorHandle, clock: FakeClock
) -> None:
    login = await start_login(kimi_emulator)
    for _ in range(3):
        await expect_error(kimi_emulator, login["device_code"], "authorization_pending")
        clock.advance(5)
    assert kimi_emulator.approve() == [login["user_code"]]
    status, tokens = await poll(kimi_emulator, login["device_code"])
    assert status == 200 and tokens["access_token"]
    # Used once; a second poll with the same device code is refused.
    clock.advance(5)
    await expect_error(kimi_emulator, login["device_code"], "invalid_grant")


@pytest.mark.kimi_emulator(approve_after_polls=0)
async def test_approve_after_zero_polls(kimi_emulator: EmulatorHandle) -> None:
    login = await start_login(kimi_emulator)
    status, tokens = await poll(kimi_emulator, login["device_code"])
    assert status == 200 and tokens["refresh_token"]


async def test_refresh_rotation_and_reuse_counted(kimi_emulator: EmulatorHandle) -> None:
    first = kimi_emulator.issue_tokens()
    status, second = await refresh(kimi_emulator, first.refresh_token)
    assert status == 200
    assert second["refresh_token"] != first.refresh_token
    assert second["access_token"] != first.access_token
    assert kimi_emulator.refresh_reuse_count == 0

    status, body = await refresh(kimi_emulator, first.refresh_token)  # spent
    assert (status, body["error"]) == (400, "invalid_grant")
    assert kimi_emulator.refresh_reuse_count == 1

    status, _ = await refresh(kimi_emulator, second["refresh_token"])
    assert status == 200
    status, body = await refresh(kimi_emulator, "krt_never_issued")
    assert (status, body["error"]) == (400, "invalid_grant")
    stats = kimi_emulator.stats
    assert (stats["refresh_count"], stats["refresh_reuse_count"]) == (2, 1)
    assert stats["refresh_unknown_count"] == 1


async def test_bad_client_and_grant(kimi_emulator: EmulatorHandle) -> None:
    status, body = await post_form(
        f"{kimi_emulator.oauth_host}/api/oauth/device_authorization", {"client_id": "other"}
    )
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await post_form(
        f"{kimi_emulator.oauth_host}/api/oauth/token",
        {"client_id": CLIENT_ID, "grant_type": "password"},
    )
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = await post_form(
        f"{kimi_emulator.oauth_host}/api/oauth/token",
        {"client_id": CLIENT_ID, "grant_type": DEVICE_GRANT},
    )
    assert (status, body["error"]) == (400, "invalid_request")


async def test_token_ttl_setting_applies_to_new_tokens(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.set_token_ttl(42)
    pair = kimi_emulator.issue_tokens()
    assert pair.expires_in == 42
    status, rotated = await refresh(kimi_emulator, pair.refresh_token)
    assert status == 200 and rotated["expires_in"] == 42
    assert kimi_emulator.issue_tokens(ttl=7).expires_in == 7


async def test_oauth_requests_recorded_with_secrets_redacted(kimi_emulator: EmulatorHandle) -> None:
    pair = kimi_emulator.issue_tokens()
    await refresh(kimi_emulator, pair.refresh_token)
    (recorded,) = kimi_emulator.requests
    assert recorded.path == "/api/oauth/token" and recorded.status == 200
    assert pair.refresh_token.encode() in recorded.body  # raw bytes stay for assertions
    assert pair.refresh_token not in repr(recorded)
    assert pair.refresh_token not in str(recorded.redacted())


async def test_device_page_approves(kimi_emulator: EmulatorHandle) -> None:
    login = await start_login(kimi_emulator)
    async with aiohttp.ClientSession() as s:
        async with s.get(login["verification_uri_complete"]) as r:
            assert r.status == 200 and login["user_code"] in await r.text()
        form = {"user_code": login["user_code"], "action": "approve"}
        async with s.post(login["verification_uri"], data=form) as r:
            assert "done" in await r.text()
    status, _ = await poll(kimi_emulator, login["device_code"])
    assert status == 200
