"""The platform half: OAuth, auth and agent gating, recording, faults, latency, non-model routes.

The middleware here runs for every request and keeps the contract in ``app.py``: on model
routes it has authenticated, recorded and applied latency and status faults before the model
half's handler runs, and leaves ``request[FAULT_KEY]`` / ``request[DIALECT_KEY]`` for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kimibridge.emulator import errors
from kimibridge.emulator.app import DIALECT_KEY, FAULT_KEY, EmulatorConfig
from kimibridge.emulator.auth import Gatekeeper, credential_from
from kimibridge.emulator.faults import STATUS_FAULTS, Fault, FaultKind
from kimibridge.emulator.oauth import OAuthState, oauth_routes
from kimibridge.emulator.platform_routes import FileStore, UsageMeter, platform_routes
from kimibridge.emulator.recorder import RecordedRequest, Recorder

if TYPE_CHECKING:
    from kimibridge.emulator.app import Emulator

__all__ = [
    "CONTROL_PREFIX",
    "MODEL_ROUTES",
    "RECORD_KEY",
    "FaultQueue",
    "PlatformState",
    "dialect_for",
    "middlewares",
    "register",
]

API_PREFIX = "/coding/v1/"
OAUTH_PREFIX = "/api/oauth/"
CONTROL_PREFIX = "/_emulator/"
MODEL_ROUTES = (
    "/coding/v1/chat/completions",
    "/coding/v1/messages",
    "/coding/v1/messages/count_tokens",
)
RECORD_KEY = web.RequestKey("kimibridge.recorded", RecordedRequest)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dialect_for(path: str) -> errors.Dialect:
    return "anthropic" if path.startswith("/coding/v1/messages") else "openai"


class FaultQueue:
    """Faults queued by tests or the control API, each taken by the first request it matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def push(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, path: str) -> Fault | None:
        """The first queued fault for ``path``: no route means any model route."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.route is None:
                    matches = path in MODEL_ROUTES
                else:
                    matches = path.endswith(fault.route)
                if matches:
                    return self._faults.pop(i)
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class PlatformState:
    """Everything mutable on the platform side of one emulator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.oauth = OAuthState(config)
        self.gate = Gatekeeper(config, self.oauth)
        self.recorder = Recorder()
        self.faults = FaultQueue()
        self.files = FileStore()
        self.usage = UsageMeter()
        self.rejected = {"401": 0, "403": 0}

    # Conveniences the handle and the control routes share.

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of access tokens issued from now on."""
        self.config.token_ttl = float(seconds)

    def set_latency(self, milliseconds: float) -> None:
        self.config.latency_ms = float(milliseconds)

    def inject(self, kind: FaultKind | str, route: str | None = None, **kw: Any) -> Fault:
        fault = Fault(FaultKind(kind), route, **kw)
        self.faults.push(fault)
        return fault

    def stats(self) -> dict[str, Any]:
        s = self.oauth.stats
        return {
            "requests": len(self.recorder),
            "device_codes_issued": s.device_codes_issued,
            "polls": s.polls,
            "slow_downs": s.slow_downs,
            "tokens_issued": s.tokens_issued,
            "refresh_count": s.refresh_count,
            "refresh_reuse_count": s.refresh_reuse_count,
            "refresh_unknown_count": s.refresh_unknown_count,
            "rejected_401": self.rejected["401"],
            "rejected_403": self.rejected["403"],
            "model_requests": self.usage.used,
            "files": len(self.files.all()),
            "faults_pending": len(self.faults.pending()),
            "token_ttl": self.config.token_ttl,
            "latency_ms": self.config.latency_ms,
        }


def _loopback(request: web.Request) -> bool:
    return request.remote in {"127.0.0.1", "::1", "localhost"} or (request.remote or "").startswith(
        "127."
    )


def _oauth_fault_response(kind: FaultKind) -> web.Response:
    reference = errors.fault_response(kind)
    return web.json_response(
        {
            "error": "server_error" if reference.status >= 500 else kind.value,
            "error_description": f"Injected fault: {kind.value}.",
        },
        status=reference.status,
    )


def middlewares(emulator: Emulator) -> list[Any]:
    state = emulator.platform

    @web.middleware
    async def platform_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            if not _loopback(request):
                return web.json_response({"error": "control API is loopback-only"}, status=403)
            return await handler(request)

        record = state.recorder.record(
            request.method, path, request.query.items(), request.headers, await request.read()
        )
        request[RECORD_KEY] = record
        try:
            response = await _admit_and_handle(state, request, record, handler)
        except web.HTTPException as exc:
            record.status = exc.status
            record.answered_at = time.monotonic()
            if path.startswith(API_PREFIX) and exc.status in (404, 405):
                # Kimi-style JSON rather than aiohttp's plain-text "404: Not Found".
                kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
                message = f"{request.method} {path} is not a route of this API."
                return errors.error_response(exc.status, kind, message, dialect_for(path))
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            record.extra["disconnected"] = True  # the client went away mid-answer
            record.answered_at = time.monotonic()
            raise
        except BaseException:
            record.status = 500
            record.answered_at = time.monotonic()
            raise
        record.status = response.status
        record.answered_at = time.monotonic()
        return response

    return [platform_middleware]


async def _admit_and_handle(
    state: PlatformState, request: web.Request, record: RecordedRequest, handler: Handler
) -> web.StreamResponse:
    path = request.path
    dialect = dialect_for(path)
    if state.config.latency_ms > 0:
        await asyncio.sleep(state.config.latency_ms / 1000)

    if path.startswith(API_PREFIX):
        credential = credential_from(
            request.headers.get("Authorization"), request.headers.get("x-api-key")
        )
        gate_ua = path not in state.config.ua_gate_exempt
        decision = state.gate.decide(credential, request.headers.get("User-Agent", ""), gate_ua)
        record.auth = decision.auth
        if decision.reason is not None:
            record.rejected = decision.reason
            state.rejected[str(decision.status)] += 1
            kind = FaultKind.UNAUTHORIZED if decision.status == 401 else FaultKind.ACCESS_TERMINATED
            return errors.fault_response(kind, dialect)

    fault = state.faults.take(path)
    if fault is not None:
        record.fault = fault.kind.value
        if fault.kind in STATUS_FAULTS:
            if path.startswith(OAUTH_PREFIX):
                return _oauth_fault_response(fault.kind)
            return errors.fault_response(fault.kind, dialect)
        if fault.kind is FaultKind.SLOW_FIRST_BYTE:
            await asyncio.sleep(fault.delay_s)
            fault = None

    if path in MODEL_ROUTES:
        state.usage.used += 1
    request[FAULT_KEY] = fault
    request[DIALECT_KEY] = dialect
    record.handler_started_at = time.monotonic()
    return await handler(request)


async def _note_status(request: web.Request, response: web.StreamResponse) -> None:
    # Set before the first byte leaves, so a client that has read a whole stream never finds
    # its request still without a status.
    record = request.get(RECORD_KEY)
    if record is not None:
        record.status = response.status


def register(app: web.Application, emulator: Emulator) -> None:
    from kimibridge.emulator.control import control_routes

    state = emulator.platform
    app.on_response_prepare.append(_note_status)
    app.add_routes(oauth_routes(state.oauth))
    app.add_routes(platform_routes(state.files, state.usage))
    app.add_routes(control_routes(emulator))
