"""One mapping from errors to what each dialect's client sees."""

from __future__ import annotations

import json

import pytest

from kimibridge.errors import (
    AccessTerminated,
    KimibridgeError,
    NeedsLogin,
    QuotaExceeded,
    RateLimited,
    TranslationError,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.gateway.errors import classify, render


@pytest.mark.parametrize(
    ("exc", "status", "a_type", "o_type"),
    [
        (TranslationError("bad"), 400, "invalid_request_error", None),
        (TranslationError("big", status_hint=413), 413, "request_too_large", None),
        (AccessTerminated("no"), 403, "permission_error", "access_terminated_error"),
        (QuotaExceeded("q", status=429), 429, "rate_limit_error", "insufficient_quota"),
        (RateLimited("r", status=429), 429, "rate_limit_error", "rate_limit_error"),
        (
            UpstreamStatusError("x", status=400, error_type="invalid_request_error"),
            400,
            "invalid_request_error",
            "invalid_request_error",
        ),
        (UpstreamStatusError("x", status=401), 401, "authentication_error", None),
        (UpstreamStatusError("x", status=500), 500, "api_error", "server_error"),
        (UpstreamStatusError("x", status=503), 503, "overloaded_error", "server_error"),
        (UpstreamStatusError("x", status=200), 502, "api_error", "server_error"),
        (NeedsLogin(), 401, "authentication_error", "authentication_error"),
        (UpstreamTimeout("t"), 504, "api_error", "timeout"),
        (UpstreamConnectError("c"), 502, "api_error", "server_error"),
        (KimibridgeError("k"), 500, "api_error", None),
    ],
)
def test_classify(exc: BaseException, status: int, a_type: str, o_type: str | None) -> None:
    info = classify(exc)
    assert info.status == status
    assert info.anthropic_type == a_type
    if o_type is not None:
        assert info.openai_type == o_type
    s, body = render(exc, "anthropic")
    assert s == status and json.loads(body)["error"]["type"] == a_type
    s, body = render(exc, "openai")
    assert s == status and set(json.loads(body)) == {"error"}
    assert json.loads(body)["error"]["type"] == (
        o_type or info.openai_type or json.loads(body)["error"]["type"]
    )


def test_unexpected_errors_hide_their_details() -> None:
    status, body = render(RuntimeError("secret internals sk-abc"), "openai")
    assert status == 500
    assert b"sk-abc" not in body and b"Traceback" not in body
