"""KimiUpstream against the real emulator on loopback: headers on the wire, 401 refresh, typed errors.

The token sources here are test doubles of the ``TokenSource`` protocol (a static key, and one
that hands out a freshly issued emulator token after a 401); the real sources are tested with
the credential store.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from kimibridge.emulator.faults import FaultKind
from kimibridge.errors import (
    AccessTerminated,
    NeedsLogin,
    QuotaExceeded,
    RateLimited,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.kimi.identity import Identity, PlatformFacts, RequestKind, build_identity
from kimibridge.kimi.tokens import Credential, TokenSource
from kimibridge.kimi.upstream import KimiUpstream, Timeouts
from kimibridge.kimi.versions import Versions
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

KEY = "sk-kimi-upstream-test"
CLAUDE_UA = "claude-cli/2.1.330 (external, sdk-cli)"
CALLER = {"user-agent": CLAUDE_UA, "x-api-key": "local-gateway-key"}
CHAT = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {
    "model": "kimi-for-coding",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
VERSIONS = Versions(kimi_cli="1.52.0", kimi_code="2.1.0", kimibridge="0.1.0")
FACTS = PlatformFacts(
    system="Linux", release="6.1.0", version="#1 SMP", machine="x86_64", node="testbox"
)
DEVICE = "0123456789abcdef0123456789abcdef"


class StaticKey:
    """An API key: a 401 cannot be fixed by refreshing."""

    def __init__(self, key: str) -> None:
        self.credential = Credential(key, "api_key", "mainland")
        self.unauthorized_calls = 0

    async def current(self) -> Credential:
        return self.credential

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        self.unauthorized_calls += 1
        raise NeedsLogin("the API key was rejected")


class Refreshing:
    """An OAuth login whose refresh hands out a token the emulator has just issued."""

    def __init__(self, kimi: EmulatorHandle, first: str) -> None:
        self.kimi = kimi
        self.credential = Credential(first, "oauth", "mainland", expires_at=0.0)
        self.rejected: list[str] = []

    async def current(self) -> Credential:
        return self.credential

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        self.rejected.append(rejected.token)
        self.credential = Credential(self.kimi.issue_tokens().access_token, "oauth", "mainland")
        return self.credential


if __debug__:  # the doubles satisfy the protocol the upstream client knows
    _a: TokenSource = StaticKey(KEY)


def harness() -> Identity:
    return build_identity("harness", versions=VERSIONS, environ={})


def kimi_cli() -> Identity:
    return build_identity("kimi-cli", versions=VERSIONS, facts=FACTS, device_id=DEVICE, environ={})


@pytest.fixture
def kimi(kimi_emulator: EmulatorHandle) -> EmulatorHandle:
    kimi_emulator.add_api_key(KEY)
    return kimi_emulator


def upstream(kimi: EmulatorHandle, identity: Identity | None = None, **kw: Any) -> KimiUpstream:
    return KimiUpstream(kimi.base_url, StaticKey(KEY), identity or harness(), **kw)


def msh_headers(headers: Any) -> list[str]:
    return [name for name in headers if name.lower().startswith("x-msh-")]


# --------------------------------------------------------------------------- identity on the wire


async def test_harness_preset_sends_the_callers_user_agent_and_no_kimi_identity(
    kimi: EmulatorHandle,
) -> None:
    async with upstream(kimi) as up:
        async with await up.chat_completions(
            {**CHAT, "stream": True}, stream=True, caller_headers=CALLER
        ) as stream:
            assert stream.status == 200
            body = b"".join([chunk async for chunk in stream])
        assert body.rstrip().endswith(b"data: [DONE]")
        reply = await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
        assert reply.json()["choices"][0]["message"]["content"]
        msg = await up.messages(MESSAGES, stream=False, caller_headers=CALLER)
        assert msg.json()["type"] == "message"
        assert (await up.models(caller_headers=CALLER)).json()["data"]
        assert (await up.search("kimi", caller_headers=CALLER)).json()["search_results"]
        assert "Emulated" in (await up.fetch("https://example.com", caller_headers=CALLER)).text()
        assert "usage" in (await up.usages(caller_headers=CALLER)).json()
    paths = [r.path for r in kimi.requests]
    assert paths == [
        "/coding/v1/chat/completions",
        "/coding/v1/chat/completions",
        "/coding/v1/messages",
        "/coding/v1/models",
        "/coding/v1/search",
        "/coding/v1/fetch",
        "/coding/v1/usages",
    ]
    for request in kimi.requests:
        assert request.status == 200, request.path
        assert request.headers["User-Agent"] == CLAUDE_UA
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert msh_headers(request.headers) == []
        assert not any("KimiCLI" in value for value in request.headers.values())
        assert "x-api-key" not in request.headers  # the caller's local key never goes upstream


async def test_own_calls_without_a_caller_use_the_kimibridge_user_agent(
    kimi: EmulatorHandle,
) -> None:
    async with upstream(kimi) as up:
        await up.models()
        await up.usages()
        await up.me()
    assert [r.headers["User-Agent"] for r in kimi.requests] == ["kimibridge/0.1.0"] * 3
    assert all(msh_headers(r.headers) == [] for r in kimi.requests)


async def test_kimi_cli_preset_sends_the_legacy_identity(kimi: EmulatorHandle) -> None:
    identity = kimi_cli()
    async with upstream(kimi, identity) as up:
        await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
        await up.search("q", tool_call_id="SearchWeb:0", caller_headers=CALLER)
        await up.models(caller_headers=CALLER)
    chat, search, models = kimi.requests
    expected = identity.headers(RequestKind.MODEL)
    assert expected["User-Agent"] == "KimiCLI/1.52.0"
    for name, value in expected.items():
        assert chat.headers[name] == value
        assert search.headers[name] == value
    assert len(msh_headers(chat.headers)) == 6
    assert search.headers["X-Msh-Tool-Call-Id"] == "SearchWeb:0"
    # /models as legacy kimi-cli calls it: plain HTTP client, no identity headers.
    assert msh_headers(models.headers) == []
    assert models.headers["User-Agent"].startswith("Python/")


async def test_tool_routes_carry_bodies_and_tool_call_ids(kimi: EmulatorHandle) -> None:
    async with upstream(kimi, kimi_cli()) as up:
        await up.search("kimi", limit=50, include_content=True, tool_call_id="c1")
        page = await up.fetch("https://example.com/a", tool_call_id="c2")
        tools = await up.tools("chat_title", {"chat_content": "hello"}, tool_call_id="c3")
        me = await up.me()
        upload = await up.files(b"\x00\x00\x00\x18ftypmp42", mime="video/mp4")
    assert page.text().startswith("#")
    assert tools.json()
    assert me.json()
    assert upload.json()["id"]
    search, fetch, tool, _me, files = kimi.requests
    assert search.json() == {
        "text_query": "kimi",
        "limit": 20,
        "enable_page_crawling": True,
        "timeout_seconds": 30,
    }
    assert fetch.json() == {"url": "https://example.com/a"}
    assert fetch.headers["Accept"] == "text/markdown"
    assert tool.json() == {"method": "chat_title", "params": {"chat_content": "hello"}}
    assert [r.headers.get("X-Msh-Tool-Call-Id") for r in (search, fetch, tool)] == [
        "c1",
        "c2",
        "c3",
    ]
    assert files.headers["Content-Type"].startswith("multipart/form-data")


async def test_a_large_upload_is_streamed_whole(kimi: EmulatorHandle) -> None:
    """Above 1 MiB aiohttp warns (an error here) about raw bytes; the file goes as a stream."""
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 9000  # ~2.2 MiB
    async with upstream(kimi) as up:
        upload = await up.files(data, mime="video/mp4")
    assert upload.json()["id"]
    [sent] = [r for r in kimi.requests if r.path.endswith("/files")]
    assert data in sent.body


async def test_messages_forward_anthropic_headers(kimi: EmulatorHandle) -> None:
    caller = {**CALLER, "anthropic-version": "2023-06-01", "anthropic-beta": "foo-2025"}
    async with upstream(kimi) as up:
        async with await up.messages(
            {**MESSAGES, "stream": True}, stream=True, caller_headers=caller
        ) as stream:
            chunks = [chunk async for chunk in stream]
        count = await up.count_tokens(MESSAGES, caller_headers=caller)
    assert b"message_stop" in b"".join(chunks)
    assert "input_tokens" in count.json()
    for request in kimi.requests:
        assert request.headers["anthropic-beta"] == "foo-2025"
        assert request.headers["anthropic-version"] == "2023-06-01"


# --------------------------------------------------------------------------- 401 -> refresh -> retry


async def test_401_refreshes_once_and_retries_with_the_new_token(kimi: EmulatorHandle) -> None:
    old = kimi.issue_tokens().access_token
    kimi.expire_tokens()
    source = Refreshing(kimi, old)
    async with KimiUpstream(kimi.base_url, source, harness()) as up:
        reply = await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
        assert reply.status == 200
        kimi.expire_tokens()
        async with await up.chat_completions(
            {**CHAT, "stream": True}, stream=True, caller_headers=CALLER
        ) as stream:
            assert b"[DONE]" in b"".join([c async for c in stream])
    statuses = [(r.status, r.headers["Authorization"]) for r in kimi.requests]
    assert len(source.rejected) == 2 and source.rejected[0] == old
    assert [s for s, _ in statuses] == [401, 200, 401, 200]
    assert statuses[0][1] == f"Bearer {old}" and statuses[1][1] != statuses[0][1]


async def test_a_second_401_needs_login_after_exactly_two_calls(kimi: EmulatorHandle) -> None:
    source = Refreshing(kimi, kimi.issue_tokens().access_token)
    kimi.inject(FaultKind.UNAUTHORIZED)
    kimi.inject(FaultKind.UNAUTHORIZED)
    async with KimiUpstream(kimi.base_url, source, harness()) as up:
        with pytest.raises(NeedsLogin, match="kimibridge login") as caught:
            await up.chat_completions(CHAT, stream=False)
    assert len(kimi.requests) == 2
    assert source.credential.token not in str(caught.value)


async def test_a_rejected_api_key_is_not_retried(kimi: EmulatorHandle) -> None:
    source = StaticKey("sk-kimi-unknown")
    kimi.emulator.platform.gate.accept_any_static_key = False
    async with KimiUpstream(kimi.base_url, source, harness()) as up:
        with pytest.raises(NeedsLogin):
            await up.models()
    assert len(kimi.requests) == 1 and source.unauthorized_calls == 1


# --------------------------------------------------------------------------- typed errors


async def test_access_terminated_after_exactly_one_call_with_retries_on(
    kimi: EmulatorHandle,
) -> None:
    kimi.inject(FaultKind.ACCESS_TERMINATED)
    async with upstream(kimi, max_retries=3) as up:
        with pytest.raises(AccessTerminated) as caught:
            await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
    assert len(kimi.requests) == 1
    error = caught.value
    assert error.status == 403 and error.error_type == "access_terminated_error"
    message = str(error)
    assert "\n" not in message and KEY not in message
    assert "'harness'" in message and "suspended" in message and "kimibridge status" in message


async def test_an_unadmitted_user_agent_gets_access_terminated(kimi: EmulatorHandle) -> None:
    async with upstream(kimi) as up:
        with pytest.raises(AccessTerminated):
            await up.chat_completions(
                {**CHAT, "stream": True},
                stream=True,
                caller_headers={"User-Agent": "OpenAI/Python 2.14.0"},
            )
    assert len(kimi.requests) == 1


async def test_quota_is_not_retried_and_rate_limits_are_typed(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.QUOTA)
    async with upstream(kimi, max_retries=2) as up:
        with pytest.raises(QuotaExceeded) as quota:
            await up.chat_completions({**CHAT, "stream": True}, stream=True, caller_headers=CALLER)
        assert len(kimi.requests) == 1
        assert quota.value.status == 429
        assert quota.value.error_type == "exceeded_current_quota_error"
    kimi.inject(FaultKind.RATE_LIMIT)
    async with upstream(kimi) as up:
        with pytest.raises(RateLimited) as limited:
            await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
    assert limited.value.error_type == "rate_limit_reached_error"
    assert len(kimi.requests) == 2


async def test_retries_when_switched_on(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.RATE_LIMIT)
    kimi.inject(FaultKind.UNAVAILABLE)
    async with upstream(kimi, max_retries=2) as up:
        reply = await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
    assert reply.status == 200
    assert [r.status for r in kimi.requests] == [429, 503, 200]


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        (FaultKind.SERVER_ERROR, 500, "server_error"),
        (FaultKind.BAD_GATEWAY, 502, "server_error"),
        (FaultKind.UNAVAILABLE, 503, "engine_overloaded_error"),
    ],
)
async def test_server_errors_are_typed_and_not_retried_by_default(
    kimi: EmulatorHandle, kind: FaultKind, status: int, error_type: str
) -> None:
    kimi.inject(kind)
    async with upstream(kimi) as up:
        with pytest.raises(UpstreamStatusError) as caught:
            await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
    assert (caught.value.status, caught.value.error_type) == (status, error_type)
    assert f"{status} {error_type}" in str(caught.value)
    assert len(kimi.requests) == 1


async def test_errors_on_account_routes_are_typed(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.SERVER_ERROR, route="/models")
    async with upstream(kimi) as up:
        with pytest.raises(UpstreamStatusError, match="/models"):
            await up.models()


async def test_slow_first_byte_times_out(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.SLOW_FIRST_BYTE, delay_s=2.0)
    async with upstream(kimi, timeouts=Timeouts(connect=2.0, read=0.3)) as up:
        with pytest.raises(UpstreamTimeout, match="/chat/completions"):
            await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)


async def test_slow_tool_route_times_out_with_tool_timeouts(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.SLOW_FIRST_BYTE, route="/search", delay_s=2.0)
    async with upstream(kimi, tool_timeouts=Timeouts(connect=2.0, read=0.3, total=0.5)) as up:
        with pytest.raises(UpstreamTimeout):
            await up.search("slow")


async def test_closed_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    up = KimiUpstream(f"http://127.0.0.1:{port}/coding/v1", StaticKey(KEY), harness())
    async with up:
        with pytest.raises(UpstreamConnectError, match=r"127\.0\.0\.1") as caught:
            await up.models()
    assert KEY not in str(caught.value)
    assert caught.value.__cause__ is not None  # raised from the aiohttp error


async def test_a_stream_cut_midway_raises_while_iterating(kimi: EmulatorHandle) -> None:
    kimi.inject(FaultKind.STREAM_CUT, after_chunks=1)
    got: list[bytes] = []
    async with upstream(kimi) as up:
        stream = await up.chat_completions(
            {**CHAT, "stream": True}, stream=True, caller_headers=CALLER
        )
        async with stream:
            with pytest.raises(UpstreamConnectError):
                async for chunk in stream:
                    got.append(chunk)
    assert got  # the first chunk reached the caller before the cut


# --------------------------------------------------------------------------- the client itself


async def test_one_session_is_reused_and_closed(kimi: EmulatorHandle) -> None:
    up = upstream(kimi)
    await up.models()
    session = up._session
    await up.usages()
    assert up._session is session and session is not None
    await up.aclose()
    assert session.closed
    await up.models()  # reopens lazily
    await up.aclose()


async def test_reprs_hold_no_secret(kimi: EmulatorHandle) -> None:
    async with upstream(kimi) as up:
        reply = await up.models()
        assert KEY not in repr(up) and KEY not in repr(reply)


async def test_unknown_route_is_a_programming_error(kimi: EmulatorHandle) -> None:
    async with upstream(kimi) as up:
        with pytest.raises(ValueError, match="unknown Kimi route"):
            await up.send("nope", None)


async def test_raw_bytes_are_sent_unchanged(kimi: EmulatorHandle) -> None:
    raw = b'{"model": "kimi-for-coding",  "messages": [{"role": "user", "content": "hi"}]}'
    async with upstream(kimi) as up:
        await up.chat_completions(raw, stream=False, caller_headers=CALLER)
    assert kimi.requests[0].body == raw


async def test_kimibridge_and_kimi_code_presets_on_the_wire(kimi: EmulatorHandle) -> None:
    honest = build_identity("kimibridge", versions=VERSIONS, environ={})
    async with upstream(kimi, honest) as up:
        await up.chat_completions(CHAT, stream=False, caller_headers=CALLER)
    code = build_identity(
        "kimi-code", versions=VERSIONS, facts=FACTS, device_id="d-e-v-i-c-e", environ={}
    )
    async with upstream(kimi, code) as up:
        await up.models(caller_headers=CALLER)
        await up.fetch("https://example.com", tool_call_id="FetchURL:1")
    chat, models, fetch = kimi.requests
    assert chat.headers["User-Agent"] == "kimibridge/0.1.0 (claude-cli/2.1.330)"
    assert msh_headers(chat.headers) == []
    for request in (models, fetch):
        assert request.status == 200
        assert request.headers["User-Agent"] == "kimi-code-cli/2.1.0"
        assert request.headers["X-Msh-Platform"] == "kimi_code_cli"
        assert request.headers["X-Msh-Device-Model"] == "Linux 6.1.0 x64"
        assert request.headers["X-Msh-Device-Id"] == "d-e-v-i-c-e"
    assert fetch.headers["X-Msh-Tool-Call-Id"] == "FetchURL:1"
