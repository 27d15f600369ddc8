"""Token usage with the cache fields kept apart, and its two wire forms.

The conversion rule, in one place:

- Anthropic ``input_tokens`` EXCLUDES cache reads and cache writes; the whole prompt is
  ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``.
- OpenAI ``prompt_tokens`` is the whole prompt; the cache read is
  ``prompt_tokens_details.cached_tokens``. Kimi puts it at ``usage.cached_tokens`` instead
  (Moonshot), and may put the whole usage object in ``choices[0].usage``; both are read.
- Cache writes have no standard OpenAI field. They are read from ``cache_creation_input_tokens`` or
  ``prompt_tokens_details.cache_creation_tokens`` / ``cache_write_tokens`` when present and
  written back as ``prompt_tokens_details.cache_write_tokens`` (the name the openai SDK
  models) only when non-zero.

So ``Usage.from_openai(u).input_other == max(prompt - cache_read - cache_creation, 0)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "openai_usage_of"]


def _int(value: Any) -> int:
    # Upstreams send null, floats or nothing at all for fields they do not track.
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one response: ``input_other`` excludes both cache counts."""

    input_other: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0

    @property
    def prompt(self) -> int:
        return self.input_other + self.cache_read + self.cache_creation

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        details = usage.get("prompt_tokens_details") or {}
        cache_read = _int(usage.get("cached_tokens")) or _int(details.get("cached_tokens"))
        cache_creation = (
            _int(usage.get("cache_creation_input_tokens"))
            or _int(details.get("cache_creation_tokens"))
            or _int(details.get("cache_write_tokens"))
        )
        prompt = _int(usage.get("prompt_tokens"))
        return cls(
            input_other=max(prompt - cache_read - cache_creation, 0),
            output=_int(usage.get("completion_tokens")),
            cache_read=cache_read,
            cache_creation=cache_creation,
        )

    @classmethod
    def from_anthropic(cls, usage: Mapping[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        return cls(
            input_other=_int(usage.get("input_tokens")),
            output=_int(usage.get("output_tokens")),
            cache_read=_int(usage.get("cache_read_input_tokens")),
            cache_creation=_int(usage.get("cache_creation_input_tokens")),
        )

    def merged_anthropic(self, usage: Mapping[str, Any] | None) -> Usage:
        """Apply a ``message_delta.usage``: counts are cumulative, absent fields keep their value."""
        if not usage:
            return self
        get = usage.get
        return Usage(
            input_other=_int(get("input_tokens"))
            if get("input_tokens") is not None
            else self.input_other,
            output=_int(get("output_tokens")) if get("output_tokens") is not None else self.output,
            cache_read=(
                _int(get("cache_read_input_tokens"))
                if get("cache_read_input_tokens") is not None
                else self.cache_read
            ),
            cache_creation=(
                _int(get("cache_creation_input_tokens"))
                if get("cache_creation_input_tokens") is not None
                else self.cache_creation
            ),
        )

    def to_anthropic(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_other,
            "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
        }

    def to_openai(self) -> dict[str, Any]:
        details: dict[str, int] = {"cached_tokens": self.cache_read}
        if self.cache_creation:
            details["cache_write_tokens"] = self.cache_creation
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.output,
            "total_tokens": self.prompt + self.output,
            "prompt_tokens_details": details,
        }


def openai_usage_of(chunk: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The usage object of an OpenAI response or chunk: top level, else Kimi's ``choices[0].usage``."""
    usage = chunk.get("usage")
    if usage:
        return usage  # type: ignore[no-any-return]
    choices = chunk.get("choices")
    if choices and isinstance(choices, list) and isinstance(choices[0], dict):
        nested = choices[0].get("usage")
        if nested:
            return nested  # type: ignore[no-any-return]
    return None
