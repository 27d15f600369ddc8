"""``kimi_datasource``: Kimi's curated datasources (``POST /tools``, kimi-plugins.md §1.11).

Without ``api_name`` the datasource describes itself (its APIs and their parameters); with it,
the API is called with ``params``. Kimi answers ``{"is_success", "error", "result"}`` with the
text in ``result.assistant[]`` (then ``result.user[]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kimibridge.tools.failures import ToolFailure
from kimibridge.tools.spec import DATA_SOURCES

if TYPE_CHECKING:
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["datasource", "request_for", "result_text"]

DESCRIPTION = (
    "Query one of Kimi's datasources (finance, macro-economics, companies, papers, law, "
    "filings). First call it with only data_source_name to read the datasource's APIs and "
    "their parameters; then call it with api_name and params. Datasources: "
    + "; ".join(f"{name} ({what})" for name, what in DATA_SOURCES.items())
    + "."
)

_REQUEST_ID_HEADERS = ("x-request-id", "x-trace-id", "x-msh-request-id", "x-msh-trace-id")


def request_for(
    data_source_name: str, api_name: str | None, params: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The ``/tools`` method and params for a call (``ToolFailure`` for an unknown datasource)."""
    name = data_source_name.strip()
    if name not in DATA_SOURCES:
        raise ToolFailure(
            f"kimi_datasource: unknown datasource {data_source_name!r}; "
            f"known: {', '.join(DATA_SOURCES)}"
        )
    if not api_name:
        return "get_data_source_desc", {"name": name}
    return "call_data_source_tool", {
        "data_source_name": name,
        "api_name": api_name,
        "params": dict(params or {}),
    }


def result_text(payload: Any, *, trace: str = "") -> str:
    """The text of Kimi's answer, or ``ToolFailure`` with its error."""
    if not isinstance(payload, dict):
        raise ToolFailure("kimi_datasource: Kimi's answer was not a JSON object" + trace)
    if not payload.get("is_success"):
        error = payload.get("error") or "the datasource call failed"
        raise ToolFailure(f"kimi_datasource: {error}{trace}")
    result = payload.get("result")
    parts: list[str] = []
    if isinstance(result, dict):
        for role in ("assistant", "user"):
            for item in result.get(role) or ():
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    parts.append(item["text"])
            if parts:
                break
    elif isinstance(result, str):
        parts.append(result)
    return "\n\n".join(parts) or "The datasource returned no text."


async def datasource(
    upstream: KimiUpstream,
    data_source_name: str,
    api_name: str | None,
    params: Mapping[str, Any] | None,
    *,
    tool_call_id: str | None,
) -> str:
    method, body = request_for(data_source_name, api_name, params)
    reply = await upstream.tools(method, body, tool_call_id=tool_call_id)
    request_id = next((reply.headers[h] for h in _REQUEST_ID_HEADERS if h in reply.headers), None)
    trace = f" (request id {request_id}, tool call {tool_call_id})" if request_id else ""
    try:
        payload = reply.json()
    except ValueError:
        raise ToolFailure("kimi_datasource: Kimi's answer was not JSON" + trace) from None
    return result_text(payload, trace=trace)
