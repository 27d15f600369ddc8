"""Kimi's OAuth: the device login and the refresh call (reference/kimi-cli-wire.md §1, §11.1).

- ``OAuthClient`` makes the three form POSTs (device authorization, token poll, refresh) and
  classifies the answers; its HTTP goes through an ``OAuthTransport`` (aiohttp by default) so
  unit tests can answer without a socket.
- ``device_login`` drives the device flow as an async generator of events the CLI renders
  (code to show, waiting, code expired and restarted, success); it honours ``interval``,
  ``slow_down`` (+5 s for good), restarts on ``expired_token``, stops on ``access_denied``,
  on repeated server errors and after an overall time limit, and is cancellable.

By default no kimi-cli identity is sent on these calls (DESIGN.md "Identity and account
safety"): the caller passes the headers of the identity its user chose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from kimibridge._version import __version__
from kimibridge.errors import AuthError
from kimibridge.kimi.endpoints import CLIENT_ID, Endpoints
from kimibridge.kimi.kimicli_files import TokenRecord

__all__ = [
    "AiohttpTransport",
    "CodeExpired",
    "DeviceCode",
    "DeviceFlowEvent",
    "LoginDenied",
    "LoginSucceeded",
    "LoginTimedOut",
    "OAuthClient",
    "OAuthReply",
    "OAuthServerError",
    "OAuthTransport",
    "RefreshRejected",
    "VerificationCode",
    "Waiting",
    "device_login",
]

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)

DEVICE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
RETRY_ATTEMPTS: Final = 3  # 1 s then 2 s between them
DEFAULT_LOGIN_TIMEOUT_S: Final = 15 * 60.0
SLOW_DOWN_STEP_S: Final = 5.0

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


# -- errors ------------------------------------------------------------------------------------


class LoginDenied(AuthError):
    def __init__(self) -> None:
        super().__init__("sign-in was denied in the browser; run `kimibridge login` to try again")


class LoginTimedOut(AuthError):
    def __init__(self, timeout: float) -> None:
        minutes = timeout / 60
        if timeout >= 60 and minutes.is_integer():
            span = f"{minutes:g} minute" + ("s" if minutes != 1 else "")
        else:
            span = f"{timeout:g} s"
        super().__init__(
            f"sign-in was not completed within {span}; run `kimibridge login` to try again"
        )


class OAuthServerError(AuthError):
    """Kimi's sign-in server failed (5xx, network) after retries, or answered nonsense."""


class RefreshRejected(AuthError):
    """The refresh token was refused (401, 403 or ``invalid_grant``): a new login is needed."""


# -- HTTP seam ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthReply:
    status: int
    body: Mapping[str, Any]  # the JSON object answered, {} when the body was not one


class OAuthTransport(Protocol):
    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> OAuthReply:
        """POST ``form`` url-encoded; raise ``OAuthServerError`` on network failure."""
        ...


class AiohttpTransport:
    """The real transport; a new session per call unless one is given.

    aiohttp is imported on first use so importing ``kimibridge.kimi`` stays cheap for the CLI.
    """

    def __init__(
        self, session: aiohttp.ClientSession | None = None, *, timeout: float = 30.0
    ) -> None:
        self._session = session
        self._timeout = timeout

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> OAuthReply:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            if self._session is not None:
                return await _post(self._session, url, form, headers, timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                return await _post(session, url, form, headers, timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OAuthServerError(
                f"could not reach Kimi's sign-in server {url.split('/api/')[0]}: "
                f"{type(exc).__name__}"
            ) from exc


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    form: Mapping[str, str],
    headers: Mapping[str, str],
    client_timeout: aiohttp.ClientTimeout,
) -> OAuthReply:
    async with session.post(
        url, data=dict(form), headers=dict(headers), timeout=client_timeout
    ) as resp:
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = None
        return OAuthReply(resp.status, body if isinstance(body, dict) else {})


# -- token parsing -----------------------------------------------------------------------------


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None


def token_from_response(
    body: Mapping[str, Any], now: float, *, previous_refresh_token: str | None = None
) -> TokenRecord:
    """A ``TokenRecord`` from a token endpoint answer; ``OAuthServerError`` if unusable.

    A refresh answer without a new refresh token keeps the old one (no rotation that time).
    """
    access = body.get("access_token")
    refresh = body.get("refresh_token") or previous_refresh_token
    expires_in = _positive(body.get("expires_in"))
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise OAuthServerError("Kimi's sign-in server answered without the expected tokens")
    if expires_in is None:
        raise OAuthServerError("Kimi's sign-in server answered without a token lifetime")
    scope, token_type = body.get("scope"), body.get("token_type")
    return TokenRecord(
        access_token=access,
        refresh_token=refresh,
        expires_at=now + expires_in,
        expires_in=expires_in,
        scope=scope if isinstance(scope, str) else "",
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
    )


def _error_text(reply: OAuthReply) -> str:
    error = reply.body.get("error")
    description = reply.body.get("error_description")
    parts = [f"HTTP {reply.status}"]
    if isinstance(error, str) and error:
        parts.append(error)
    if isinstance(description, str) and description.strip():
        parts.append(description.strip()[:200])
    return ": ".join(parts)


# -- the client --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float | None
    interval: float


class OAuthClient:
    """The three OAuth calls against ``endpoints.auth_host``."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        headers: Mapping[str, str] | None = None,
        transport: OAuthTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.time,
    ) -> None:
        self.endpoints = endpoints
        self.headers = {
            "User-Agent": f"kimibridge/{__version__}",
            "Accept": "application/json",
            **(headers or {}),
        }
        self.transport: OAuthTransport = transport or AiohttpTransport()
        self.sleep = sleep
        self.clock = clock

    async def _post(self, path: str, form: Mapping[str, str]) -> OAuthReply:
        return await self.transport.post_form(self.endpoints.oauth_url(path), form, self.headers)

    async def _post_retrying(self, path: str, form: Mapping[str, str], what: str) -> OAuthReply:
        """POST, retrying network errors and 429/5xx (3 attempts, 1 s then 2 s)."""
        failure = ""
        for attempt in range(RETRY_ATTEMPTS):
            try:
                reply = await self._post(path, form)
            except OAuthServerError as exc:
                failure = str(exc)
            else:
                if reply.status not in RETRYABLE_STATUSES:
                    return reply
                failure = f"Kimi's sign-in server answered {_error_text(reply)}"
            if attempt < RETRY_ATTEMPTS - 1:
                log.warning("%s failed (attempt %d), retrying: %s", what, attempt + 1, failure)
                await self.sleep(2.0**attempt)
        raise OAuthServerError(f"{what} failed after {RETRY_ATTEMPTS} attempts: {failure}")

    async def request_device_code(self) -> DeviceCode:
        reply = await self._post_retrying(
            "/api/oauth/device_authorization", {"client_id": CLIENT_ID}, "device authorization"
        )
        body = reply.body
        if reply.status != 200:
            raise OAuthServerError(f"device authorization failed: {_error_text(reply)}")
        device_code, user_code = body.get("device_code"), body.get("user_code")
        complete = body.get("verification_uri_complete")
        if not all(isinstance(v, str) and v for v in (device_code, user_code, complete)):
            raise OAuthServerError("device authorization answered without a code to show")
        assert isinstance(device_code, str) and isinstance(user_code, str)
        assert isinstance(complete, str)
        uri = body.get("verification_uri")
        raw_interval = body.get("interval")
        interval = 0.0 if raw_interval in (0, "0") else _positive(raw_interval)
        return DeviceCode(
            device_code=device_code,
            user_code=user_code,
            verification_uri=uri if isinstance(uri, str) and uri else complete,
            verification_uri_complete=complete,
            expires_in=_positive(body.get("expires_in")),
            interval=5.0 if interval is None else interval,
        )

    async def poll_token(self, device_code: str) -> OAuthReply:
        """One poll; the answer is classified by ``device_login`` (whatever its status)."""
        return await self._post(
            "/api/oauth/token",
            {"client_id": CLIENT_ID, "device_code": device_code, "grant_type": DEVICE_GRANT},
        )

    async def refresh(self, refresh_token: str) -> TokenRecord:
        """Spend ``refresh_token`` once; ``RefreshRejected`` when a new login is needed."""
        reply = await self._post_retrying(
            "/api/oauth/token",
            {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": refresh_token},
            "token refresh",
        )
        if reply.status in (401, 403) or reply.body.get("error") == "invalid_grant":
            raise RefreshRejected(f"Kimi refused to renew the login ({_error_text(reply)})")
        if reply.status != 200:
            raise OAuthServerError(f"token refresh failed: {_error_text(reply)}")
        return token_from_response(reply.body, self.clock(), previous_refresh_token=refresh_token)


# -- the device flow ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerificationCode:
    """Show ``user_code`` and open ``verification_uri_complete``; ``restarted`` after expiry."""

    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float | None
    restarted: bool = False


@dataclass(frozen=True, slots=True)
class Waiting:
    """Still waiting for the user; ``interval`` is the current poll spacing."""

    interval: float
    elapsed: float
    slowed_down: bool = False


@dataclass(frozen=True, slots=True)
class CodeExpired:
    """The code expired before approval; a new ``VerificationCode`` follows."""


@dataclass(frozen=True, slots=True)
class LoginSucceeded:
    token: TokenRecord = field(repr=False)


DeviceFlowEvent = VerificationCode | Waiting | CodeExpired | LoginSucceeded


async def device_login(
    client: OAuthClient,
    *,
    time_limit: float = DEFAULT_LOGIN_TIMEOUT_S,
    min_interval: float = 1.0,
) -> AsyncIterator[DeviceFlowEvent]:
    """Run the device flow, yielding events; ends with ``LoginSucceeded`` or raises.

    Raises ``LoginDenied``, ``LoginTimedOut`` (``time_limit`` seconds overall, restarts
    included) or ``OAuthServerError``. Cancel the consuming task (Ctrl-C) to stop it.
    """
    clock, sleep = client.clock, client.sleep
    started = clock()
    deadline = started + time_limit
    restarted = False
    while True:
        if clock() >= deadline:
            raise LoginTimedOut(time_limit)
        code = await client.request_device_code()
        yield VerificationCode(
            code.user_code,
            code.verification_uri,
            code.verification_uri_complete,
            code.expires_in,
            restarted,
        )
        interval = max(code.interval, min_interval)
        server_failures = 0
        while True:
            if clock() >= deadline:
                raise LoginTimedOut(time_limit)
            reply: OAuthReply | None = None
            try:
                answered = await client.poll_token(code.device_code)
            except OAuthServerError as exc:
                failure = str(exc)
            else:
                reply, failure = answered, f"Kimi's sign-in server answered {_error_text(answered)}"
            if reply is not None and reply.status == 200 and "access_token" in reply.body:
                yield LoginSucceeded(token_from_response(reply.body, clock()))
                return
            error = reply.body.get("error") if reply is not None else None
            slowed = False
            if reply is None or reply.status >= 500:
                server_failures += 1
                if server_failures >= RETRY_ATTEMPTS:
                    raise OAuthServerError(f"sign-in failed: {failure}")
                yield Waiting(interval=interval, elapsed=clock() - started)
                await sleep(min(2.0 ** (server_failures - 1), max(deadline - clock(), 0.0)))
                continue
            server_failures = 0
            if error == "expired_token":
                restarted = True
                yield CodeExpired()
                break
            elif error == "access_denied":
                raise LoginDenied
            elif error == "slow_down":
                interval += SLOW_DOWN_STEP_S
                slowed = True
            elif error != "authorization_pending":
                raise OAuthServerError(f"sign-in failed: {failure}")
            yield Waiting(interval=interval, elapsed=clock() - started, slowed_down=slowed)
            remaining = deadline - clock()
            if remaining <= 0:
                raise LoginTimedOut(time_limit)
            await sleep(min(interval, remaining))
