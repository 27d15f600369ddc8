"""``moonshot_fetch``: a web page as markdown, read by Kimi's fetch service (``POST /fetch``)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kimibridge.tools.failures import ToolFailure

if TYPE_CHECKING:
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["check_url", "fetch"]

DESCRIPTION = (
    "Fetch a web page through Kimi's fetch service and return its main content as markdown. "
    "Give a full http(s) URL, e.g. one from moonshot_search."
)


def check_url(url: str) -> str:
    """``url`` stripped, or ``ToolFailure`` if it is not an absolute http(s) URL."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ToolFailure(f"moonshot_fetch: {url!r} is not an http(s) URL")
    return text


async def fetch(upstream: KimiUpstream, url: str, *, tool_call_id: str | None) -> str:
    reply = await upstream.fetch(check_url(url), tool_call_id=tool_call_id)
    text = reply.text().strip()
    return text or f"moonshot_fetch: Kimi returned an empty page for {url}"
