"""OAuth 2.0 device authorization (RFC 8628) with rotating refresh tokens.

Kimi's own statuses for the error answers are unverified (reference/kimi-cli-wire.md §10.3);
this follows RFC 8628 §3.5 / RFC 6749 §5.2: HTTP 400 with ``{"error", "error_description"}``
(401 for an unknown client). Clients are expected to branch on ``error`` whatever the status.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from kimibridge.emulator.app import EmulatorConfig

__all__ = [
    "CLIENT_ID",
    "DEVICE_GRANT",
    "AccessToken",
    "DeviceCode",
    "OAuthError",
    "OAuthState",
    "TokenPair",
    "oauth_routes",
]

CLIENT_ID = "17e5f671-d194-4dfb-9706-5516cb48c098"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "kimi-code"  # Kimi's real scope string is unverified (kimi-cli-wire §10.1)
# Polls this much earlier than `interval` still count as on time: timers may fire a hair early.
_SLOW_DOWN_SLACK = 0.1
# Unambiguous user-code alphabet (no 0/O, 1/I), as RFC 8628 §6.1 suggests.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

Clock = Callable[[], float]


class OAuthError(Exception):
    """An RFC 6749 error answer: ``error`` code, description and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> web.Response:
        return web.json_response(
            {"error": self.error, "error_description": self.description}, status=self.status
        )


@dataclass(slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    issued_at: float
    expires_at: float
    interval: int
    approve_after_polls: int | None
    polls: int = 0  # polls answered authorization_pending
    last_poll_at: float | None = None
    state: str = "pending"  # pending | approved | denied | used

    def to_public(self, host: str) -> dict[str, object]:
        return {
            "user_code": self.user_code,
            "state": self.state,
            "polls": self.polls,
            "verification_uri_complete": f"{host}/device?user_code={self.user_code}",
        }


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: float
    scope: str = SCOPE
    token_type: str = "Bearer"

    def to_wire(self) -> dict[str, object]:
        expires_in: float | int = int(self.expires_in)
        if expires_in != self.expires_in:
            expires_in = self.expires_in
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": expires_in,
            "scope": self.scope,
            "token_type": self.token_type,
        }


@dataclass(slots=True)
class AccessToken:
    token: str
    expires_at: float
    refresh_token: str  # the refresh token minted with it (its "chain")


@dataclass(slots=True)
class _RefreshToken:
    token: str
    expires_at: float | None
    spent: bool = False


@dataclass(slots=True)
class OAuthStats:
    device_codes_issued: int = 0
    polls: int = 0
    slow_downs: int = 0
    tokens_issued: int = 0
    refresh_count: int = 0
    refresh_reuse_count: int = 0
    refresh_unknown_count: int = 0
    history: list[str] = field(default_factory=list)  # OAuth answers in order, e.g. "slow_down"


class OAuthState:
    """Device codes, access tokens and refresh tokens of one emulator."""

    def __init__(self, config: EmulatorConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.clock = clock  # tests may swap in a fake clock to move time forward
        self.stats = OAuthStats()
        self._lock = threading.RLock()
        self._devices: dict[str, DeviceCode] = {}  # by device_code
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}

    # -- device codes -------------------------------------------------------------------

    def new_device_code(self) -> DeviceCode:
        now = self.clock()
        with self._lock:
            user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
            device = DeviceCode(
                device_code=secrets.token_urlsafe(32),
                user_code=f"{user_code[:4]}-{user_code[4:]}",
                issued_at=now,
                expires_at=now + self.config.device_code_ttl,
                interval=self.config.poll_interval,
                approve_after_polls=self.config.approve_after_polls,
            )
            self._devices[device.device_code] = device
            self.stats.device_codes_issued += 1
            return device

    def _select(self, user_code: str | None) -> list[DeviceCode]:
        wanted = None if user_code is None else user_code.strip().upper()
        return [
            d
            for d in self._devices.values()
            if d.state == "pending" and (wanted is None or d.user_code == wanted)
        ]

    def approve(self, user_code: str | None = None) -> list[str]:
        """Approve one pending device code (or all of them); returns the user codes approved."""
        with self._lock:
            chosen = self._select(user_code)
            for d in chosen:
                d.state = "approved"
            return [d.user_code for d in chosen]

    def deny(self, user_code: str | None = None) -> list[str]:
        with self._lock:
            chosen = self._select(user_code)
            for d in chosen:
                d.state = "denied"
            return [d.user_code for d in chosen]

    def device_codes(self) -> list[DeviceCode]:
        with self._lock:
            return list(self._devices.values())

    def poll(self, device_code: str) -> TokenPair:
        """One token poll; raises ``OAuthError`` for every answer but success."""
        now = self.clock()
        with self._lock:
            self.stats.polls += 1
            try:
                result = self._poll(device_code, now)
            except OAuthError as exc:
                self.stats.history.append(exc.error)
                raise
            self.stats.history.append("token")
            return result

    def _poll(self, device_code: str, now: float) -> TokenPair:
        device = self._devices.get(device_code)
        if device is None or device.state == "used":
            raise OAuthError("invalid_grant", "The device code is unknown or was already used.")
        if now >= device.expires_at:
            raise OAuthError("expired_token", "The device code has expired; start a new login.")
        too_fast = (
            device.last_poll_at is not None
            and now - device.last_poll_at < device.interval - _SLOW_DOWN_SLACK
        )
        device.last_poll_at = now
        if too_fast:
            self.stats.slow_downs += 1
            raise OAuthError(
                "slow_down", f"Polling too fast; wait {device.interval} s between polls."
            )
        if device.state == "denied":
            raise OAuthError("access_denied", "The user denied the authorization request.")
        after = device.approve_after_polls
        if device.state == "pending" and after is not None and device.polls >= after:
            device.state = "approved"
        if device.state == "pending":
            device.polls += 1
            raise OAuthError(
                "authorization_pending", "Waiting for the user to approve this device."
            )
        device.state = "used"
        return self._issue(self.config.token_ttl)

    # -- tokens -------------------------------------------------------------------------

    def _issue(self, ttl: float) -> TokenPair:
        now = self.clock()
        pair = TokenPair(
            access_token="kat_" + secrets.token_urlsafe(32),
            refresh_token="krt_" + secrets.token_urlsafe(32),
            expires_in=ttl,
        )
        refresh_ttl = self.config.refresh_token_ttl
        self._access[pair.access_token] = AccessToken(
            pair.access_token, now + ttl, pair.refresh_token
        )
        self._refresh[pair.refresh_token] = _RefreshToken(
            pair.refresh_token, None if refresh_ttl is None else now + refresh_ttl
        )
        self.stats.tokens_issued += 1
        return pair

    def issue(self, ttl: float | None = None) -> TokenPair:
        """A fresh token pair, as if a login had just completed."""
        with self._lock:
            return self._issue(self.config.token_ttl if ttl is None else ttl)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token; the old one is spent at once (rotation)."""
        now = self.clock()
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None:
                self.stats.refresh_unknown_count += 1
                raise OAuthError("invalid_grant", "The refresh token is invalid.")
            if record.spent:
                # The number tests read: a client spent a rotated refresh token twice.
                self.stats.refresh_reuse_count += 1
                raise OAuthError("invalid_grant", "The refresh token has already been used.")
            if record.expires_at is not None and now >= record.expires_at:
                raise OAuthError("invalid_grant", "The refresh token has expired.")
            record.spent = True
            self.stats.refresh_count += 1
            return self._issue(self.config.token_ttl)

    def check_access(self, token: str) -> str:
        """``"ok"``, ``"expired"`` or ``"unknown"`` for a bearer token."""
        with self._lock:
            record = self._access.get(token)
            if record is None:
                return "unknown"
            return "ok" if self.clock() < record.expires_at else "expired"

    def expire_all(self) -> None:
        """Make every access token issued so far expire now."""
        now = self.clock()
        with self._lock:
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)


def oauth_routes(state: OAuthState) -> list[web.RouteDef]:
    async def device_authorization(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != CLIENT_ID:
            return OAuthError("invalid_client", "Unknown client_id.", 401).response()
        device = state.new_device_code()
        host = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "device_code": device.device_code,
                "user_code": device.user_code,
                "verification_uri": f"{host}/device",
                "verification_uri_complete": f"{host}/device?user_code={device.user_code}",
                "expires_in": int(state.config.device_code_ttl),
                "interval": device.interval,
            }
        )

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != CLIENT_ID:
            return OAuthError("invalid_client", "Unknown client_id.", 401).response()
        grant = form.get("grant_type")
        try:
            if grant == DEVICE_GRANT:
                code = form.get("device_code")
                if not isinstance(code, str) or not code:
                    raise OAuthError("invalid_request", "device_code is required.")
                pair = state.poll(code)
            elif grant == "refresh_token":
                refresh = form.get("refresh_token")
                if not isinstance(refresh, str) or not refresh:
                    raise OAuthError("invalid_request", "refresh_token is required.")
                pair = state.refresh(refresh)
            else:
                raise OAuthError(
                    "unsupported_grant_type", f"grant_type {grant!r} is not supported."
                )
        except OAuthError as exc:
            return exc.response()
        return web.json_response(pair.to_wire())

    async def device_page(request: web.Request) -> web.Response:
        # A tiny page so a person trying the emulator can approve a login in a browser.
        code = request.query.get("user_code", "")
        if request.method == "POST":
            form = await request.post()
            code = str(form.get("user_code", ""))
            approved = (state.deny if form.get("action") == "deny" else state.approve)(code)
            verdict = "done" if approved else "no pending login with that code"
            return web.Response(text=f"{code}: {verdict}\n", content_type="text/plain")
        html = (
            "<!doctype html><title>Kimi emulator login</title>"
            "<form method=post><p>Emulated Kimi device login.</p>"
            f"<input name=user_code value='{_html_attr(code)}'>"
            "<button name=action value=approve>Approve</button>"
            "<button name=action value=deny>Deny</button></form>"
        )
        return web.Response(text=html, content_type="text/html")

    return [
        web.post("/api/oauth/device_authorization", device_authorization),
        web.post("/api/oauth/token", token),
        web.get("/device", device_page),
        web.post("/device", device_page),
    ]


def _html_attr(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum() or ch == "-")
