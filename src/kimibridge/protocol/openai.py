"""OpenAI Chat Completions wire shapes and the small facts about them.

``TypedDict``s for the same reason as :mod:`kimibridge.protocol.anthropic`: documentation of a
plain-dict walk, no validation cost on the hot path, unknown keys kept.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

__all__ = [
    "OPENAI_DONE",
    "OPENAI_ERROR_TYPES",
    "OpenAIChunk",
    "OpenAIFinishReason",
    "OpenAIMessage",
    "OpenAIRequest",
    "OpenAIResponse",
    "OpenAIStreamItem",
    "OpenAIToolCall",
    "openai_error",
]

OpenAIFinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]

# The literal ``data: [DONE]`` terminator, as a stream item next to chunk dicts.
OPENAI_DONE: Final = "[DONE]"

OPENAI_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class OpenAIToolCall(TypedDict, total=False):
    index: int  # stream deltas only
    id: str
    type: Literal["function"]
    function: dict[str, Any]  # {"name": str, "arguments": str (JSON text)}


class OpenAIMessage(TypedDict, total=False):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[OpenAIToolCall]
    tool_call_id: str
    reasoning_content: str  # Kimi / DeepSeek / vLLM extension


class OpenAIRequest(TypedDict, total=False):
    model: str
    messages: list[OpenAIMessage]
    max_tokens: int
    max_completion_tokens: int
    stop: str | list[str]
    stream: bool
    stream_options: dict[str, Any]
    temperature: float
    top_p: float
    tools: list[dict[str, Any]]
    tool_choice: str | dict[str, Any]
    parallel_tool_calls: bool
    reasoning_effort: str
    response_format: dict[str, Any]
    user: str


class OpenAIResponse(TypedDict, total=False):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any]


class OpenAIChunk(TypedDict, total=False):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, Any] | None
    error: dict[str, Any]


# What an OpenAI-side stream translator emits: chunk dicts, then the ``[DONE]`` marker.
OpenAIStreamItem = dict[str, Any] | Literal["[DONE]"]


def openai_error(
    message: str, *, status: int = 500, error_type: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The error body, also sent as a stream chunk: ``{"error": {"message", "type", "code"}}``."""
    kind = (
        error_type
        or OPENAI_ERROR_TYPES.get(status)
        or ("invalid_request_error" if 400 <= status < 500 else "server_error")
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
