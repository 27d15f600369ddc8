"""The OAuth client and the device flow against a scripted transport (kimi.auth)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kimibridge.kimi.auth import (
    CodeExpired,
    DeviceFlowEvent,
    LoginDenied,
    LoginSucceeded,
    LoginTimedOut,
    OAuthClient,
    OAuthReply,
    OAuthServerError,
    RefreshRejected,
    VerificationCode,
    Waiting,
    device_login,
    token_from_response,
)
from kimibridge.kimi.endpoints import CLIENT_ID, resolve_endpoints

TOKENS = {
    "access_token": "AT1",
    "refresh_token": "RT1",
    "expires_in": 900,
    "scope": "s",
    "token_type": "Bearer",
}


def code(n: int = 1, interval: int = 5) -> OAuthReply:
    return OAuthReply(
        200,
        {
            "device_code": f"dc{n}",
            "user_code": f"UC-{n}",
            "verification_uri": "https://x/device",
            "verification_uri_complete": f"https://x/device?user_code=UC-{n}",
            "expires_in": 1800,
            "interval": interval,
        },
    )


def err(error: str, status: int = 400) -> OAuthReply:
    return OAuthReply(status, {"error": error, "error_description": f"{error} text"})


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """Answers in order; records (url, form, headers)."""

    def __init__(self, *replies: OAuthReply | Exception) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> OAuthReply:
        self.calls.append((url, dict(form), dict(headers)))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def client(transport: Scripted, t: FakeTime, **kw: Any) -> OAuthClient:
    return OAuthClient(
        resolve_endpoints(environ={}), transport=transport, sleep=t.sleep, clock=t.clock, **kw
    )


async def run(c: OAuthClient, **kw: Any) -> list[DeviceFlowEvent]:
    return [event async for event in device_login(c, **kw)]


async def test_happy_path_with_pending_then_success() -> None:
    t = FakeTime()
    tr = Scripted(code(interval=2), err("authorization_pending"), OAuthReply(200, TOKENS))
    events = await run(client(tr, t))
    assert isinstance(events[0], VerificationCode) and events[0].user_code == "UC-1"
    assert events[0].verification_uri_complete.endswith("UC-1") and not events[0].restarted
    assert isinstance(events[1], Waiting) and events[1].interval == 2
    assert isinstance(events[-1], LoginSucceeded)
    assert events[-1].token.access_token == "AT1" and events[-1].token.expires_at == t.now + 900
    assert t.sleeps == [2]
    url, form, headers = tr.calls[0]
    assert url == "https://auth.kimi.com/api/oauth/device_authorization"
    assert form == {"client_id": CLIENT_ID}
    assert tr.calls[1][1] == {
        "client_id": CLIENT_ID,
        "device_code": "dc1",
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
    }
    # No kimi-cli identity unless the caller passes one.
    assert headers["User-Agent"].startswith("kimibridge/")
    assert not any(h.lower().startswith("x-msh-") for h in headers)


async def test_caller_headers_are_sent_on_oauth_calls() -> None:
    t = FakeTime()
    tr = Scripted(code(), OAuthReply(200, TOKENS))
    await run(client(tr, t, headers={"User-Agent": "KimiCLI/1.52.0", "X-Msh-Platform": "kimi_cli"}))
    assert tr.calls[0][2]["User-Agent"] == "KimiCLI/1.52.0"
    assert tr.calls[1][2]["X-Msh-Platform"] == "kimi_cli"


async def test_slow_down_adds_five_seconds_for_good() -> None:
    t = FakeTime()
    tr = Scripted(
        code(interval=1),
        err("slow_down"),
        err("authorization_pending"),
        err("slow_down"),
        err("authorization_pending", status=200),  # pending may come with HTTP 200
        OAuthReply(200, TOKENS),
    )
    events = await run(client(tr, t))
    assert t.sleeps == [6, 6, 11, 11]
    waits = [e for e in events if isinstance(e, Waiting)]
    assert [w.slowed_down for w in waits] == [True, False, True, False]
    assert isinstance(events[-1], LoginSucceeded)


async def test_expired_token_restarts_with_a_new_code() -> None:
    t = FakeTime()
    tr = Scripted(
        code(1),
        err("authorization_pending"),
        err("expired_token"),
        code(2),
        OAuthReply(200, TOKENS),
    )
    events = await run(client(tr, t))
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "VerificationCode",
        "Waiting",
        "CodeExpired",
        "VerificationCode",
        "LoginSucceeded",
    ]
    second = events[3]
    assert isinstance(second, VerificationCode) and second.restarted and second.user_code == "UC-2"
    assert isinstance(events[2], CodeExpired)
    assert tr.calls[-1][1]["device_code"] == "dc2"


async def test_access_denied_is_a_clean_typed_error() -> None:
    t = FakeTime()
    tr = Scripted(code(), err("authorization_pending"), err("access_denied", status=403))
    with pytest.raises(LoginDenied, match="denied") as info:
        await run(client(tr, t))
    assert "\n" not in str(info.value)


async def test_overall_time_limit_counts_restarts() -> None:
    t = FakeTime()
    tr = Scripted(code(interval=5), *[err("authorization_pending")] * 100)
    with pytest.raises(LoginTimedOut, match="within 1 minute;"):
        await run(client(tr, t), time_limit=60)
    assert t.now - 1000 <= 61
    assert sum(t.sleeps) <= 60


async def test_server_errors_stop_after_retries() -> None:
    t = FakeTime()
    tr = Scripted(
        code(), err("server_error", 503), OAuthServerError("network down"), OAuthReply(502, {})
    )
    with pytest.raises(OAuthServerError, match="502"):
        await run(client(tr, t))


async def test_one_server_error_is_survived() -> None:
    t = FakeTime()
    tr = Scripted(code(), OAuthReply(500, {}), OAuthReply(200, TOKENS))
    events = await run(client(tr, t))
    assert isinstance(events[-1], LoginSucceeded)


async def test_unknown_error_stops() -> None:
    t = FakeTime()
    tr = Scripted(code(), err("invalid_client", 401))
    with pytest.raises(OAuthServerError, match="invalid_client"):
        await run(client(tr, t))


async def test_device_authorization_is_retried_then_fails_clearly() -> None:
    t = FakeTime()
    tr = Scripted(OAuthReply(503, {}), OAuthReply(503, {}), OAuthReply(503, {}))
    with pytest.raises(OAuthServerError, match="after 3 attempts"):
        await run(client(tr, t))
    assert t.sleeps == [1, 2]


async def test_device_authorization_without_code_is_an_error() -> None:
    t = FakeTime()
    tr = Scripted(OAuthReply(200, {"device_code": "d"}))
    with pytest.raises(OAuthServerError, match="code to show"):
        await run(client(tr, t))


async def test_refresh_posts_kimi_cli_form_and_rotates() -> None:
    t = FakeTime()
    tr = Scripted(OAuthReply(200, {**TOKENS, "access_token": "AT2", "refresh_token": "RT2"}))
    record = await client(tr, t).refresh("RT1")
    assert (record.access_token, record.refresh_token) == ("AT2", "RT2")
    assert tr.calls[0][0] == "https://auth.kimi.com/api/oauth/token"
    assert list(tr.calls[0][1].items()) == [
        ("client_id", CLIENT_ID),
        ("grant_type", "refresh_token"),
        ("refresh_token", "RT1"),
    ]


async def test_refresh_keeps_the_refresh_token_when_none_is_returned() -> None:
    t = FakeTime()
    body = {"access_token": "AT2", "expires_in": 60}
    record = await client(Scripted(OAuthReply(200, body)), t).refresh("RT1")
    assert record.refresh_token == "RT1" and record.token_type == "Bearer"


async def test_refresh_retries_429_5xx_and_network_with_1_then_2_seconds() -> None:
    t = FakeTime()
    tr = Scripted(OAuthReply(429, {}), OAuthServerError("net"), OAuthReply(200, TOKENS))
    record = await client(tr, t).refresh("RT0")
    assert record.access_token == "AT1" and t.sleeps == [1, 2]
    t2 = FakeTime()
    tr2 = Scripted(OAuthReply(500, {}), OAuthReply(502, {}), OAuthReply(504, {}))
    with pytest.raises(OAuthServerError):
        await client(tr2, t2).refresh("RT0")
    assert len(tr2.calls) == 3


@pytest.mark.parametrize("reply", [OAuthReply(401, {}), OAuthReply(403, {}), err("invalid_grant")])
async def test_refresh_rejections_are_not_retried(reply: OAuthReply) -> None:
    t = FakeTime()
    tr = Scripted(reply)
    with pytest.raises(RefreshRejected):
        await client(tr, t).refresh("RT-secret-value")
    assert len(tr.calls) == 1


async def test_refresh_other_statuses_are_hard_errors() -> None:
    t = FakeTime()
    with pytest.raises(OAuthServerError, match="HTTP 400"):
        await client(Scripted(err("invalid_request")), t).refresh("RT")


def test_token_from_response_validates() -> None:
    with pytest.raises(OAuthServerError):
        token_from_response({"access_token": "a", "refresh_token": "r"}, 0)
    with pytest.raises(OAuthServerError):
        token_from_response({"access_token": "", "refresh_token": "r", "expires_in": 5}, 0)
    rec = token_from_response({**TOKENS, "expires_in": "900"}, 10)
    assert rec.expires_at == 910 and rec.scope == "s"


async def test_interval_zero_is_honoured_but_never_below_the_minimum() -> None:
    t = FakeTime()
    tr = Scripted(code(interval=0), err("authorization_pending"), OAuthReply(200, TOKENS))
    await run(client(tr, t))
    assert t.sleeps == [1.0]
    t2 = FakeTime()
    tr2 = Scripted(code(interval=0), err("authorization_pending"), OAuthReply(200, TOKENS))
    await run(client(tr2, t2), min_interval=0.0)
    assert t2.sleeps == [0.0]
