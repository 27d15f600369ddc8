"""Large media go to Kimi's Files API and are referenced as ``ms://<id>`` (kimi-plugins.md §1.10).

Images over ``threshold`` bytes (1 MiB) and every video, sent inline (base64 or data URLs), are
uploaded once (``POST /files``, ``purpose`` image or video) and replaced by a URL reference:

- Anthropic: ``{"type": "image", "source": {"type": "base64", ...}}`` -> ``source: {"type": "url",
  "url": "ms://<id>"}`` (also inside ``tool_result`` content), other block fields kept;
- OpenAI: ``image_url`` / ``video_url`` parts whose URL is a ``data:`` URL -> ``ms://<id>``.

Uploads are cached by sha256 of (mime, bytes), bounded FIFO: the same screenshot re-sent on every
turn is uploaded once and the request bytes stay identical (Kimi's prefix cache). A failed upload
is not cached and leaves the media inline: the request still goes out.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

__all__ = ["DEFAULT_THRESHOLD", "MediaUploader"]

log = logging.getLogger("kimibridge.gateway")

DEFAULT_THRESHOLD: Final = 1024 * 1024
_MAX_CACHE: Final = 512

Upload = Callable[[bytes, str, str], Awaitable[str]]  # (data, mime, purpose) -> file id


class MediaUploader:
    def __init__(self, upload: Upload, *, threshold: int = DEFAULT_THRESHOLD) -> None:
        self._upload = upload
        self.threshold = threshold
        self._cache: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def worth_a_look(raw: bytes) -> bool:
        """A cheap test on the request bytes: only bodies with inline base64 media are walked."""
        return b";base64," in raw or b'"base64"' in raw

    def _big(self, b64_len: int, mime: str) -> bool:
        return mime.startswith("video/") or b64_len * 3 // 4 > self.threshold

    async def _ms_url(self, b64: str, mime: str) -> str | None:
        # Decoding and hashing megabytes takes milliseconds: not on the event loop.
        decoded = await asyncio.to_thread(_decode_and_hash, b64, mime)
        if decoded is None:
            return None
        data, key = decoded
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        purpose = "video" if mime.startswith("video/") else "image"
        try:
            file_id = await self._upload(data, mime, purpose)
        except Exception as exc:  # noqa: BLE001 - an upload is an optimisation: on failure, send inline
            log.warning("upload of a %s of %d bytes failed, sent inline: %s", mime, len(data), exc)
            return None
        url = f"ms://{file_id}"
        self._cache[key] = url
        if len(self._cache) > _MAX_CACHE:
            self._cache.popitem(last=False)
        return url

    # ------------------------------------------------------------------------ Anthropic

    async def rewrite_anthropic(self, body: dict[str, Any]) -> None:
        for block in _anthropic_media(body):
            source = block["source"]
            mime = str(source.get("media_type") or "image/png")
            data = source.get("data")
            if not isinstance(data, str) or not self._big(len(data), mime):
                continue
            url = await self._ms_url(data, mime)
            if url is not None:
                block["source"] = {"type": "url", "url": url}

    # ------------------------------------------------------------------------ OpenAI

    async def rewrite_openai(self, body: dict[str, Any]) -> None:
        for holder, key in _openai_media(body):
            url = holder[key]
            head, sep, b64 = url.partition(",")
            if not sep or not head.startswith("data:") or not head.endswith(";base64"):
                continue
            mime = head[5:].split(";", 1)[0] or "image/png"
            if not self._big(len(b64), mime):
                continue
            ms = await self._ms_url(b64, mime)
            if ms is not None:
                holder[key] = ms


def _decode_and_hash(b64: str, mime: str) -> tuple[bytes, str] | None:
    try:
        data = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        return None
    return data, hashlib.sha256(mime.encode() + b"\0" + data).hexdigest()


def _anthropic_media(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            yield from _media_blocks(content)


def _media_blocks(blocks: list[Any]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            yield from _media_blocks(block["content"])
        source = block.get("source")
        if (
            block.get("type") in ("image", "video")
            and isinstance(source, dict)
            and source.get("type") == "base64"
        ):
            yield block


def _openai_media(body: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """``(holder, key)`` pairs where ``holder[key]`` is an image or video URL string."""
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict):
                continue
            for kind in ("image_url", "video_url"):
                value = part.get(kind)
                if isinstance(value, dict) and isinstance(value.get("url"), str):
                    yield value, "url"
                elif isinstance(value, str):
                    yield part, kind
