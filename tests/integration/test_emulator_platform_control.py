"""The /_emulator/ control API, driven over HTTP as another process would."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kimibridge.emulator.oauth import CLIENT_ID, DEVICE_GRANT
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

UA = "KimiCLI/1.52.0"


async def control(
    kimi: EmulatorHandle, method: str, route: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, f"{kimi.url}/_emulator/{route}", json=body) as r,
    ):
        return r.status, await r.json()


async def test_index_lists_routes(kimi_emulator: EmulatorHandle) -> None:
    status, body = await control(kimi_emulator, "GET", "")
    assert status == 200
    assert "POST /_emulator/approve" in body["routes"]
    assert "GET /_emulator/stats" in body["routes"]


@pytest.mark.kimi_emulator(approve_after_polls=None, poll_interval=0)
async def test_device_codes_approve_and_deny(kimi_emulator: EmulatorHandle) -> None:
    async with aiohttp.ClientSession() as s:
        logins = []
        for _ in range(2):
            async with s.post(
                f"{kimi_emulator.oauth_host}/api/oauth/device_authorization",
                data={"client_id": CLIENT_ID},
            ) as r:
                logins.append(await r.json())
    _, listed = await control(kimi_emulator, "GET", "device_codes")
    assert [d["user_code"] for d in listed["device_codes"]] == [x["user_code"] for x in logins]
    assert all(d["state"] == "pending" for d in listed["device_codes"])
    assert logins[0]["device_code"] not in str(listed)  # the secret half never leaves
    assert await control(kimi_emulator, "POST", "deny", {"user_code": logins[0]["user_code"]}) == (
        200,
        {"denied": [logins[0]["user_code"]]},
    )
    assert await control(kimi_emulator, "POST", "approve", {}) == (
        200,
        {"approved": [logins[1]["user_code"]]},
    )
    async with aiohttp.ClientSession() as s:
        form = {
            "client_id": CLIENT_ID,
            "grant_type": DEVICE_GRANT,
            "device_code": logins[1]["device_code"],
        }
        async with s.post(f"{kimi_emulator.oauth_host}/api/oauth/token", data=form) as r:
            assert r.status == 200


async def test_tokens_keys_ttl_and_stats(kimi_emulator: EmulatorHandle) -> None:
    assert await control(kimi_emulator, "POST", "token_ttl", {"seconds": 30}) == (
        200,
        {"token_ttl": 30.0},
    )
    status, pair = await control(kimi_emulator, "POST", "tokens", {})
    assert status == 200 and pair["expires_in"] == 30
    status, short = await control(kimi_emulator, "POST", "tokens", {"ttl": 0})
    assert short["expires_in"] == 0
    assert (await control(kimi_emulator, "POST", "api_keys", {"key": "sk-kimi-ctl"}))[0] == 200
    async with aiohttp.ClientSession() as s:
        for bearer, want in (
            (pair["access_token"], 200),
            (short["access_token"], 401),
            ("sk-kimi-ctl", 200),
        ):
            headers = {"Authorization": f"Bearer {bearer}", "User-Agent": UA}
            async with s.get(kimi_emulator.base_url + "/me", headers=headers) as r:
                assert r.status == want
    assert (await control(kimi_emulator, "POST", "tokens/expire"))[0] == 200
    _, stats = await control(kimi_emulator, "GET", "stats")
    assert stats["tokens_issued"] == 2 and stats["refresh_reuse_count"] == 0
    assert stats["rejected_401"] == 1 and stats["requests"] == 3
    assert stats == kimi_emulator.stats


async def test_faults_and_latency(kimi_emulator: EmulatorHandle) -> None:
    status, queued = await control(
        kimi_emulator, "POST", "faults", {"kind": "quota", "route": "/search"}
    )
    assert status == 200 and queued["queued"]["kind"] == "quota"
    assert (await control(kimi_emulator, "GET", "faults"))[1]["faults"][0]["route"] == "/search"
    kimi_emulator.add_api_key("k")
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            kimi_emulator.base_url + "/search",
            headers={"Authorization": "Bearer k", "User-Agent": UA},
            json={"text_query": "q"},
        ) as r,
    ):
        assert r.status == 429
        assert (await r.json())["error"]["type"] == "exceeded_current_quota_error"
    await control(kimi_emulator, "POST", "faults", {"kind": "server_error"})
    assert (await control(kimi_emulator, "DELETE", "faults"))[1] == {"faults": []}
    assert (await control(kimi_emulator, "POST", "faults", {"kind": "nope"}))[0] == 400
    assert (await control(kimi_emulator, "POST", "faults", {"kind": "quota", "bogus": 1}))[0] == 400
    bad = {"kind": "slow_first_byte", "delay_s": "soon"}
    assert (await control(kimi_emulator, "POST", "faults", bad))[0] == 400
    assert (await control(kimi_emulator, "POST", "faults", {"kind": "quota", "route": 3}))[0] == 400
    assert await control(kimi_emulator, "POST", "latency", {"ms": 5}) == (200, {"latency_ms": 5.0})


async def test_requests_are_redacted_by_default(kimi_emulator: EmulatorHandle) -> None:
    pair = kimi_emulator.issue_tokens()
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            kimi_emulator.base_url + "/me",
            headers={"Authorization": f"Bearer {pair.access_token}", "User-Agent": UA},
        ) as r,
    ):
        assert r.status == 200
    status, body = await control(kimi_emulator, "GET", "requests")
    assert status == 200 and pair.access_token not in str(body)
    (item,) = body["requests"]  # control calls are not recorded
    assert item["path"] == "/coding/v1/me" and item["status"] == 200
    _, raw = await control(kimi_emulator, "GET", "requests?redacted=0")
    assert pair.access_token in raw["requests"][0]["headers"]["Authorization"]
    assert (await control(kimi_emulator, "DELETE", "requests"))[1] == {"requests": []}
    assert kimi_emulator.requests == []


async def test_script_forwards_to_the_model_half(kimi_emulator: EmulatorHandle) -> None:
    steps = [{"text": "scripted answer"}]
    assert await control(kimi_emulator, "POST", "script", {"steps": steps}) == (
        200,
        {"scripted": 1},
    )
    kimi_emulator.add_api_key("k")
    chat = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            kimi_emulator.base_url + "/chat/completions",
            headers={"Authorization": "Bearer k", "User-Agent": UA},
            json=chat,
        ) as r,
    ):
        body = await r.json()
    assert body["choices"][0]["message"]["content"] == "scripted answer"
    assert (await control(kimi_emulator, "POST", "script", {"steps": "x"}))[0] == 400
    assert (await control(kimi_emulator, "POST", "script", {"steps": [{"tool_calls": 3}]}))[
        0
    ] == 400


async def test_scenario_file(kimi_emulator: EmulatorHandle, tmp_path: Any) -> None:
    path = tmp_path / "turns.json"
    path.write_text('[{"text": "from a file"}]')
    assert (await control(kimi_emulator, "POST", "scenario", {"path": str(path)}))[0] == 200
    assert (await control(kimi_emulator, "POST", "scenario", {"path": str(tmp_path / "no")}))[
        0
    ] == 400


async def test_handle_script_and_inject(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.script([{"text": "via handle"}])
    fault = kimi_emulator.inject("rate_limit", route="/chat/completions")
    assert fault.route == "/chat/completions"
    kimi_emulator.add_api_key("k")
    chat = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as s:
        for want in (429, 200):
            async with s.post(
                kimi_emulator.base_url + "/chat/completions",
                headers={"Authorization": "Bearer k", "User-Agent": UA},
                json=chat,
            ) as r:
                assert r.status == want
                last = await r.json()
    assert last["choices"][0]["message"]["content"] == "via handle"


async def test_bad_control_json(kimi_emulator: EmulatorHandle) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{kimi_emulator.url}/_emulator/approve", data=b"{oops") as r,
    ):
        assert r.status == 400


async def test_stats_include_the_model_half(kimi_emulator: EmulatorHandle) -> None:
    """Scripted steps and prompt-cache counters are in /_emulator/stats next to the platform's."""
    status, _ = await control(
        kimi_emulator, "POST", "script", {"steps": [{"text": "one"}, {"text": "two"}]}
    )
    assert status == 200
    kimi_emulator.add_api_key("sk-kimi-stats")
    body = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": "Bearer sk-kimi-stats", "User-Agent": UA}
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            async with s.post(
                kimi_emulator.base_url + "/chat/completions", json=body, headers=headers
            ) as r:
                assert r.status == 200
    _, stats = await control(kimi_emulator, "GET", "stats")
    assert stats["pending_steps"] == 0 and stats["model_requests"] == 2
    assert stats["cache_lookups"] == 2 and stats["cache_exact_hits"] == 1
    assert stats == kimi_emulator.stats
