"""Error bodies exactly as Kimi sends them, in each dialect.

Kimi's OpenAI side answers ``{"error": {"message", "type"}}``; its Anthropic side answers
``{"type": "error", "error": {"type", "message"}}``. Texts are from reference/kimi-cli-wire.md
§5 and §9 (the 403 and 401 bodies are third-party captures there).
"""

from __future__ import annotations

import json
from typing import Literal

from aiohttp import web

from kimibridge.emulator.faults import FaultKind

__all__ = ["Dialect", "error_body", "error_response", "fault_response"]

Dialect = Literal["openai", "anthropic"]

ACCESS_TERMINATED_MESSAGE = (
    "Kimi For Coding is currently only available for Coding Agents such as Kimi CLI, "
    "Claude Code, Roo Code, Kilo Code, etc."
)
INVALID_KEY_MESSAGE = "The API Key appears to be invalid or may have expired. Please verify your credentials and try again."

# kind -> (status, error type, message)
_FAULTS: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.RATE_LIMIT: (
        429,
        "rate_limit_reached_error",
        "Your account has reached its rate limit; please try again later.",
    ),
    FaultKind.QUOTA: (
        429,
        "exceeded_current_quota_error",
        "You've reached your usage limit for this billing cycle; your quota will be refreshed in the next cycle.",
    ),
    FaultKind.SERVER_ERROR: (500, "server_error", "Internal server error."),
    FaultKind.BAD_GATEWAY: (502, "server_error", "Bad gateway."),
    FaultKind.UNAVAILABLE: (
        503,
        "engine_overloaded_error",
        "The engine is currently overloaded, please try again later.",
    ),
    FaultKind.UNAUTHORIZED: (401, "invalid_authentication_error", INVALID_KEY_MESSAGE),
    FaultKind.ACCESS_TERMINATED: (403, "access_terminated_error", ACCESS_TERMINATED_MESSAGE),
}


def error_body(error_type: str, message: str, dialect: Dialect) -> dict[str, object]:
    if dialect == "anthropic":
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {"error": {"message": message, "type": error_type}}


def error_response(
    status: int, error_type: str, message: str, dialect: Dialect = "openai"
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(error_body(error_type, message, dialect)),
        content_type="application/json",
    )


def fault_response(kind: FaultKind, dialect: Dialect = "openai") -> web.Response:
    """The status response for a status fault (see ``faults.STATUS_FAULTS``)."""
    status, error_type, message = _FAULTS[kind]
    return error_response(status, error_type, message, dialect)
