"""Anthropic Messages wire shapes and the small facts about them.

The shapes are ``TypedDict``s, not validating models: bodies are walked as plain dicts on the
gateway's hot path (a 50 KB Claude Code request must cost well under a millisecond), and
unknown keys simply stay in the dict. The types document what the translators read and write.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "AnthropicContentBlock",
    "AnthropicEvent",
    "AnthropicMessage",
    "AnthropicRequest",
    "AnthropicResponse",
    "AnthropicStopReason",
    "AnthropicUsage",
    "anthropic_error",
    "anthropic_error_type",
    "synthesize_signature",
]

AnthropicStopReason = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"
]

# HTTP status -> Anthropic error type (docs.claude.com/en/api/errors).
ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


_ANTHROPIC_TYPES = frozenset(ANTHROPIC_ERROR_TYPES.values())


class AnthropicUsage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


class AnthropicContentBlock(TypedDict, total=False):
    """Any content block; ``type`` says which keys are meaningful."""

    type: str
    text: str
    thinking: str
    signature: str
    data: str  # redacted_thinking
    id: str
    name: str
    input: dict[str, Any]
    tool_use_id: str
    content: str | list[dict[str, Any]]
    is_error: bool
    source: dict[str, Any]
    cache_control: dict[str, Any]


class AnthropicMessage(TypedDict):
    role: Literal["user", "assistant", "system"]  # "system" inline: Claude Code 2.1.330 sends it
    content: str | list[AnthropicContentBlock]


class AnthropicRequest(TypedDict, total=False):
    model: str
    messages: list[AnthropicMessage]
    system: str | list[AnthropicContentBlock]
    max_tokens: int
    stop_sequences: list[str]
    stream: bool
    temperature: float
    top_p: float
    top_k: int
    tools: list[dict[str, Any]]
    tool_choice: dict[str, Any]
    thinking: dict[str, Any]
    output_config: dict[str, Any]
    metadata: dict[str, Any]


class AnthropicResponse(TypedDict):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[AnthropicContentBlock]
    stop_reason: str | None
    stop_sequence: str | None
    usage: AnthropicUsage
    container: NotRequired[Any]


class AnthropicEvent(TypedDict, total=False):
    """A stream event: ``type`` equals the SSE ``event:`` name."""

    type: str
    message: dict[str, Any]
    index: int
    content_block: dict[str, Any]
    delta: dict[str, Any]
    usage: dict[str, Any]
    error: dict[str, Any]


def anthropic_error_type(status: int, upstream_type: str | None = None) -> str:
    """The Anthropic error type for an HTTP status, refined by the upstream's own type name.

    Kimi's names (``rate_limit_reached_error``, ``exceeded_current_quota_error``,
    ``engine_overloaded_error``) map onto the closest Anthropic type.
    """
    kind = upstream_type or ""
    if kind in _ANTHROPIC_TYPES:
        return kind
    if "rate" in kind or "quota" in kind:
        return "rate_limit_error"
    if "overload" in kind:
        return "overloaded_error"
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def anthropic_error(
    message: str, *, status: int = 500, error_type: str | None = None
) -> dict[str, Any]:
    """The error body (also the ``error`` stream event's data): ``{"type": "error", "error": ...}``."""
    return {
        "type": "error",
        "error": {"type": error_type or anthropic_error_type(status), "message": message},
    }


def synthesize_signature(thinking: str) -> str:
    """A deterministic opaque signature for thinking that came without one (OpenAI side).

    Kimi's Anthropic endpoint does not validate signatures (continuity travels in the thinking
    text), and Anthropic clients require the field. Deriving it from the text keeps requests
    byte-stable across turns, which keeps the prefix cache warm. Never sent to a backend that
    validates signatures: such a backend is not reachable through this translation.
    """
    digest = hashlib.sha256(b"kimibridge-thinking\x00" + thinking.encode()).digest()
    return base64.b64encode(digest).decode()
