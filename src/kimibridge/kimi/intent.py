"""What the client asked for, read once from its request in its own dialect.

Thinking on or off and the effort (Anthropic ``thinking`` / ``output_config.effort``, OpenAI
``reasoning_effort`` or Kimi's own ``thinking``), and the client's session id for
``prompt_cache_key``. ``kimi.payload`` applies them after any translation, so translating a
request cannot lose them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "EFFORT_MAP",
    "ThinkingIntent",
    "intent_from_anthropic",
    "intent_from_openai",
    "session_key",
]

# Client effort names -> Kimi efforts (pi-provider-kimi-code `reasoningMap`).
EFFORT_MAP: Final[Mapping[str, str | None]] = {
    "none": None,
    "off": None,
    "minimal": "low",
    "low": "low",
    "medium": "high",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}


@dataclass(frozen=True, slots=True)
class ThinkingIntent:
    """What the client asked for: ``enabled`` None = said nothing; ``effort`` a Kimi effort."""

    enabled: bool | None = None
    effort: str | None = None
    budget_tokens: int | None = None


def _effort(value: object) -> tuple[bool | None, str | None]:
    if not isinstance(value, str):
        return None, None
    key = value.strip().lower()
    if key not in EFFORT_MAP:
        return None, None
    mapped = EFFORT_MAP[key]
    return (mapped is not None), mapped


def intent_from_anthropic(body: Mapping[str, Any]) -> ThinkingIntent:
    """``thinking`` {enabled, budget_tokens} / {adaptive} / {disabled}, ``output_config.effort``."""
    thinking = body.get("thinking")
    enabled: bool | None = None
    effort: str | None = None
    budget: int | None = None
    if isinstance(thinking, Mapping):
        kind = thinking.get("type")
        if kind in ("enabled", "adaptive"):
            enabled = True
            raw = thinking.get("budget_tokens")
            if isinstance(raw, int) and not isinstance(raw, bool):
                budget = raw
                # CCR's buckets (src/utils/thinking.ts) mapped through EFFORT_MAP.
                effort = "low" if raw <= 1024 else "high"
        elif kind == "disabled":
            enabled = False
    config = body.get("output_config")
    if isinstance(config, Mapping):
        on, mapped = _effort(config.get("effort"))
        if on is not None:
            effort = mapped
            if enabled is None:
                enabled = on
    return ThinkingIntent(enabled, effort, budget)


def intent_from_openai(body: Mapping[str, Any]) -> ThinkingIntent:
    """``reasoning_effort`` (OpenAI) or Kimi's own ``thinking`` {type, effort} (kimi-cli)."""
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "disabled"):
        on = thinking.get("type") == "enabled"
        _, effort = _effort(thinking.get("effort"))
        return ThinkingIntent(on, effort if on else None)
    on, effort = _effort(body.get("reasoning_effort"))
    return ThinkingIntent(on, effort)


def session_key(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    """The client's session id: Claude Code's header or ``metadata.user_id``, opencode's
    ``x-session-id``, an explicit ``prompt_cache_key``; None when the client names none."""
    explicit = body.get("prompt_cache_key")
    if isinstance(explicit, str) and explicit:
        return explicit
    for name in ("x-claude-code-session-id", "x-session-id", "session_id"):
        value = headers.get(name)
        if value:
            return value
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = json.loads(user_id)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str):
                return str(parsed["session_id"])
        _, sep, tail = user_id.partition("_session_")  # older `user_<hash>_account__session_<id>`
        if sep and tail:
            return tail
    return None
