"""The tools' sans-I/O parts: Kimi's answers as the text the model reads, inputs checked
before anything is sent, upstream errors as one readable line."""

from __future__ import annotations

import json

import pytest

from kimibridge.errors import (
    AccessTerminated,
    NeedsLogin,
    QuotaExceeded,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.tools.datasource import request_for, result_text
from kimibridge.tools.failures import ToolFailure, describe, needs_oauth
from kimibridge.tools.fetch import check_url
from kimibridge.tools.search import format_results

KIMI_RESULT = {
    "site_name": "Kimi",
    "title": "K3",
    "url": "https://kimi.com/k3",
    "snippet": "s",
    "content": "full text",
    "date": "2026-11-01",
    "icon": "i",
    "mime": "text/html",
}


def test_search_results_keep_the_documented_fields_only() -> None:
    text = format_results({"search_results": [KIMI_RESULT]}, include_content=False)
    assert json.loads(text) == [
        {
            "url": "https://kimi.com/k3",
            "title": "K3",
            "snippet": "s",
            "date": "2026-11-01",
            "site": "Kimi",
        }
    ]
    with_content = json.loads(
        format_results({"search_results": [KIMI_RESULT]}, include_content=True)
    )
    assert with_content[0]["content"] == "full text"


def test_search_results_without_url_are_dropped_and_none_is_said() -> None:
    assert (
        format_results({"search_results": [{"title": "x"}]}, include_content=False) == "No results."
    )
    with pytest.raises(ToolFailure, match="no search_results"):
        format_results({"data": []}, include_content=False)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "example.com", "ftp://x/y", "https://", ""])
def test_fetch_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ToolFailure, match="not an http"):
        check_url(url)


def test_fetch_takes_http_and_https() -> None:
    assert check_url("  https://example.com/a?b=1 ") == "https://example.com/a?b=1"
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


def test_datasource_request_shapes() -> None:
    assert request_for("arxiv", None, None) == ("get_data_source_desc", {"name": "arxiv"})
    assert request_for(" imf ", "gdp", {"year": 2025}) == (
        "call_data_source_tool",
        {"data_source_name": "imf", "api_name": "gdp", "params": {"year": 2025}},
    )
    with pytest.raises(ToolFailure, match=r"unknown datasource 'nasdaq'.*sec_edgar"):
        request_for("nasdaq", None, None)


def test_datasource_text_prefers_assistant_then_user() -> None:
    ok = {"is_success": True, "result": {"assistant": [{"type": "text", "text": "A"}], "user": []}}
    assert result_text(ok) == "A"
    user = {
        "is_success": True,
        "result": {"assistant": [], "user": [{"text": "U1"}, {"text": "U2"}]},
    }
    assert result_text(user) == "U1\n\nU2"
    with pytest.raises(ToolFailure, match=r"no such api \(request id r1"):
        result_text({"is_success": False, "error": "no such api"}, trace=" (request id r1)")


def test_failures_name_the_tool_and_the_next_step() -> None:
    assert "kimibridge login --oauth" in str(needs_oauth("moonshot_search"))
    assert "kimibridge login" in str(describe("moonshot_fetch", NeedsLogin("not signed in")))
    quota = QuotaExceeded("Kimi answered /search with 429: quota", status=429)
    assert str(describe("moonshot_search", quota)).startswith("moonshot_search: Kimi answered")
    plan = describe("kimi_datasource", UpstreamStatusError("Kimi answered 403", status=403))
    assert "plan may not include this tool" in str(plan)
    terminated = describe("moonshot_search", AccessTerminated("access_terminated_error"))
    assert "plan may not include" not in str(terminated)
    assert "try again" in str(describe("moonshot_fetch", UpstreamTimeout("slow")))
