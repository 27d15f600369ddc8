"""Kimi's platform routes: models, files, search, fetch, tools, usages, me."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kimibridge.emulator import catalog
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

KEY = "sk-kimi-routes"
HEADERS = {"Authorization": f"Bearer {KEY}", "User-Agent": "kimi-code-cli/2.1.0"}


@pytest.fixture
def kimi(kimi_emulator: EmulatorHandle) -> EmulatorHandle:
    kimi_emulator.add_api_key(KEY)
    return kimi_emulator


async def post_json(
    kimi: EmulatorHandle, route: str, body: Any, extra: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + route, headers={**HEADERS, **(extra or {})}, json=body) as r,
    ):
        return r.status, await r.json(content_type=None)


async def get_json(kimi: EmulatorHandle, route: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(kimi.base_url + route, headers=HEADERS) as r:
        return r.status, await r.json()


async def test_models_serves_the_catalog(kimi: EmulatorHandle) -> None:
    status, body = await get_json(kimi, "/models")
    assert status == 200
    assert body == catalog.models_payload()
    first = body["data"][0]
    for field in (
        "id",
        "context_length",
        "supports_reasoning",
        "supports_image_in",
        "supports_video_in",
        "supports_thinking_type",
        "think_efforts",
        "display_name",
    ):
        assert field in first


async def test_file_upload_returns_id_resolvable_as_ms_url(kimi: EmulatorHandle) -> None:
    form = aiohttp.FormData()
    form.add_field("purpose", "video")
    form.add_field("file", b"\x00\x01video-bytes", filename="upload.mp4", content_type="video/mp4")
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + "/files", headers=HEADERS, data=form) as r,
    ):
        assert r.status == 200
        body = await r.json()
    assert body["id"].startswith("file-")
    assert (body["filename"], body["bytes"], body["purpose"]) == ("upload.mp4", 13, "video")
    stored = kimi.emulator.platform.files.resolve(f"ms://{body['id']}")
    assert stored is not None
    assert (stored.data, stored.content_type, stored.url) == (
        b"\x00\x01video-bytes",
        "video/mp4",
        f"ms://{body['id']}",
    )
    # The same bytes again get a new id.
    form2 = aiohttp.FormData()
    form2.add_field("file", b"\x00\x01video-bytes", filename="upload.mp4", content_type="video/mp4")
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + "/files", headers=HEADERS, data=form2) as r,
    ):
        assert (await r.json())["id"] != body["id"]


async def test_file_upload_without_file_field(kimi: EmulatorHandle) -> None:
    status, body = await post_json(kimi, "/files", {"purpose": "video"})
    assert status == 400 and body["error"]["type"] == "invalid_request_error"


async def test_search_shapes_and_crawling(kimi: EmulatorHandle) -> None:
    body = {
        "text_query": "kimi emulator",
        "limit": 3,
        "enable_page_crawling": False,
        "timeout_seconds": 30,
    }
    status, answer = await post_json(kimi, "/search", body, {"X-Msh-Tool-Call-Id": "SearchWeb:0"})
    assert status == 200
    results = answer["search_results"]
    assert len(results) == 3
    for r in results:
        assert {"site_name", "title", "url", "snippet", "content", "date", "icon", "mime"} <= set(r)
        assert r["content"] == ""
    status, crawled = await post_json(kimi, "/search", {**body, "enable_page_crawling": True})
    assert all(r["content"].startswith("# ") for r in crawled["search_results"])
    # Deterministic: same query, same results.
    assert (await post_json(kimi, "/search", body))[1] == answer
    # New CLI sends only text_query: default limit 5.
    assert len((await post_json(kimi, "/search", {"text_query": "q"}))[1]["search_results"]) == 5
    assert kimi.requests[0].tool_call_id == "SearchWeb:0"
    assert (await post_json(kimi, "/search", {"limit": 2}))[0] == 400


async def test_fetch_returns_markdown(kimi: EmulatorHandle) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            kimi.base_url + "/fetch",
            headers={**HEADERS, "Accept": "text/markdown", "X-Msh-Tool-Call-Id": "call_1"},
            json={"url": "https://example.org/page"},
        ) as r:
            assert r.status == 200
            assert r.content_type == "text/markdown"
            text = await r.text()
        async with s.post(
            kimi.base_url + "/fetch",
            headers={**HEADERS, "Accept": "text/plain"},
            json={"url": "https://example.org/page"},
        ) as r:
            assert r.content_type == "text/plain" and await r.text() == text
    assert text.startswith("# ") and "https://example.org/page" in text
    assert kimi.requests[0].tool_call_id == "call_1"
    assert (await post_json(kimi, "/fetch", {}))[0] == 400


async def test_tools_methods(kimi: EmulatorHandle) -> None:
    status, desc = await post_json(
        kimi, "/tools", {"method": "get_data_source_desc", "params": {"name": "arxiv"}}
    )
    assert status == 200 and desc["is_success"] is True
    assert "arxiv" in desc["result"]["assistant"][0]["text"]
    status, called = await post_json(
        kimi,
        "/tools",
        {
            "method": "call_data_source_tool",
            "params": {"data_source_name": "arxiv", "api_name": "search", "params": {"q": "llm"}},
        },
    )
    assert status == 200 and called["is_success"] is True
    assert "arxiv.search" in called["result"]["assistant"][0]["text"]
    status, unknown = await post_json(
        kimi, "/tools", {"method": "get_data_source_desc", "params": {"name": "nope"}}
    )
    assert status == 200 and unknown["is_success"] is False and "nope" in unknown["error"]
    status, title = await post_json(
        kimi,
        "/tools",
        {"method": "chat_title", "params": {"chat_content": "fix the failing tests please now"}},
    )
    assert status == 200 and title == {"title": "fix the failing tests please now"}
    assert (await post_json(kimi, "/tools", {"method": "other"}))[0] == 400


async def test_usages_shape_and_counting(kimi: EmulatorHandle) -> None:
    status, before = await get_json(kimi, "/usages")
    assert status == 200
    assert set(before["usage"]) >= {"limit", "used", "remaining", "resetTime"}
    window = before["limits"][0]
    assert window["window"] == {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"}
    assert set(window["detail"]) >= {"limit", "used", "remaining", "resetTime"}
    assert before["usage"]["used"] == "0"  # decimal strings, as Kimi sends them
    chat = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
    assert (await post_json(kimi, "/chat/completions", chat))[0] == 200
    after = (await get_json(kimi, "/usages"))[1]
    assert after["usage"]["used"] == "1"
    assert after["usage"]["resetTime"] == before["usage"]["resetTime"]


async def test_me(kimi: EmulatorHandle) -> None:
    status, me = await get_json(kimi, "/me")
    assert status == 200
    assert set(me) == {"user_id", "nickname", "user_level", "user_level_name", "email"}


async def test_bad_json_is_a_400_not_a_500(kimi: EmulatorHandle) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(kimi.base_url + "/search", headers=HEADERS, data=b"{not json") as r,
    ):
        assert r.status == 400


async def test_every_request_is_recorded(kimi: EmulatorHandle) -> None:
    await get_json(kimi, "/me")
    await post_json(kimi, "/search", {"text_query": "x"})
    me, search = kimi.requests
    assert (me.method, me.path, me.status, me.auth) == ("GET", "/coding/v1/me", 200, "api_key")
    assert search.json() == {"text_query": "x"}
    assert search.headers["user-agent"] == "kimi-code-cli/2.1.0"
    assert KEY not in repr(kimi.requests) and KEY not in str(search.redacted())
    kimi.clear_requests()
    assert kimi.requests == []


async def test_unknown_api_route_is_a_json_404(kimi: EmulatorHandle) -> None:
    async with aiohttp.ClientSession() as s, s.get(kimi.base_url + "/nope", headers=HEADERS) as r:
        assert r.status == 404
        assert (await r.json())["error"]["type"] == "not_found_error"
    async with aiohttp.ClientSession() as s, s.get(kimi.base_url + "/search", headers=HEADERS) as r:
        assert r.status == 405
    assert [r.status for r in kimi.requests] == [404, 405]
