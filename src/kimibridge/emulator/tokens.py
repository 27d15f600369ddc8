"""One canonical token sequence per prompt, shared by both dialects, and the token rule.

Canonical form. A prompt becomes an ordered list of *segments* (short tagged strings):

1. the **head**: every tool (``tool:`` + compact sorted-key JSON of name, description and
   parameters, whatever the dialect calls them), then one ``system:`` segment holding every
   leading system text joined by a blank line (Anthropic ``system`` string or text blocks;
   OpenAI system messages at the start of ``messages``, string content or text parts) — the
   join a gateway does when it folds Anthropic system blocks into one system message;
2. the **body**, message by message, one segment per part:
   ``user:`` / ``assistant:`` / ``system:`` + text (a ``system`` message after the start stays
   in place), ``thinking:`` + reasoning text (OpenAI ``reasoning_content``, Anthropic
   ``thinking`` blocks; signatures are not content), ``image:`` / ``video:`` + sha256 of the
   URL (images count by reference: an Anthropic base64 source is taken as its
   ``data:<type>;base64,...`` URL, as a gateway would send it to the OpenAI side),
   ``call:`` + id + name + canonical JSON arguments, ``result:`` + tool call id + flattened
   text of the tool result.

So ``{"role":"system","content":"S"}, {"role":"user","content":"U"}`` on the OpenAI side and
``system="S", messages=[{"role":"user","content":"U"}]`` on the Anthropic side are the same
sequence, and both dialects share cache entries (reference/kimi-plugins.md §1.2 finding 10).
Tools precede system as in Kimi's chat template, where tools are declared first.

Token rule. Each segment is UTF-8 encoded and padded with NUL bytes to a multiple of 4;
every 4 bytes are one token. A segment costs ``ceil(utf8_bytes / 4)`` tokens (at least 1, for
empty ones) and the prompt costs the sum. Usage ``prompt_tokens`` / ``input_tokens``,
``count_tokens`` and the cache all use this one count. Output tokens use the same rule over
the generated thinking, text and tool-call arguments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CanonicalPrompt",
    "anthropic_prompt",
    "count_text_tokens",
    "openai_prompt",
    "truncate_to_tokens",
]

TOKEN_BYTES = 4


def count_text_tokens(text: str) -> int:
    """Tokens of one generated or prompt text: ``ceil(utf8_bytes / 4)``, 0 for ""."""
    return -(-len(text.encode("utf-8")) // TOKEN_BYTES)


def truncate_to_tokens(text: str, tokens: int) -> str:
    """The longest prefix of ``text`` that costs at most ``tokens`` tokens."""
    budget = max(tokens, 0) * TOKEN_BYTES
    encoded = text.encode("utf-8")
    if len(encoded) <= budget:
        return text
    return encoded[:budget].decode("utf-8", errors="ignore")


def _segment_bytes(segment: str) -> bytes:
    raw = segment.encode("utf-8")
    pad = -len(raw) % TOKEN_BYTES
    if not raw:
        pad = TOKEN_BYTES
    return raw + b"\0" * pad


@dataclass(frozen=True, slots=True)
class CanonicalPrompt:
    """A prompt in canonical form: head (tools + leading system) and body segments."""

    head: tuple[str, ...]
    body: tuple[str, ...]

    def head_digest(self) -> bytes:
        """Identity of tools + system: every cached prefix is keyed under it."""
        digest = hashlib.sha256()
        for segment in self.head:
            digest.update(_segment_bytes(segment))
            digest.update(b"\x1e")
        return digest.digest()

    def token_bytes(self) -> bytes:
        """The whole sequence, 4 bytes per token."""
        return b"".join(_segment_bytes(s) for s in (*self.head, *self.body))

    @property
    def tokens(self) -> int:
        return len(self.token_bytes()) // TOKEN_BYTES


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _arguments(raw: Any) -> str:
    """Tool-call arguments as canonical JSON whether they came as a string or an object."""
    if isinstance(raw, str):
        try:
            return _json(json.loads(raw))
        except ValueError:
            return raw
    return _json(raw if raw is not None else {})


def _url_ref(kind: str, url: str) -> str:
    return f"{kind}:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def _tool_segment(name: Any, description: Any, parameters: Any) -> str:
    return "tool:" + _json(
        {"name": name, "description": description or "", "parameters": parameters or {}}
    )


def _flatten_text(content: Any) -> str:
    """Text of a tool result, whatever its shape (string, parts, blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return "\n".join(texts)
    return "" if content is None else _json(content)


def _texts(content: Any) -> list[str]:
    """The texts of a string, or of the text parts / text blocks of a list."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        str(p.get("text", ""))
        for p in content
        if isinstance(p, Mapping) and p.get("type") == "text"
    ]


def _system_segment(texts: list[str]) -> list[str]:
    return ["system:" + "\n\n".join(texts)] if texts else []


# -- OpenAI -------------------------------------------------------------------------------------


def _openai_parts(role: str, content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [f"{role}:{content}"] if content or role != "assistant" else []
    segments: list[str] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            segments.append(f"{role}:{part.get('text', '')}")
        elif kind in ("image_url", "video_url"):
            ref = part.get(kind)
            url = ref.get("url", "") if isinstance(ref, Mapping) else str(ref or "")
            segments.append(_url_ref("image" if kind == "image_url" else "video", url))
    return segments


def openai_prompt(body: Mapping[str, Any]) -> CanonicalPrompt:
    head: list[str] = []
    for tool in body.get("tools") or []:
        fn = tool.get("function", {}) if isinstance(tool, Mapping) else {}
        head.append(_tool_segment(fn.get("name"), fn.get("description"), fn.get("parameters")))
    messages: Sequence[Any] = body.get("messages") or []
    system: list[str] = []
    start = 0
    while (
        start < len(messages)
        and isinstance(messages[start], Mapping)
        and messages[start].get("role") == "system"
    ):
        system.extend(_texts(messages[start].get("content")))
        start += 1
    head.extend(_system_segment(system))
    segments: list[str] = []
    for msg in messages[start:]:
        if not isinstance(msg, Mapping):
            continue
        role = str(msg.get("role"))
        if role == "tool":
            segments.append(
                f"result:{msg.get('tool_call_id', '')}:{_flatten_text(msg.get('content'))}"
            )
            continue
        if role == "assistant" and msg.get("reasoning_content"):
            segments.append(f"thinking:{msg['reasoning_content']}")
        segments.extend(_openai_parts(role, msg.get("content")))
        for call in msg.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, Mapping) else {}
            segments.append(
                f"call:{call.get('id', '')}:{fn.get('name', '')}:{_arguments(fn.get('arguments'))}"
            )
    return CanonicalPrompt(tuple(head), tuple(segments))


# -- Anthropic ----------------------------------------------------------------------------------


def _anthropic_image_url(source: Any) -> str:
    if not isinstance(source, Mapping):
        return ""
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', '')};base64,{source.get('data', '')}"
    return str(source.get("url") or source.get("file_id") or "")


def _anthropic_blocks(role: str, content: Any) -> list[str]:
    if isinstance(content, str):
        return [f"{role}:{content}"]
    segments: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            segments.append(f"{role}:{block.get('text', '')}")
        elif kind == "thinking":
            segments.append(f"thinking:{block.get('thinking', '')}")
        elif kind == "image":
            segments.append(_url_ref("image", _anthropic_image_url(block.get("source"))))
        elif kind == "tool_use":
            segments.append(
                f"call:{block.get('id', '')}:{block.get('name', '')}:{_arguments(block.get('input'))}"
            )
        elif kind == "tool_result":
            segments.append(
                f"result:{block.get('tool_use_id', '')}:{_flatten_text(block.get('content'))}"
            )
    return segments


def anthropic_prompt(body: Mapping[str, Any]) -> CanonicalPrompt:
    head: list[str] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, Mapping):
            head.append(
                _tool_segment(tool.get("name"), tool.get("description"), tool.get("input_schema"))
            )
    head.extend(_system_segment(_texts(body.get("system"))))
    segments: list[str] = []
    for msg in body.get("messages") or []:
        if isinstance(msg, Mapping):
            segments.extend(_anthropic_blocks(str(msg.get("role")), msg.get("content")))
    return CanonicalPrompt(tuple(head), tuple(segments))
