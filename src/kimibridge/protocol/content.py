"""Content pieces shared by request and response translation: parts <-> blocks, tool arguments."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from kimibridge.errors import TranslationError

__all__ = ["parse_tool_arguments"]

P = ParamSpec("P")
R = TypeVar("R")

# What walking a body of the wrong shape raises (a list where an object belongs, a string
# where a number belongs). Caught only at the public entry points, see `shape_errors`.
SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)


def bad(message: str) -> TranslationError:
    return TranslationError(message, status_hint=400)


def shape_errors(what: str, status_hint: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn a wrong-shape crash inside a translator into a TranslationError.

    The walks read dicts optimistically instead of validating every node first (that keeps the
    hot path cheap); a body of the wrong shape then fails with a built-in error, which becomes
    a 400 for client input (``status_hint=400``) or a 502 for upstream output, never a 500.
    """

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except SHAPE_ERRORS as exc:
                message = f"malformed {what}: {type(exc).__name__}: {exc}"
                raise TranslationError(message, status_hint=status_hint) from exc

        return inner

    return wrap


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def parse_tool_arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI ``function.arguments`` (JSON text) -> Anthropic ``input`` (an object).

    Empty means ``{}``. Text that is not a JSON object (a truncated call, a model slip) is kept
    as ``{"_raw_arguments": text}`` rather than refused: refusing would make the whole
    conversation unsendable forever, since clients replay their history on every turn.
    """
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except (TypeError, ValueError):
        return {"_raw_arguments": str(arguments)}
    return value if isinstance(value, dict) else {"_raw_arguments": str(arguments)}


def image_to_openai(block: Mapping[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif kind == "url":
        url = source.get("url", "")
    else:
        raise bad(f"image source type {kind!r} cannot be sent to an OpenAI-dialect backend")
    return {"type": "image_url", "image_url": {"url": url}}


def image_to_anthropic(part: Mapping[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url", "") if isinstance(image, Mapping) else str(image or "")
    if url.startswith("data:"):
        head, sep, data = url.partition(",")
        if not sep or ";base64" not in head:
            raise bad("image data URLs must be base64-encoded")
        media_type = head[5:].split(";", 1)[0] or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def document_to_openai(block: Mapping[str, Any]) -> dict[str, Any]:
    # Kimi rejects `document` blocks (MoonshotAI/Kimi-K2.5#27); plain-text documents carry over.
    source = block.get("source") or {}
    if source.get("type") == "text":
        title = block.get("title")
        text = source.get("data", "")
        return {"type": "text", "text": f"{title}\n\n{text}" if title else text}
    raise bad(
        f"document blocks with a {source.get('type')!r} source (e.g. PDF) are not supported "
        "by the Kimi backend; send the text instead"
    )


def text_of(content: Any) -> str:
    """Text of an Anthropic tool_result / OpenAI tool content: string, or text parts joined."""
    if isinstance(content, str):
        return content
    if not content:
        return ""
    return "\n".join(
        p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"
    )


def parts_to_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise bad("message `content` must be a string, a list of parts or null")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "refusal":
            blocks.append({"type": "text", "text": part.get("refusal", "")})
        elif kind == "image_url":
            blocks.append(image_to_anthropic(part))
        else:
            raise bad(f"content part type {kind!r} cannot be sent to an Anthropic-dialect backend")
    return blocks
