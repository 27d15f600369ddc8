"""Kimi's non-model routes with deterministic canned content.

Field names follow reference/kimi-cli-wire.md §4, §6, §11.6 and kimi-plugins.md §1.10–1.11.
Everything beyond the fields those clients read (ids, texts, numbers) is invented and stable.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from kimibridge.emulator import catalog
from kimibridge.emulator.errors import error_response

__all__ = ["DATA_SOURCES", "FileStore", "StoredFile", "UsageMeter", "platform_routes"]

PREFIX = "/coding/v1"

DATA_SOURCES: dict[str, str] = {
    "stock_finance_data": "A/HK/US stocks, prices, financial reports, indicators, shareholders.",
    "yahoo_finance": "Global finance: quotes, analyst ratings, options, indexes, history.",
    "world_bank_open_data": "World Bank macro data: GDP, inflation, population.",
    "tianyancha": "Chinese enterprise registry: shareholders, legal representative, risks.",
    "arxiv": "arXiv preprints: paper search, abstracts, arXiv IDs.",
    "scholar": "Academic papers, authors, citations.",
    "yuandian_law": "Chinese laws, regulations, judicial cases.",
    "wind": "A-share intraday series, funds, bonds.",
    "imf": "IMF macro data: FX rates, CPI, GDP forecasts.",
    "gildata": "Natural-language stock/fund screening.",
    "sec_edgar": "US SEC filings: 10-K/10-Q, S-1, Form 4, 13F, 8-K.",
    "sp_data": "S&P fundamentals: estimates, valuation ratios, transcripts.",
}

ME: dict[str, object] = {
    "user_id": "emu-user-0001",
    "nickname": "Emulator User",
    "user_level": "LEVEL_INTERMEDIATE",
    "user_level_name": "Moderato",
    "email": "emulator@example.invalid",
}


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    filename: str
    content_type: str
    purpose: str
    data: bytes
    created_at: int

    @property
    def url(self) -> str:
        return f"ms://{self.id}"

    def to_wire(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "ok",
        }


class FileStore:
    """Uploaded files; the model half resolves ``ms://<id>`` references through ``resolve``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}

    def add(self, filename: str, content_type: str, purpose: str, data: bytes) -> StoredFile:
        with self._lock:
            # Content hash plus a sequence number: stable across runs, unique per upload.
            digest = hashlib.sha256(f"{len(self._files)}:".encode() + data).hexdigest()
            stored = StoredFile(
                id=f"file-{digest[:24]}",
                filename=filename,
                content_type=content_type,
                purpose=purpose,
                data=data,
                created_at=int(time.time()),
            )
            self._files[stored.id] = stored
            return stored

    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def resolve(self, url: str) -> StoredFile | None:
        """The file behind ``ms://<id>`` (or a bare id), or None."""
        return self.get(url.removeprefix("ms://"))

    def all(self) -> list[StoredFile]:
        with self._lock:
            return list(self._files.values())


class UsageMeter:
    """Counts model requests so ``/usages`` moves as the emulator is used."""

    WEEKLY_LIMIT = 2000
    WINDOW_LIMIT = 200
    WINDOW_MINUTES = 300

    def __init__(self) -> None:
        self.started = datetime.now(UTC).replace(microsecond=0)
        self.used = 0

    def payload(self) -> dict[str, object]:
        week_reset = self.started + timedelta(days=7)
        window_reset = self.started + timedelta(minutes=self.WINDOW_MINUTES)
        # Kimi sends these numbers as decimal strings (kimi-cli-wire §6).
        return {
            "usage": {
                "name": "Weekly limit",
                "limit": str(self.WEEKLY_LIMIT),
                "used": str(self.used),
                "remaining": str(max(0, self.WEEKLY_LIMIT - self.used)),
                "resetTime": _iso(week_reset),
            },
            "limits": [
                {
                    "window": {"duration": self.WINDOW_MINUTES, "timeUnit": "TIME_UNIT_MINUTE"},
                    "detail": {
                        "name": "5-hour limit",
                        "limit": str(self.WINDOW_LIMIT),
                        "used": str(self.used),
                        "remaining": str(max(0, self.WINDOW_LIMIT - self.used)),
                        "resetTime": _iso(window_reset),
                    },
                }
            ],
            "membership": {"level": ME["user_level"]},
            "boosterWallet": {
                "balance": {"type": "BOOSTER", "amountLeft": "0"},
                "monthlyChargeLimit": {"priceInCents": "0", "currency": "USD"},
                "monthlyUsed": "0",
            },
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "query"


def search_results(query: str, limit: int, crawl: bool) -> list[dict[str, object]]:
    slug = _slug(query)
    results: list[dict[str, object]] = []
    for n in range(1, limit + 1):
        url = f"https://example.com/{slug}/{n}"
        results.append(
            {
                "site_name": f"Example Site {n}",
                "title": f"{query} — result {n}",
                "url": url,
                "snippet": f"Result {n} for “{query}”: a canned snippet from the Kimi emulator.",
                "content": fetch_markdown(url) if crawl else "",
                "date": f"2026-01-{n:02d}",
                "icon": "https://example.com/favicon.ico",
                "mime": "text/html",
            }
        )
    return results


def fetch_markdown(url: str) -> str:
    return (
        f"# Emulated page\n\n"
        f"Source: {url}\n\n"
        f"This is canned markdown from the Kimi emulator for `{url}`.\n"
    )


def _bad_request(message: str) -> web.Response:
    return error_response(400, "invalid_request_error", message)


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return _bad_request("The request body is not valid JSON.")
    if not isinstance(body, dict):
        return _bad_request("The request body must be a JSON object.")
    return body


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """Form fields by name: (filename, content type, bytes). The body was already read whole."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str | None, str, bytes]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields[name] = (part.get_filename(), part.get_content_type(), data)
    return fields


def platform_routes(files: FileStore, usage: UsageMeter) -> list[web.RouteDef]:
    async def models(request: web.Request) -> web.Response:
        return web.json_response(catalog.models_payload())

    async def upload(request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            return _bad_request("Upload the file as multipart/form-data with a `file` field.")
        fields = _parse_multipart(request.headers["Content-Type"], await request.read())
        if "file" not in fields:
            return _bad_request("The multipart body has no `file` field.")
        filename, content_type, data = fields["file"]
        purpose = fields.get("purpose", (None, "", b"file-extract"))[2].decode() or "file-extract"
        stored = files.add(filename or "upload", content_type, purpose, data)
        return web.json_response(stored.to_wire())

    async def search(request: web.Request) -> web.Response:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        query = body.get("text_query")
        if not isinstance(query, str) or not query.strip():
            return _bad_request("text_query is required.")
        limit = body.get("limit", 5)
        if not isinstance(limit, int) or isinstance(limit, bool):
            return _bad_request("limit must be an integer.")
        crawl = bool(body.get("enable_page_crawling", False))
        results = search_results(query.strip(), max(1, min(limit, 20)), crawl)
        return web.json_response({"search_results": results})

    async def fetch(request: web.Request) -> web.Response:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            return _bad_request("url is required.")
        accept = request.headers.get("Accept", "")
        # Kimi's fetch answers markdown; without a markdown Accept we still send the same
        # text, labelled plain, as the legacy client handles both (kimi-cli-wire §6).
        kind = (
            "text/markdown"
            if "markdown" in accept or not accept or "*/*" in accept
            else ("text/plain")
        )
        return web.Response(text=fetch_markdown(url.strip()), content_type=kind)

    async def tools(request: web.Request) -> web.Response:
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        params = body.get("params") or {}
        if not isinstance(params, dict):
            return _bad_request("params must be an object.")
        method = body.get("method")
        headers = {"x-request-id": "emu-" + hashlib.sha256(await request.read()).hexdigest()[:16]}
        if method == "chat_title":
            content = str(params.get("chat_content", ""))
            title = " ".join(content.split()[:6]) or "New chat"
            return web.json_response({"title": title}, headers=headers)
        if method == "get_data_source_desc":
            name = params.get("name")
            return web.json_response(_data_source_desc(name), headers=headers)
        if method == "call_data_source_tool":
            return web.json_response(_data_source_call(params), headers=headers)
        return _bad_request(f"Unknown method {method!r}.")

    async def usages(request: web.Request) -> web.Response:
        return web.json_response(usage.payload())

    async def me(request: web.Request) -> web.Response:
        return web.json_response(ME)

    async def root(request: web.Request) -> web.Response:
        # Claude Code probes the base URL with HEAD before its first request.
        return web.Response(text="Kimi emulator (kimibridge)\n")

    return [
        web.get(f"{PREFIX}/models", models),
        web.post(f"{PREFIX}/files", upload),
        web.post(f"{PREFIX}/search", search),
        web.post(f"{PREFIX}/fetch", fetch),
        web.post(f"{PREFIX}/tools", tools),
        web.get(f"{PREFIX}/usages", usages),
        web.get(f"{PREFIX}/me", me),
        web.get("/", root),
        web.get("/coding", root),
        web.get("/coding/", root),
    ]


def _text_result(text: str) -> dict[str, object]:
    return {
        "is_success": True,
        "error": None,
        "result": {"assistant": [{"type": "text", "text": text}], "user": []},
    }


def _data_source_desc(name: object) -> dict[str, object]:
    if not isinstance(name, str) or name not in DATA_SOURCES:
        return {"is_success": False, "error": f"unknown data source: {name}", "result": None}
    return _text_result(
        f"# {name}\n\n{DATA_SOURCES[name]}\n\n"
        "APIs:\n- `search(query: string)`: canned results from the Kimi emulator.\n"
    )


def _data_source_call(params: dict[str, Any]) -> dict[str, object]:
    name = params.get("data_source_name")
    api = params.get("api_name")
    if not isinstance(name, str) or name not in DATA_SOURCES:
        return {"is_success": False, "error": f"unknown data source: {name}", "result": None}
    if not isinstance(api, str) or not api:
        return {"is_success": False, "error": "api_name is required", "result": None}
    args = json.dumps(params.get("params") or {}, sort_keys=True, ensure_ascii=False)
    return _text_result(f"{name}.{api}({args}): canned result from the Kimi emulator.")
