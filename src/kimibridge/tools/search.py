"""``moonshot_search``: Kimi's web search (``POST /search``, kimi-cli-wire.md §6)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kimibridge.tools.failures import ToolFailure

if TYPE_CHECKING:
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["format_results", "search"]

DESCRIPTION = (
    "Search the web with Kimi's search service. Returns a JSON list of results, each with "
    "url, title, snippet, date and site; with include_content=true also each page's text "
    "(slower, longer). Use it for facts newer than your training or to find pages to fetch."
)


def format_results(payload: Any, *, include_content: bool) -> str:
    """Kimi's ``{"search_results": [...]}`` as the JSON text the model reads."""
    raw = payload.get("search_results") if isinstance(payload, dict) else None
    if not isinstance(raw, list):
        raise ToolFailure("moonshot_search: Kimi's answer had no search_results list")
    results: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("url"):
            continue
        result = {
            "url": str(item["url"]),
            "title": str(item.get("title") or ""),
            "snippet": str(item.get("snippet") or ""),
            "date": str(item.get("date") or ""),
            "site": str(item.get("site_name") or ""),
        }
        if include_content:
            result["content"] = str(item.get("content") or "")
        results.append(result)
    if not results:
        return "No results."
    return json.dumps(results, ensure_ascii=False, indent=1)


async def search(
    upstream: KimiUpstream,
    query: str,
    *,
    limit: int,
    include_content: bool,
    tool_call_id: str | None,
) -> str:
    if not query.strip():
        raise ToolFailure("moonshot_search: the query is empty")
    reply = await upstream.search(
        query.strip(), limit=limit, include_content=include_content, tool_call_id=tool_call_id
    )
    try:
        payload = reply.json()
    except ValueError:
        raise ToolFailure("moonshot_search: Kimi's answer was not JSON") from None
    return format_results(payload, include_content=include_content)
