"""The neutral answer both dialects render, SSE framing, and stream faults applied to frames.

Everything here is pure: a ``Reply`` goes in, bytes come out. The route glue in ``model.py``
only writes the frames (and sleeps between them for slow streams).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from kimibridge.emulator.faults import Fault, FaultKind
from kimibridge.emulator.scenario import ToolCallSpec
from kimibridge.emulator.tokens import count_text_tokens, truncate_to_tokens

__all__ = [
    "CREATED",
    "MALFORMED_EVENT",
    "MALFORMED_FRAME",
    "Finish",
    "Reply",
    "apply_stream_fault",
    "build_reply",
    "data_frame",
    "event_frame",
    "parse_frames",
    "pieces",
]

Finish = Literal["stop", "length", "tool_calls"]

# A fixed timestamp keeps answers byte-identical for identical requests.
CREATED = 1767225600
PIECE_CHARS = 24  # characters per streamed text or argument fragment
# Invalid JSON under a name each dialect's SDK decodes (unknown Anthropic event names are skipped).
MALFORMED_FRAME = b'data: {"id": "malformed", "choices": [{"delta": {"content": \n\n'
MALFORMED_EVENT = b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'


@dataclass(frozen=True, slots=True)
class Reply:
    """One model answer after the thinking and max-tokens decisions, with its usage."""

    model: str
    seed: str  # hex digest of the request; ids derive from it
    thinking: str | None
    text: str
    tool_calls: tuple[ToolCallSpec, ...]  # ids filled in
    finish: Finish
    prompt_tokens: int
    cached_tokens: int

    @property
    def completion_tokens(self) -> int:
        spent = count_text_tokens(self.thinking or "") + count_text_tokens(self.text)
        return spent + sum(count_text_tokens(c.arguments) for c in self.tool_calls)


def build_reply(
    *,
    model: str,
    seed: str,
    thinking: str | None,
    text: str,
    tool_calls: tuple[ToolCallSpec, ...],
    max_tokens: int,
    prompt_tokens: int,
    cached_tokens: int,
) -> Reply:
    """Cut the answer at ``max_tokens`` (thinking first, then text, then whole tool calls)."""
    budget = max(max_tokens, 0)
    finish: Finish = "tool_calls" if tool_calls else "stop"
    if thinking is not None and count_text_tokens(thinking) > budget:
        thinking, text, tool_calls, finish = truncate_to_tokens(thinking, budget), "", (), "length"
    budget -= count_text_tokens(thinking or "")
    if finish != "length" and count_text_tokens(text) > budget:
        text, tool_calls, finish = truncate_to_tokens(text, budget), (), "length"
    budget -= count_text_tokens(text)
    if finish == "tool_calls" and sum(count_text_tokens(c.arguments) for c in tool_calls) > budget:
        tool_calls, finish = (), "length"
    return Reply(model, seed, thinking, text, tool_calls, finish, prompt_tokens, cached_tokens)


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def data_frame(obj: object) -> bytes:
    return f"data: {_dumps(obj)}\n\n".encode()


def event_frame(name: str, obj: object) -> bytes:
    return f"event: {name}\ndata: {_dumps(obj)}\n\n".encode()


def apply_stream_fault(
    frames: list[bytes], fault: Fault | None, malformed: bytes = MALFORMED_FRAME
) -> tuple[list[bytes], bool]:
    """Frames to send and whether to end the response normally afterwards.

    ``stream_cut``: only the first ``after_chunks`` frames, then the connection is dropped (no
    terminator). ``malformed_chunk``: one invalid-JSON data frame after ``after_chunks`` frames,
    then the rest of the stream as usual (clients that skip bad lines still finish; strict ones
    raise a decode error).
    """
    if fault is None:
        return frames, True
    n = max(fault.after_chunks, 0)
    if fault.kind is FaultKind.STREAM_CUT:
        return frames[:n], False
    if fault.kind is FaultKind.MALFORMED_CHUNK:
        return [*frames[:n], malformed, *frames[n:]], True
    return frames, True


def parse_frames(raw: bytes) -> Iterator[tuple[str | None, str]]:
    """``(event name or None, data)`` per SSE frame; for tests and tools reading streams back."""
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        yield event, "\n".join(data)
