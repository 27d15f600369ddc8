"""Refresh decisions and the TokenSources, against an in-memory slot (kimi.sources)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from kimibridge.errors import NeedsLogin, TokenExpired
from kimibridge.kimi._locks import SyncLock
from kimibridge.kimi.auth import OAuthClient, OAuthReply
from kimibridge.kimi.credentials import CredentialStore, SharingMode, StoredLogin
from kimibridge.kimi.endpoints import RegionMismatch, resolve_endpoints
from kimibridge.kimi.kimicli_files import TokenRecord
from kimibridge.kimi.sources import (
    ApiKeyRejected,
    ApiKeyTokenSource,
    LoginExpired,
    OAuthTokenSource,
    adoptable,
    load_token_source,
    needs_refresh,
    open_token_source,
    refresh_threshold,
)
from kimibridge.kimi.tokens import Credential, TokenSource

NOW = 10_000.0


def rec(n: int, expires_at: float = NOW + 900, expires_in: float = 900) -> TokenRecord:
    return TokenRecord(f"AT{n}-secret", f"RT{n}-secret", expires_at, expires_in)


# -- pure decisions ------------------------------------------------------------------------------


def test_threshold_is_max_300_or_half_the_lifetime() -> None:
    assert refresh_threshold(900) == 450
    assert refresh_threshold(100) == 300
    assert refresh_threshold(0) == 300
    assert refresh_threshold(10, minimum=0) == 5


def test_needs_refresh() -> None:
    assert not needs_refresh(rec(1, NOW + 451), NOW)
    assert needs_refresh(rec(1, NOW + 449), NOW)
    assert not needs_refresh(rec(1, 0), NOW)  # unknown expiry waits for a 401


def test_adoptable_after_a_401_needs_another_unexpired_token() -> None:
    peer = rec(2, NOW + 100)
    assert adoptable(peer, NOW, rejected="AT1-secret")
    assert not adoptable(peer, NOW, rejected="AT2-secret")  # the one that was refused
    assert not adoptable(rec(2, NOW + 1), NOW, rejected="AT1-secret")  # about to expire
    assert not adoptable(TokenRecord("", "", 0, 0), NOW, rejected="x")  # tombstone
    assert not adoptable(None, NOW, rejected=None)


# -- fakes ---------------------------------------------------------------------------------------


class MemorySlot:
    sharing: SharingMode = "own"
    relogin_hint = "run `kimibridge login --oauth` to sign in again"

    def __init__(self, record: TokenRecord | None) -> None:
        self.record = record
        self.path = Path("/memory")
        self.writes = 0
        self.lock_taken = 0
        self._lock = threading.Lock()

    def read(self) -> TokenRecord | None:
        return self.record

    def write(self, record: TokenRecord) -> None:
        self.writes += 1
        self.record = record

    def lock(self) -> SyncLock:
        slot = self

        class _L:
            path = Path("/memory.lock")

            def acquire(self, cancel: threading.Event) -> None:
                slot._lock.acquire()
                slot.lock_taken += 1

            def release(self) -> None:
                slot._lock.release()

        return _L()


class RotatingServer:
    """Rotating refresh tokens; counts reuse like the emulator."""

    def __init__(self, first: int = 1) -> None:
        self.n = first
        self.live = f"RT{first}-secret"
        self.reused = 0
        self.refreshes = 0
        self.script: list[OAuthReply] = []

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> OAuthReply:
        await asyncio.sleep(0.01)
        if self.script:
            return self.script.pop(0)
        if form["refresh_token"] != self.live:
            self.reused += 1
            return OAuthReply(400, {"error": "invalid_grant"})
        self.n += 1
        self.refreshes += 1
        self.live = f"RT{self.n}-secret"
        return OAuthReply(
            200,
            {"access_token": f"AT{self.n}-secret", "refresh_token": self.live, "expires_in": 900},
        )


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def source(
    slot: MemorySlot, server: RotatingServer, region: str = "mainland", **kw: object
) -> OAuthTokenSource:
    ep = resolve_endpoints("mainland", environ={})
    c = OAuthClient(ep, transport=server, sleep=no_sleep, clock=lambda: NOW)
    return OAuthTokenSource(slot, region=region, endpoints=ep, client=c, **kw)  # type: ignore[arg-type]


# -- OAuthTokenSource ----------------------------------------------------------------------------


async def test_current_uses_a_fresh_stored_token_without_refreshing() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    assert isinstance(ts, TokenSource)
    cred = await ts.current()
    assert cred.token == "AT1-secret" and cred.method == "oauth" and cred.expires_at == NOW + 900
    assert server.refreshes == 0 and slot.lock_taken == 0


async def test_current_refreshes_proactively_and_persists() -> None:
    slot, server = MemorySlot(rec(1, NOW + 100)), RotatingServer()
    ts = source(slot, server)
    cred = await ts.current()
    assert cred.token == "AT2-secret"
    assert slot.record == TokenRecord("AT2-secret", "RT2-secret", NOW + 900, 900, "", "Bearer")
    assert server.refreshes == 1 and slot.writes == 1


async def test_concurrent_401s_share_one_refresh() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    first = await ts.current()
    results = await asyncio.gather(*(ts.after_unauthorized(first) for _ in range(20)))
    assert {c.token for c in results} == {"AT2-secret"}
    assert server.refreshes == 1 and server.reused == 0


async def test_a_peer_refresh_is_adopted_without_spending_a_token() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    first = await ts.current()
    slot.record = rec(7)  # another process refreshed meanwhile
    server.live = "RT7-secret"
    cred = await ts.after_unauthorized(first)
    assert cred.token == "AT7-secret"
    assert server.refreshes == 0 and ts.adoptions == 1


async def test_forced_refresh_when_the_stored_token_is_the_rejected_one() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    cred = await ts.after_unauthorized(await ts.current())
    assert cred.token == "AT2-secret" and slot.lock_taken == 1


async def test_rejected_refresh_says_exactly_what_to_run(caplog: pytest.LogCaptureFixture) -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    server.script = [OAuthReply(401, {"error": "unauthorized"})]
    ts = source(slot, server)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LoginExpired) as info:
        await ts.after_unauthorized(await ts.current())
    assert isinstance(info.value, NeedsLogin)
    assert "kimibridge login --oauth" in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text, repr(ts)):
        assert "secret" not in text


async def test_rejected_refresh_adopts_a_lockless_peers_rotation() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    server.script = [OAuthReply(400, {"error": "invalid_grant"})]
    ts = source(slot, server)
    first = await ts.current()

    async def peer_writes(_: float) -> None:
        slot.record = rec(5)

    ts.client.sleep = peer_writes
    cred = await ts.after_unauthorized(first)
    assert cred.token == "AT5-secret"


async def test_transient_failure_keeps_a_still_valid_token_when_proactive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slot, server = MemorySlot(rec(1, NOW + 100)), RotatingServer()
    server.script = [OAuthReply(503, {})] * 3
    ts = source(slot, server)
    assert (await ts.current()).token == "AT1-secret"
    assert "could not renew" in caplog.text and "secret" not in caplog.text


async def test_transient_failure_after_a_401_is_token_expired() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    server.script = [OAuthReply(503, {})] * 3
    ts = source(slot, server)
    with pytest.raises(TokenExpired, match="could not be renewed"):
        await ts.after_unauthorized(await ts.current())


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (None, "no Kimi login"),
        (TokenRecord("", "", 0, 0), "was rejected"),
        (TokenRecord("a", "", NOW - 5, 900), "cannot be renewed"),
    ],
)
async def test_unusable_stores_need_a_login(record: TokenRecord | None, why: str) -> None:
    ts = source(MemorySlot(record), RotatingServer())
    with pytest.raises(LoginExpired, match=why):
        await ts.current()


async def test_region_mismatch_is_refused_before_any_request() -> None:
    with pytest.raises(RegionMismatch):
        source(MemorySlot(rec(1)), RotatingServer(), region="global")


async def test_api_key_source() -> None:
    ep = resolve_endpoints("global", environ={})
    ts = ApiKeyTokenSource("sk-kimi-secret", region="global", endpoints=ep)
    cred = await ts.current()
    assert (cred.token, cred.method, cred.expires_at) == ("sk-kimi-secret", "api_key", None)
    with pytest.raises(ApiKeyRejected, match="kimibridge login --api-key") as info:
        await ts.after_unauthorized(cred)
    assert "secret" not in str(info.value) + repr(ts)
    env_ts = ApiKeyTokenSource("sk-kimi-secret", region="global", endpoints=ep, from_env=True)
    with pytest.raises(ApiKeyRejected, match="KIMI_API_KEY"):
        await env_ts.after_unauthorized(cred)
    with pytest.raises(RegionMismatch):
        ApiKeyTokenSource("k", region="mainland", endpoints=ep)


async def test_load_token_source_prefers_env_key_then_store(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    ep = resolve_endpoints(environ={})
    with pytest.raises(NeedsLogin, match="kimibridge login"):
        load_token_source(store, ep, environ={})
    env_source = load_token_source(store, ep, environ={"KIMI_API_KEY": "sk-kimi-env"})
    assert (await env_source.current()).token == "sk-kimi-env"
    store.save(StoredLogin.own_oauth(rec(1), "mainland"))
    oauth = load_token_source(store, ep, environ={})
    assert isinstance(oauth, OAuthTokenSource)
    store.save(StoredLogin.api_key_login("sk-kimi-stored", "mainland"))
    assert (
        await open_token_source(
            store.load() or StoredLogin.api_key_login("x", "mainland"), store, ep
        ).current()
    ).token == "sk-kimi-stored"


def test_credential_repr_hides_the_token() -> None:
    assert "secret" not in repr(Credential("AT-secret", "oauth", "mainland"))


async def test_a_cancelled_caller_does_not_lose_a_spent_refresh_token() -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    first = await ts.current()
    task = asyncio.create_task(ts.after_unauthorized(first))
    await asyncio.sleep(0.005)  # the refresh request is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert slot.record is not None and slot.record.access_token == "AT2-secret"  # saved anyway
    again = await ts.after_unauthorized(first)
    assert again.token == "AT2-secret"
    assert server.refreshes == 1 and server.reused == 0


async def test_a_failed_early_refresh_is_not_retried_on_every_call() -> None:
    slot, server = MemorySlot(rec(1, NOW + 100)), RotatingServer()
    server.script = [OAuthReply(503, {})] * 3
    ts = source(slot, server)
    assert (await ts.current()).token == "AT1-secret"
    assert server.script == []  # three attempts spent
    assert (await ts.current()).token == "AT1-secret"  # within the back-off: no new attempt
    assert server.refreshes == 0


@pytest.mark.parametrize("replacement", [None, rec(9)])
async def test_a_login_or_logout_during_a_refresh_is_not_overwritten(
    replacement: TokenRecord | None,
) -> None:
    slot, server = MemorySlot(rec(1)), RotatingServer()
    ts = source(slot, server)
    first = await ts.current()
    original = server.post_form

    async def user_relogs_meanwhile(
        url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> OAuthReply:
        reply = await original(url, form, headers)
        slot.record = replacement  # written without the lock: a new login, or a logout
        return reply

    server.post_form = user_relogs_meanwhile  # type: ignore[method-assign]
    cred = await ts.after_unauthorized(first)
    assert cred.token == "AT2-secret"  # this process goes on with its fresh token
    assert slot.record == replacement and slot.writes == 0
