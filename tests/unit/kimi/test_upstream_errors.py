"""Classifying Kimi's error answers and aiohttp's exceptions into kimibridge's error tree."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict

from kimibridge.errors import (
    AccessTerminated,
    AuthError,
    QuotaExceeded,
    RateLimited,
    UpstreamConnectError,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.kimi.upstream import Timeouts, _backoff, _retryable
from kimibridge.kimi.upstream_errors import from_client_error, from_status, parse_error_body


def openai_error(etype: str, message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": etype}}).encode()


def anthropic_error(etype: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": etype, "message": message}}).encode()


def classify(status: int, body: bytes, **headers: str) -> UpstreamStatusError:
    return from_status(
        status,
        body,
        CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}),
        route="/chat/completions",
        preset="harness",
        secret="sk-secret-token",
    )


def test_parse_both_dialects_and_oauth_style_and_text() -> None:
    assert parse_error_body(openai_error("t", "m")) == ("t", "m")
    assert parse_error_body(anthropic_error("t", "m")) == ("t", "m")
    assert parse_error_body(b'{"error": "invalid_grant", "error_description": "d"}') == (
        "invalid_grant",
        "d",
    )
    assert parse_error_body(b"Bad Gateway") == (None, "Bad Gateway")
    assert parse_error_body(b"") == (None, None)
    assert parse_error_body(b"[1]") == (None, None)


@pytest.mark.parametrize("body_of", [openai_error, anthropic_error])
def test_access_terminated_is_one_actionable_line(body_of: object) -> None:
    body = body_of("access_terminated_error", "Kimi For Coding is only for\nCoding Agents")  # type: ignore[operator]
    error = classify(403, body, x_request_id="req-1")
    assert isinstance(error, AccessTerminated) and isinstance(error, AuthError)
    assert error.status == 403 and error.request_id == "req-1"
    message = str(error)
    assert "\n" not in message
    assert "'harness' is not admitted" in message and "suspended" in message
    assert "kimibridge status" in message and "request id req-1" in message


def test_a_plain_403_is_a_status_error() -> None:
    error = classify(403, openai_error("permission_denied_error", "no"))
    assert type(error) is UpstreamStatusError and error.status == 403


@pytest.mark.parametrize(
    "body",
    [
        openai_error("exceeded_current_quota_error", "quota"),
        openai_error(
            "rate_limit_reached_error",
            "You've reached your usage limit for this billing cycle; it resets soon.",
        ),
    ],
)
def test_quota_exhaustion(body: bytes) -> None:
    error = classify(429, body)
    assert isinstance(error, QuotaExceeded) and error.status == 429
    assert not _retryable(error)


def test_rate_limit_and_server_errors() -> None:
    limited = classify(429, openai_error("rate_limit_reached_error", "slow down"))
    assert isinstance(limited, RateLimited) and not isinstance(limited, QuotaExceeded)
    server = classify(503, openai_error("engine_overloaded_error", "busy"), x_trace_id="tr-9")
    assert type(server) is UpstreamStatusError
    assert (server.status, server.error_type, server.request_id) == (
        503,
        "engine_overloaded_error",
        "tr-9",
    )
    assert str(server) == (
        "Kimi answered /chat/completions with 503 engine_overloaded_error: busy (request id tr-9)"
    )
    bare = classify(502, b"")
    assert str(bare) == "Kimi answered /chat/completions with 502: no error message"


def test_secrets_are_redacted_and_long_messages_cut() -> None:
    error = classify(400, openai_error("invalid_request_error", "bad key sk-secret-token " * 50))
    assert "sk-secret-token" not in str(error)
    assert len(str(error)) < 400


def test_retry_rules() -> None:
    assert _retryable(classify(429, openai_error("rate_limit_reached_error", "slow")))
    assert _retryable(classify(503, b""))
    assert not _retryable(classify(429, openai_error("exceeded_current_quota_error", "q")))
    assert not _retryable(classify(403, openai_error("access_terminated_error", "x")))
    assert not _retryable(classify(400, openai_error("invalid_request_error", "x")))
    assert _backoff(1, None) == 0.5 and _backoff(2, None) == 1.0 and _backoff(10, None) == 8.0
    assert _backoff(1, "3") == 3.0 and _backoff(1, "999") == 10.0 and _backoff(1, "soon") == 0.5


def _key() -> ConnectionKey:
    return ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), UpstreamTimeout),
        (aiohttp.SocketTimeoutError("read"), UpstreamTimeout),
        (aiohttp.ConnectionTimeoutError("connect"), UpstreamTimeout),
        (
            aiohttp.ClientConnectorError(_key(), ConnectionRefusedError(111, "Connection refused")),
            UpstreamConnectError,
        ),
        (aiohttp.ServerDisconnectedError(), UpstreamConnectError),
        (aiohttp.ClientPayloadError("cut"), UpstreamConnectError),
        (aiohttp.ClientOSError(104, "reset"), UpstreamConnectError),
        (aiohttp.InvalidURL("nope"), UpstreamConnectError),
        (aiohttp.ClientError("other"), UpstreamError),
    ],
)
def test_client_errors_map_to_the_most_specific_type(
    exc: BaseException, kind: type[UpstreamError]
) -> None:
    error = from_client_error(exc, route="/models", host="127.0.0.1")
    assert type(error) is kind
    assert "/models" in str(error)


def test_connector_error_names_the_reason() -> None:
    exc = aiohttp.ClientConnectorError(_key(), ConnectionRefusedError(111, "Connection refused"))
    error = from_client_error(exc, route="/models", host="127.0.0.1")
    assert str(error) == "cannot connect to 127.0.0.1 for /models: Connection refused"


def test_timeouts_object() -> None:
    client = Timeouts(connect=1.0, read=2.0, total=3.0).client_timeout()
    assert (client.sock_connect, client.sock_read, client.total) == (1.0, 2.0, 3.0)
