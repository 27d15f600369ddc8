"""kimibridge's device login and token sources against the emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from kimibridge.config import Paths
from kimibridge.errors import NeedsLogin, TokenExpired
from kimibridge.kimi.auth import (
    CodeExpired,
    DeviceFlowEvent,
    LoginDenied,
    LoginSucceeded,
    LoginTimedOut,
    OAuthClient,
    VerificationCode,
    Waiting,
    device_login,
)
from kimibridge.kimi.credentials import CredentialStore, StoredLogin
from kimibridge.kimi.endpoints import Endpoints, RegionMismatch, resolve_endpoints
from kimibridge.kimi.kimicli_files import TokenRecord
from kimibridge.kimi.sources import OAuthTokenSource, open_token_source
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

UA = "kimibridge/test"


class FakeTime:
    """One clock for kimibridge and the emulator's OAuth state: sleeps cost no real time."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def emulated(kimi: EmulatorHandle, region: str = "mainland") -> Endpoints:
    env = {"KIMI_CODE_OAUTH_HOST": kimi.oauth_host, "KIMI_CODE_BASE_URL": kimi.base_url}
    return resolve_endpoints(region, environ=env)  # type: ignore[arg-type]


@pytest.fixture
def fake_time(kimi_emulator: EmulatorHandle) -> FakeTime:
    t = FakeTime()
    kimi_emulator.emulator.platform.oauth.clock = t
    return t


def oauth_client(
    kimi: EmulatorHandle, t: FakeTime | None = None, region: str = "mainland"
) -> OAuthClient:
    if t is None:
        return OAuthClient(emulated(kimi, region))
    return OAuthClient(emulated(kimi, region), sleep=t.sleep, clock=t)


async def me_status(kimi: EmulatorHandle, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": UA}
    async with aiohttp.ClientSession() as s, s.get(f"{kimi.base_url}/me", headers=headers) as r:
        return r.status


@pytest.mark.kimi_emulator(approve_after_polls=None, poll_interval=1, device_code_ttl=10)
async def test_login_completes_through_slow_down_and_expired_token(
    kimi_emulator: EmulatorHandle, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kimi = kimi_emulator
    events: list[DeviceFlowEvent] = []
    async for event in device_login(oauth_client(kimi, fake_time)):
        events.append(event)
        if isinstance(event, VerificationCode) and not event.restarted:
            # The server now wants slower polling than it announced: it answers slow_down.
            for device in kimi.emulator.platform.oauth.device_codes():
                device.interval = 3
        if isinstance(event, VerificationCode) and event.restarted:
            assert kimi.approve(event.user_code) == [event.user_code]
    history = kimi.emulator.platform.oauth.stats.history
    assert "slow_down" in history and "expired_token" in history and history[-1] == "token"
    assert history.index("slow_down") < history.index("expired_token")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "VerificationCode" and kinds[-1] == "LoginSucceeded"
    assert "CodeExpired" in kinds and any(isinstance(e, Waiting) and e.slowed_down for e in events)
    assert 6 in fake_time.sleeps  # 1 s interval + 5 s after slow_down
    final = events[-1]
    assert isinstance(final, LoginSucceeded)
    assert await me_status(kimi, final.token.access_token) == 200
    assert (
        final.token.access_token not in caplog.text and final.token.refresh_token not in caplog.text
    )


@pytest.mark.kimi_emulator(approve_after_polls=None, poll_interval=1)
async def test_denial_ends_cleanly(kimi_emulator: EmulatorHandle, fake_time: FakeTime) -> None:
    seen: list[DeviceFlowEvent] = []
    with pytest.raises(LoginDenied) as info:
        async for event in device_login(oauth_client(kimi_emulator, fake_time)):
            seen.append(event)
            if isinstance(event, VerificationCode):
                kimi_emulator.deny(event.user_code)
    assert (
        str(info.value) == "sign-in was denied in the browser; run `kimibridge login` to try again"
    )
    assert not any(isinstance(e, LoginSucceeded) for e in seen)


@pytest.mark.kimi_emulator(approve_after_polls=None, poll_interval=5, device_code_ttl=40)
async def test_time_limit_ends_cleanly_across_restarts(
    kimi_emulator: EmulatorHandle, fake_time: FakeTime
) -> None:
    seen: list[DeviceFlowEvent] = []
    with pytest.raises(LoginTimedOut, match="within 2 minutes"):
        async for event in device_login(oauth_client(kimi_emulator, fake_time), time_limit=120):
            seen.append(event)
    assert sum(isinstance(e, CodeExpired) for e in seen) >= 2
    assert fake_time.now - 5000 <= 121


@pytest.mark.kimi_emulator(approve_after_polls=None, poll_interval=1)
async def test_login_is_cancellable(kimi_emulator: EmulatorHandle) -> None:
    shown = asyncio.Event()

    async def consume() -> None:
        async for event in device_login(oauth_client(kimi_emulator)):
            if isinstance(event, VerificationCode):
                shown.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(shown.wait(), 5)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.kimi_emulator(approve_after_polls=1, poll_interval=0)
async def test_global_login_is_stored_and_refused_against_mainland(
    kimi_emulator: EmulatorHandle, isolated_home: Path, fake_time: FakeTime
) -> None:
    kimi = kimi_emulator
    client = oauth_client(kimi, fake_time, region="global")
    assert client.endpoints.region == "global"
    token: TokenRecord | None = None
    async for event in device_login(client):
        if isinstance(event, LoginSucceeded):
            token = event.token
    assert token is not None
    store = CredentialStore(Paths.from_env().credentials_file)
    store.replace_login(StoredLogin.own_oauth(token, "global"))
    login = store.load()
    assert login is not None and login.region == "global"
    source = open_token_source(login, store, emulated(kimi, "global"))
    cred = await source.current()
    assert cred.region == "global" and await me_status(kimi, cred.token) == 200
    with pytest.raises(RegionMismatch, match="belongs to the global region"):
        open_token_source(login, store, emulated(kimi, "mainland"))
    with pytest.raises(RegionMismatch):
        open_token_source(login, store, resolve_endpoints("mainland", environ={}))
    # Only the emulator (standing in for the global hosts) was ever contacted.
    assert all(r.path.startswith(("/api/oauth/", "/coding/v1/")) for r in kimi.requests)


async def test_refresh_rotates_and_survives_server_faults(
    kimi_emulator: EmulatorHandle, isolated_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kimi = kimi_emulator
    pair = kimi.issue_tokens(ttl=600)
    store = CredentialStore(Paths.from_env().credentials_file)
    record = TokenRecord(pair.access_token, pair.refresh_token, 1e12, 600)
    store.save(StoredLogin.own_oauth(record, "mainland"))
    login = store.load()
    assert login is not None

    async def quick(_: float) -> None:
        await asyncio.sleep(0)

    source = open_token_source(login, store, emulated(kimi), sleep=quick)
    assert isinstance(source, OAuthTokenSource)
    first = await source.current()
    kimi.inject("unavailable", route="/api/oauth/token")
    kimi.inject("server_error", route="/api/oauth/token")
    second = await source.after_unauthorized(first)
    assert second.token != first.token and await me_status(kimi, second.token) == 200
    stored = store.load()
    assert stored is not None and stored.token is not None
    assert stored.token.access_token == second.token
    assert kimi.refresh_reuse_count == 0
    for _ in range(3):
        kimi.inject("unavailable", route="/api/oauth/token")
    with pytest.raises(TokenExpired) as unavailable:
        await source.after_unauthorized(second)
    # A refresh token the server does not know (revoked): the emulator refuses it → login needed.
    revoked = TokenRecord("at-expired", "krt_revoked", 1.0, 600)
    store.save(StoredLogin.own_oauth(revoked, "mainland"))
    with pytest.raises(NeedsLogin, match="kimibridge login --oauth") as refused:
        await source.after_unauthorized(second)
    texts = [caplog.text, repr(source), repr(store.load())]
    for error in (unavailable.value, refused.value):
        chain: BaseException | None = error
        while chain is not None:  # the message, and every exception it was raised from
            texts += [str(chain), repr(chain)]
            chain = chain.__cause__ or chain.__context__
    assert kimi.emulator.platform.oauth.stats.refresh_unknown_count == 1
    assert kimi.refresh_reuse_count == 0
    for secret in (pair.access_token, pair.refresh_token, second.token, "krt_revoked"):
        assert not any(secret in text for text in texts)
