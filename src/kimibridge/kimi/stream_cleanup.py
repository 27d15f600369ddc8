"""Kimi stream quirks fixed on the way back, as small sans-I/O filters over parsed events.

- **Thinking-only placeholder**: when a turn produced only thinking, Kimi may send the text
  ``(Empty response: {'content': [{'type': 'thinking', ...}]})`` as the answer
  (pi-provider-kimi-code ``filterEmptyResponseStream``). Text is held back while it is still a
  prefix of ``(Empty response:``; once it starts with it, that text is dropped, otherwise the
  held text is released and streaming goes on.
- **Usage placement** (OpenAI): Kimi puts the final usage in ``choices[0].usage`` with cached
  tokens at ``usage.cached_tokens``; OpenAI clients read top-level ``usage`` and
  ``prompt_tokens_details.cached_tokens``. The usage is copied to where clients look.

Each ``feed`` returns the events to send on and whether the event was changed, so the gateway
forwards untouched events as the upstream's own bytes.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["PLACEHOLDER_PREFIX", "AnthropicStreamCleanup", "OpenAIStreamCleanup"]

PLACEHOLDER_PREFIX: Final = "(Empty response:"

_UNDECIDED, _PASS, _DROP = 0, 1, 2


def _decide(held: str) -> int:
    if held.startswith(PLACEHOLDER_PREFIX):
        return _DROP
    if PLACEHOLDER_PREFIX.startswith(held):
        return _UNDECIDED
    return _PASS


def normalize_openai_usage(chunk: dict[str, Any]) -> bool:
    """Copy Kimi's ``choices[0].usage`` to the top level and mirror ``cached_tokens``; True if changed."""
    changed = False
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        choices = chunk.get("choices")
        inner = choices[0].get("usage") if choices and isinstance(choices[0], dict) else None
        if isinstance(inner, dict):
            usage = chunk["usage"] = dict(inner)
            changed = True
    if isinstance(usage, dict):
        cached = usage.get("cached_tokens")
        details = usage.get("prompt_tokens_details")
        if isinstance(cached, int) and not (
            isinstance(details, dict) and "cached_tokens" in details
        ):
            usage["prompt_tokens_details"] = {**(details or {}), "cached_tokens": cached}
            changed = True
    return changed


class OpenAIStreamCleanup:
    """Over parsed ``chat.completion.chunk`` dicts (also a non-stream ``chat.completion``)."""

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state: dict[int, int] = {}
        self._held: dict[int, str] = {}

    @property
    def settled(self) -> bool:
        """Every choice seen has shown ordinary text: later content passes unchanged."""
        return (
            bool(self._state) and not self._held and all(v == _PASS for v in self._state.values())
        )

    def feed(self, chunk: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        changed = normalize_openai_usage(chunk)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return [chunk], changed
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            index = choice.get("index", 0)
            state = self._state.get(index, _UNDECIDED)
            text = delta.get("content")
            if isinstance(text, str) and text and state != _PASS:
                changed = True
                if state == _DROP:
                    delta.pop("content")
                else:
                    held = self._held.get(index, "") + text
                    state = self._state[index] = _decide(held)
                    if state == _UNDECIDED:
                        self._held[index] = held
                        delta.pop("content")
                    elif state == _DROP:
                        self._held.pop(index, None)
                        delta.pop("content")
                    else:
                        self._held.pop(index, None)
                        delta["content"] = held
            if choice.get("finish_reason") and self._held.get(index):
                delta["content"] = self._held.pop(index) + (delta.get("content") or "")
                self._state[index] = _PASS
                changed = True
        if changed and _empty_chunk(chunk):
            return [], True
        return [chunk], changed

    def feed_message(self, response: dict[str, Any]) -> dict[str, Any]:
        """A non-stream response: drop a placeholder answer, normalise usage."""
        normalize_openai_usage(response)
        for choice in response.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                content = message.get("content")
                if isinstance(content, str) and content.startswith(PLACEHOLDER_PREFIX):
                    message["content"] = ""
        return response


def _empty_chunk(chunk: dict[str, Any]) -> bool:
    """A chunk left with nothing to say once held text was removed."""
    if chunk.get("usage"):
        return False
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            return False
        if choice.get("finish_reason") or choice.get("usage"):
            return False
        delta = choice.get("delta") or {}
        if any(v not in (None, "") for v in delta.values()):
            return False
    return bool(chunk.get("choices"))


class AnthropicStreamCleanup:
    """Over parsed Anthropic stream events (dicts with ``type``).

    A placeholder text block is removed whole (start, deltas, stop), and later block indices are
    shifted down so the client still sees contiguous indices.
    """

    __slots__ = ("_dropped", "_held", "_shift", "_state")

    def __init__(self) -> None:
        self._state: dict[int, int] = {}
        self._held: dict[int, list[dict[str, Any]]] = {}
        self._dropped: set[int] = set()
        self._shift = 0

    def feed(self, event: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        kind = event.get("type")
        index = event.get("index")
        if not isinstance(index, int) or kind not in (
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
        ):
            return [event], False
        if index in self._dropped:
            return [], True
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "text" and not block.get("text"):
                self._state[index] = _UNDECIDED
                self._held[index] = [event]
                return [], True
            return self._shifted([event])
        state = self._state.get(index, _PASS)
        if state == _PASS:
            return self._shifted([event])
        held = self._held[index]
        held.append(event)
        if kind == "content_block_stop":
            # Undecided at the end: short text that only looked like the prefix; release it.
            self._state[index] = _PASS
            return self._shifted(self._held.pop(index))
        text = "".join(
            e.get("delta", {}).get("text", "") for e in held if e["type"] == "content_block_delta"
        )
        decision = _decide(text)
        if decision == _UNDECIDED:
            return [], True
        self._state[index] = decision
        events = self._held.pop(index)
        if decision == _DROP:
            self._dropped.add(index)
            self._shift += 1
            return [], True
        return self._shifted(events)

    def _shifted(self, events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        if not self._shift:
            return events, len(events) != 1
        for event in events:
            event["index"] = event["index"] - self._shift
        return events, True

    def feed_message(self, message: dict[str, Any]) -> dict[str, Any]:
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = [
                b
                for b in content
                if not (
                    isinstance(b, dict)
                    and b.get("type") == "text"
                    and str(b.get("text", "")).startswith(PLACEHOLDER_PREFIX)
                )
            ]
        return message
