"""Turning what went wrong upstream into kimibridge's error tree (``kimibridge.errors``).

The only place aiohttp exceptions are converted (``from_client_error``), as httpx converts
httpcore's in one function; everything above ``kimi.upstream`` catches ``UpstreamError`` and
its subclasses, never ``aiohttp.*``. Status answers are classified by ``from_status``:

- 403 ``access_terminated_error``  -> ``AccessTerminated`` (never retried)
- 429 ``exceeded_current_quota_error`` (or Kimi's billing-cycle wording) -> ``QuotaExceeded``
- other 429                         -> ``RateLimited``
- anything else                     -> ``UpstreamStatusError`` with Kimi's type and message

Messages are one line, carry the request id when Kimi sent one, and never a token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Final

import aiohttp

from kimibridge.errors import (
    AccessTerminated,
    QuotaExceeded,
    RateLimited,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)

__all__ = ["RETRYABLE_STATUSES", "from_client_error", "from_status", "parse_error_body"]

# Statuses a caller may retry later (used only when retries are switched on).
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504, 529})

_QUOTA_TYPE: Final = "exceeded_current_quota_error"
_QUOTA_WORDING: Final = ("billing cycle", "quota will be refreshed", "exceeded your current quota")
_MAX_MESSAGE: Final = 300


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """``(type, message)`` from an OpenAI-style or Anthropic-style error body; Nones if neither."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip()
        return None, text or None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        etype, message = error.get("type"), error.get("message")
        return (
            etype if isinstance(etype, str) else None,
            message if isinstance(message, str) else None,
        )
    if isinstance(error, str):  # {"error": "...", "error_description": "..."}
        description = data.get("error_description") or data.get("message")
        return error, description if isinstance(description, str) else None
    return None, None


def _one_line(text: str, secret: str | None, limit: int = _MAX_MESSAGE) -> str:
    if secret:
        text = text.replace(secret, "<redacted>")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "x-trace-id", "x-msh-request-id", "x-msh-trace-id", "request-id"):
        value = headers.get(name)
        if value:
            return value
    return None


def from_status(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    route: str,
    preset: str,
    secret: str | None = None,
) -> UpstreamStatusError:
    """The typed error for a non-2xx answer (``headers`` must look names up case-insensitively)."""
    error_type, upstream_message = parse_error_body(body)
    request_id = _request_id(headers)
    said = _one_line(upstream_message or "", secret)
    suffix = f" (request id {request_id})" if request_id else ""
    if status == 403 and error_type == "access_terminated_error":
        kimi_said = f' Kimi said: "{_one_line(said, None, 160)}"' if said else ""
        return AccessTerminated(
            f"Kimi refused {route} with 403 access_terminated_error: the identity preset "
            f"{preset!r} is not admitted, or the account is suspended; check `kimibridge status` "
            f"and your account in the Kimi Code console before trying again.{kimi_said}{suffix}",
            request_id=request_id,
        )
    label = f"{status} {error_type}" if error_type else str(status)
    message = f"Kimi answered {route} with {label}: {said or 'no error message'}{suffix}"
    if status == 429:
        lowered = said.lower()
        if error_type == _QUOTA_TYPE or any(w in lowered for w in _QUOTA_WORDING):
            return QuotaExceeded(
                f"{message}; the plan's quota is used up until it resets (see `kimibridge status`)",
                status=status,
                error_type=error_type,
                request_id=request_id,
            )
        return RateLimited(message, status=status, error_type=error_type, request_id=request_id)
    return UpstreamStatusError(message, status=status, error_type=error_type, request_id=request_id)


def from_client_error(exc: BaseException, *, route: str, host: str) -> UpstreamError:
    """The typed error for an aiohttp (or asyncio timeout) exception; most specific first."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(f"timed out connecting to {host} for {route}")
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return UpstreamTimeout(f"Kimi did not answer {route} in time ({host})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return UpstreamConnectError(f"cannot connect to {host} for {route}: {reason}")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return UpstreamConnectError(f"the connection to {host} closed during {route}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return UpstreamConnectError(f"connection to {host} failed during {route}: {exc}")
    if isinstance(exc, aiohttp.InvalidURL):
        return UpstreamConnectError(f"invalid Kimi URL for {route}: {exc}")
    return UpstreamError(f"HTTP error talking to {host} for {route}: {type(exc).__name__}")
