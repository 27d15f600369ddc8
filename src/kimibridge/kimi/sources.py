"""``TokenSource`` implementations: a static API key, and OAuth with coordinated refresh.

OAuth refresh (reference/kimi-cli-wire.md §1, §2; kimi-plugins.md §1.6, §3.3):

- proactive when ``expires_at - now < max(300, expires_in / 2)``; forced after a 401;
- single-flight inside a process (an ``asyncio.Lock``: concurrent callers share one refresh);
- across processes the token file's own lock (taken in a worker thread), a re-read under the
  lock, and adoption of a token a peer already refreshed: a refresh token is never spent twice;
- 429/5xx/network errors retried by ``OAuthClient``; 401/403/``invalid_grant`` end in
  ``NeedsLogin`` whose message says what to run.

The decisions are pure functions (``needs_refresh``, ``adoptable``) so they are tested alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Final

from kimibridge.errors import AuthError, NeedsLogin, TokenExpired
from kimibridge.kimi._locks import hold
from kimibridge.kimi.auth import (
    Clock,
    OAuthClient,
    OAuthServerError,
    OAuthTransport,
    RefreshRejected,
    Sleep,
)
from kimibridge.kimi.credentials import CredentialStore, StoredLogin, TokenSlot, open_slot
from kimibridge.kimi.endpoints import ENV_API_KEY, Endpoints, Region, check_region
from kimibridge.kimi.kimicli_files import TokenRecord
from kimibridge.kimi.tokens import Credential, TokenSource

__all__ = [
    "ApiKeyRejected",
    "ApiKeyTokenSource",
    "LoginExpired",
    "OAuthTokenSource",
    "adoptable",
    "is_expired",
    "load_token_source",
    "needs_refresh",
    "open_token_source",
    "refresh_threshold",
]

log = logging.getLogger(__name__)

MIN_REFRESH_THRESHOLD_S: Final = 300.0
EXPIRY_SKEW_S: Final = 5.0  # a token this close to its end is treated as expired
PEER_GRACE_S: Final = 1.0  # after a rejected refresh, time for a lock-less peer to persist
PROACTIVE_RETRY_S: Final = (
    30.0  # after a failed early refresh, keep the still-valid token this long
)


class LoginExpired(NeedsLogin):
    """The OAuth login can no longer be renewed; the message names the command to run."""

    def __init__(self, message: str) -> None:
        AuthError.__init__(self, message)


class ApiKeyRejected(NeedsLogin):
    def __init__(self, from_env: bool) -> None:
        fix = (
            f"check {ENV_API_KEY}"
            if from_env
            else "create a new key in the Kimi Code console and run `kimibridge login --api-key`"
        )
        AuthError.__init__(self, f"Kimi rejected the API key (HTTP 401); {fix}")


# -- pure decisions ----------------------------------------------------------------------------


def refresh_threshold(expires_in: float, minimum: float = MIN_REFRESH_THRESHOLD_S) -> float:
    """Seconds before expiry at which to refresh: ``max(300, expires_in / 2)``."""
    return max(minimum, expires_in * 0.5) if expires_in > 0 else minimum


def is_expired(record: TokenRecord, now: float) -> bool:
    """Expired, or so close to it (5 s, less for short-lived tokens) that it cannot be used."""
    if not record.expires_at:
        return False
    skew = min(EXPIRY_SKEW_S, record.expires_in / 10) if record.expires_in > 0 else EXPIRY_SKEW_S
    return record.expires_at - now <= skew


def needs_refresh(
    record: TokenRecord, now: float, minimum: float = MIN_REFRESH_THRESHOLD_S
) -> bool:
    """Proactive refresh due? An unknown expiry (0) waits for a 401, as Kimi Code does."""
    if not record.expires_at:
        return False
    return record.expires_at - now < refresh_threshold(record.expires_in, minimum)


def adoptable(
    record: TokenRecord | None,
    now: float,
    *,
    rejected: str | None,
    minimum: float = MIN_REFRESH_THRESHOLD_S,
) -> bool:
    """Can ``record`` be used instead of refreshing?

    After a 401 (``rejected`` is the refused access token): yes if it holds another access token
    that has not expired — a peer already refreshed. Proactively: yes if no refresh is due.
    """
    if record is None or record.is_tombstone:
        return False
    if rejected is not None:
        return record.access_token != rejected and not is_expired(record, now)
    return not needs_refresh(record, now, minimum)


# -- token sources -----------------------------------------------------------------------------


class ApiKeyTokenSource:
    """A static Kimi Code API key: nothing to refresh."""

    def __init__(
        self, key: str, *, region: Region, endpoints: Endpoints, from_env: bool = False
    ) -> None:
        check_region(region, endpoints)
        self._credential = Credential(token=key, method="api_key", region=region)
        self.from_env = from_env

    def __repr__(self) -> str:
        return f"ApiKeyTokenSource(region={self._credential.region!r}, from_env={self.from_env!r})"

    async def current(self) -> Credential:
        return self._credential

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        raise ApiKeyRejected(self.from_env)


class OAuthTokenSource:
    """OAuth tokens in a ``TokenSlot`` (own file, kimi-cli's or Kimi Code's), refreshed safely."""

    def __init__(
        self,
        slot: TokenSlot,
        *,
        region: Region,
        endpoints: Endpoints,
        client: OAuthClient,
        min_threshold: float = MIN_REFRESH_THRESHOLD_S,
        peer_grace: float = PEER_GRACE_S,
    ) -> None:
        check_region(region, endpoints)
        self.slot = slot
        self.region = region
        self.endpoints = endpoints
        self.client = client
        self.min_threshold = min_threshold
        self.peer_grace = peer_grace
        self._record: TokenRecord | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0  # no early refresh before this (after one failed)
        self.refreshes = 0  # refresh tokens this source spent (for tests and status)
        self.adoptions = 0  # times it took a token a peer had refreshed

    def __repr__(self) -> str:
        return f"OAuthTokenSource(sharing={self.slot.sharing!r}, path={str(self.slot.path)!r}, region={self.region!r})"

    @property
    def _clock(self) -> Clock:
        return self.client.clock

    @property
    def _sleep(self) -> Sleep:
        return self.client.sleep

    def _credential(self, record: TokenRecord) -> Credential:
        return Credential(
            token=record.access_token,
            method="oauth",
            region=self.region,
            expires_at=record.expires_at or None,
        )

    def _usable(self, record: TokenRecord | None, rejected: str | None) -> bool:
        return adoptable(record, self._clock(), rejected=rejected, minimum=self.min_threshold)

    async def current(self) -> Credential:
        record, now = self._record, self._clock()
        if record is None or not (
            self._usable(record, None) or (now < self._retry_at and not is_expired(record, now))
        ):
            record = await self._renew(rejected=None)
        return self._credential(record)

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        return self._credential(await self._renew(rejected=rejected.token))

    async def _renew(self, *, rejected: str | None) -> TokenRecord:
        async with self._lock:
            # Another task of this process may have renewed while we waited.
            if self._usable(self._record, rejected):
                assert self._record is not None
                return self._record
            # Another process may have: adopt its token without taking the file lock.
            stored = await asyncio.to_thread(self.slot.read)
            if self._usable(stored, rejected):
                assert stored is not None
                return self._adopt(stored, peer=stored != self._record and self._record is not None)
            # Shielded: a caller cancelled between spending the refresh token and saving its
            # successor would log everyone out. The work finishes; later callers adopt it.
            work = asyncio.ensure_future(self._renew_with_file_lock(rejected))
            work.add_done_callback(_retrieve)
            return await asyncio.shield(work)

    async def _renew_with_file_lock(self, rejected: str | None) -> TokenRecord:
        async with hold(self.slot.lock()):
            return await self._renew_locked(rejected)

    def _adopt(self, record: TokenRecord, *, peer: bool) -> TokenRecord:
        if peer:
            self.adoptions += 1
        self._record = record
        return record

    def _needs_login(self, why: str) -> LoginExpired:
        return LoginExpired(f"{why}; {self.slot.relogin_hint}")

    async def _renew_locked(self, rejected: str | None) -> TokenRecord:
        stored = await asyncio.to_thread(self.slot.read)  # re-read under the lock
        if stored is None:
            raise self._needs_login("no Kimi login is stored")
        if stored.is_tombstone:
            raise self._needs_login("the stored Kimi login was rejected")
        if self._usable(stored, rejected):
            return self._adopt(stored, peer=stored != self._record and self._record is not None)
        if not stored.refresh_token:
            raise self._needs_login("the stored Kimi login cannot be renewed")
        try:
            fresh = await self.client.refresh(stored.refresh_token)
        except RefreshRejected:
            return await self._after_rejected_refresh(stored)
        except OAuthServerError as exc:
            if rejected is None and not is_expired(stored, self._clock()):
                # Proactive refresh failed, but the token still works: use it, try later.
                log.warning("could not renew the Kimi login yet: %s", exc)
                self._retry_at = self._clock() + PROACTIVE_RETRY_S
                self._record = stored
                return stored
            raise TokenExpired(f"the Kimi login could not be renewed: {exc}") from exc
        self.refreshes += 1
        await asyncio.to_thread(self._save_if_unchanged, stored, fresh)
        self._retry_at = 0.0
        self._record = fresh
        return fresh

    def _save_if_unchanged(self, spent: TokenRecord, fresh: TokenRecord) -> None:
        """Save ``fresh`` unless the file changed since it was read under the lock.

        Only a writer that ignores the lock can change it (a new login, a logout): theirs wins,
        and this process keeps its fresh token in memory only.
        """
        current = self.slot.read()
        if current is None or current.refresh_token != spent.refresh_token:
            log.info("the stored Kimi login changed during a refresh; keeping the stored one")
            return
        self.slot.write(fresh)

    async def _after_rejected_refresh(self, spent: TokenRecord) -> TokenRecord:
        # A peer that does not take the lock (legacy kimi-cli gives up waiting after ~7 s) may
        # have rotated the token meanwhile: give it a moment to persist, then look again.
        await self._sleep(self.peer_grace)
        latest = await asyncio.to_thread(self.slot.read)
        if (
            latest is not None
            and not latest.is_tombstone
            and latest.refresh_token != spent.refresh_token
            and not is_expired(latest, self._clock())
        ):
            return self._adopt(latest, peer=True)
        self._record = None
        raise self._needs_login("Kimi refused to renew the login")


def _retrieve(task: asyncio.Future[TokenRecord]) -> None:
    """Mark a shielded renewal's outcome as seen even when its caller was cancelled."""
    if not task.cancelled():
        task.exception()


# -- building one ------------------------------------------------------------------------------


def open_token_source(
    login: StoredLogin,
    store: CredentialStore,
    endpoints: Endpoints,
    *,
    headers: Mapping[str, str] | None = None,
    transport: OAuthTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.time,
    min_threshold: float = MIN_REFRESH_THRESHOLD_S,
) -> TokenSource:
    """The ``TokenSource`` for a stored login; ``RegionMismatch`` if ``endpoints`` is the other region.

    ``headers`` go on OAuth calls (the identity the user chose); none by default.
    """
    if login.method == "api_key":
        assert login.api_key is not None
        return ApiKeyTokenSource(login.api_key, region=login.region, endpoints=endpoints)
    client = OAuthClient(endpoints, headers=headers, transport=transport, sleep=sleep, clock=clock)
    return OAuthTokenSource(
        open_slot(login, store),
        region=login.region,
        endpoints=endpoints,
        client=client,
        min_threshold=min_threshold,
    )


def load_token_source(
    store: CredentialStore,
    endpoints: Endpoints,
    environ: Mapping[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> TokenSource:
    """``KIMI_API_KEY`` if set, else the stored login; ``NeedsLogin`` when there is neither."""
    env = os.environ if environ is None else environ
    key = env.get(ENV_API_KEY, "").strip()
    if key:
        return ApiKeyTokenSource(key, region=endpoints.region, endpoints=endpoints, from_env=True)
    login = store.load()
    if login is None:
        raise NeedsLogin("not signed in to Kimi")
    return open_token_source(login, store, endpoints, headers=headers)
