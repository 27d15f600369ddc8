"""Pure translation between the Anthropic Messages and OpenAI Chat Completions dialects.

No I/O here: no sockets, no asyncio, nothing from ``kimibridge.kimi`` or ``kimibridge.gateway``.
The gateway reads bytes, feeds them in and writes out what comes back.

- Requests: :func:`anthropic_to_openai_request`, :func:`openai_to_anthropic_request`.
- Non-streaming responses: :func:`openai_to_anthropic_response`,
  :func:`anthropic_to_openai_response`.
- Streams: :class:`SSEParser` (bytes -> :class:`SSEEvent`), then
  :class:`OpenAIToAnthropicStream` or :class:`AnthropicToOpenAIStream` (events in, client
  events out), then :func:`encode_anthropic` / :func:`encode_openai` (events -> bytes).
  :class:`AnthropicMessageCollector` / :class:`OpenAICompletionCollector` fold a stream into
  the non-streaming response.
- Shared facts: :class:`Usage` (the cache-accounting rule), :class:`ToolIdMap` and
  :func:`sanitize_tool_id`, stop-reason mapping, error bodies per dialect.

A streaming route, OpenAI upstream to an Anthropic client::

    parser, t = SSEParser(), OpenAIToAnthropicStream(model=client_model, ids=ToolIdMap())
    await send(encode_anthropic(t.start()))            # message_start before the first byte
    async for data in upstream.content.iter_any():
        await send(b"".join(encode_anthropic(t.feed(e)) for e in parser.feed(data)))
    await send(encode_anthropic([e for ev in parser.close() for e in t.feed(ev)] + t.close()))

On an upstream exception or a client-side timeout, send ``encode_anthropic(t.error(msg))``;
on a ``TranslationError`` from ``feed``, send ``t.close()`` (it ends with an error event).
``t.usage`` and ``t.stop_reason`` are there for the ledger once the stream is over.

Kimi shaping (billing-header removal, effort gating, ``reasoning_content`` padding policy,
``tool_choice`` coercion, schema back-fill, the "(Empty response:" placeholder filter, model
mapping) is the gateway's: it runs before or after these functions, never inside them.
"""

from kimibridge.protocol.anthropic import (
    AnthropicEvent,
    AnthropicRequest,
    AnthropicResponse,
    anthropic_error,
    anthropic_error_type,
    synthesize_signature,
)
from kimibridge.protocol.collect import AnthropicMessageCollector, OpenAICompletionCollector
from kimibridge.protocol.content import parse_tool_arguments
from kimibridge.protocol.ids import ToolIdMap, is_valid_tool_id, sanitize_tool_id
from kimibridge.protocol.openai import (
    OPENAI_DONE,
    OpenAIChunk,
    OpenAIRequest,
    OpenAIResponse,
    OpenAIStreamItem,
    openai_error,
)
from kimibridge.protocol.requests import (
    DEFAULT_MAX_TOKENS,
    anthropic_to_openai_request,
    openai_to_anthropic_request,
)
from kimibridge.protocol.responses import (
    anthropic_error_to_openai,
    anthropic_stop_reason,
    anthropic_to_openai_response,
    openai_error_to_anthropic,
    openai_finish_reason,
    openai_to_anthropic_response,
)
from kimibridge.protocol.sse import (
    SSEEvent,
    SSEParser,
    encode_comment,
    encode_event,
    encode_json_event,
)
from kimibridge.protocol.streams import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    StreamState,
    encode_anthropic,
    encode_openai,
)
from kimibridge.protocol.usage import Usage, openai_usage_of

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "OPENAI_DONE",
    "AnthropicEvent",
    "AnthropicMessageCollector",
    "AnthropicRequest",
    "AnthropicResponse",
    "AnthropicToOpenAIStream",
    "OpenAIChunk",
    "OpenAICompletionCollector",
    "OpenAIRequest",
    "OpenAIResponse",
    "OpenAIStreamItem",
    "OpenAIToAnthropicStream",
    "SSEEvent",
    "SSEParser",
    "StreamState",
    "ToolIdMap",
    "Usage",
    "anthropic_error",
    "anthropic_error_to_openai",
    "anthropic_error_type",
    "anthropic_stop_reason",
    "anthropic_to_openai_request",
    "anthropic_to_openai_response",
    "encode_anthropic",
    "encode_comment",
    "encode_event",
    "encode_json_event",
    "encode_openai",
    "is_valid_tool_id",
    "openai_error",
    "openai_error_to_anthropic",
    "openai_finish_reason",
    "openai_to_anthropic_request",
    "openai_to_anthropic_response",
    "openai_usage_of",
    "parse_tool_arguments",
    "sanitize_tool_id",
    "synthesize_signature",
]
