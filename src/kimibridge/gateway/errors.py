"""Every failure, rendered once, in the client's dialect: ``(status, body)``.

=================================  ======  ===========================  ============================
error                              status  Anthropic ``error.type``     OpenAI ``error.type``
=================================  ======  ===========================  ============================
``TranslationError`` (bad input)   hint    invalid_request_error        invalid_request_error
``AccessTerminated`` (403)         403     permission_error             access_terminated_error
``QuotaExceeded``                  429     rate_limit_error             insufficient_quota
``RateLimited``                    429     rate_limit_error             rate_limit_error
``UpstreamStatusError`` 4xx        same    by status                    Kimi's type, else by status
``UpstreamStatusError`` 5xx        same    api_error / overloaded_error server_error
``AuthError`` (login needed)       401     authentication_error         authentication_error
``UpstreamTimeout``                504     api_error                    timeout
``UpstreamConnectError``           502     api_error                    server_error
anything else                      500     api_error                    server_error
=================================  ======  ===========================  ============================

Messages are the error's own one line (the CLI prints the same text); never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

from kimibridge.errors import (
    AccessTerminated,
    AuthError,
    KimibridgeError,
    QuotaExceeded,
    RateLimited,
    TranslationError,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.gateway.types import Dialect
from kimibridge.protocol.anthropic import anthropic_error, anthropic_error_type
from kimibridge.protocol.openai import openai_error

__all__ = [
    "SHAPE_ERRORS",
    "ErrorInfo",
    "classify",
    "error_body",
    "error_event",
    "malformed",
    "render",
]

log = logging.getLogger("kimibridge.gateway")


class ErrorInfo:
    """What a client is told: status, message and the type name per dialect."""

    __slots__ = ("anthropic_type", "code", "message", "openai_type", "status")

    def __init__(
        self,
        status: int,
        message: str,
        *,
        anthropic_type: str | None = None,
        openai_type: str | None = None,
        code: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.anthropic_type = anthropic_type or anthropic_error_type(status)
        self.openai_type = openai_type
        self.code = code


def classify(exc: BaseException) -> ErrorInfo:
    """The one mapping from an exception to what the client sees."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, TranslationError):
        return ErrorInfo(exc.status_hint, message)
    if isinstance(exc, AccessTerminated):
        return ErrorInfo(
            403,
            message,
            anthropic_type="permission_error",
            openai_type="access_terminated_error",
            code="access_terminated_error",
        )
    if isinstance(exc, QuotaExceeded):
        return ErrorInfo(
            429,
            message,
            anthropic_type="rate_limit_error",
            openai_type="insufficient_quota",
            code="exceeded_current_quota_error",
        )
    if isinstance(exc, RateLimited):
        return ErrorInfo(
            429, message, anthropic_type="rate_limit_error", openai_type="rate_limit_error"
        )
    if isinstance(exc, UpstreamStatusError):
        status = exc.status if 400 <= exc.status <= 599 else 502
        if status == 401:  # the upstream refused us even after a refresh: a login problem
            return ErrorInfo(401, message, anthropic_type="authentication_error")
        kind = "overloaded_error" if status in (503, 529) else None
        openai_type = exc.error_type if status < 500 else "server_error"
        return ErrorInfo(status, message, anthropic_type=kind, openai_type=openai_type)
    if isinstance(exc, AuthError):
        return ErrorInfo(
            401, message, anthropic_type="authentication_error", openai_type="authentication_error"
        )
    if isinstance(exc, UpstreamTimeout):
        return ErrorInfo(504, message, anthropic_type="api_error", openai_type="timeout")
    if isinstance(exc, UpstreamConnectError):
        return ErrorInfo(502, message, anthropic_type="api_error", openai_type="server_error")
    if isinstance(exc, KimibridgeError):
        return ErrorInfo(500, message)
    log.error("unexpected error in the gateway", exc_info=exc)
    return ErrorInfo(500, "internal error in the kimibridge gateway (see its log)")


def error_body(info: ErrorInfo, dialect: Dialect) -> dict[str, Any]:
    if dialect == "anthropic":
        return anthropic_error(info.message, status=info.status, error_type=info.anthropic_type)
    return openai_error(
        info.message, status=info.status, error_type=info.openai_type, code=info.code
    )


def render(exc: BaseException, dialect: Dialect) -> tuple[int, bytes]:
    """``(status, JSON body)`` for an error answered before any response byte was sent."""
    info = classify(exc)
    return info.status, json.dumps(error_body(info, dialect), ensure_ascii=False).encode()


def error_event(exc: BaseException) -> tuple[str, str]:
    """``(message, type)`` for an error inside a stream that already started (Anthropic type)."""
    info = classify(exc)
    return info.message, info.anthropic_type


# What pure dict-walking code raises when a JSON value has a shape it did not expect.
SHAPE_ERRORS: tuple[type[Exception], ...] = (
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    ValueError,
)


@contextlib.contextmanager
def malformed(what: str, *, status: int = 400) -> Iterator[None]:
    """Around pure code that reads ``what`` (the client's request: 400; the upstream's answer:
    502): a value of an unexpected shape becomes a ``TranslationError`` with that status instead
    of a 500. Only the shaping and translation steps run inside, never I/O."""
    try:
        yield
    except TranslationError:
        raise
    except SHAPE_ERRORS as exc:
        log.info("malformed %s (%s: %s)", what, type(exc).__name__, exc, exc_info=True)
        raise TranslationError(
            f"malformed {what}: a field has an unexpected type or shape ({type(exc).__name__})",
            status_hint=status,
        ) from exc
