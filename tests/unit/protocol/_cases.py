"""Shared stream cases (kosong COMMON_CASES style), written out in both dialects by hand.

A case is a script of what the model said. ``openai_sse`` renders it the way Kimi's OpenAI
endpoint streams it, ``anthropic_sse`` the way an Anthropic endpoint does; neither uses the
code under test, so a translator bug cannot agree with itself. ``anthropic_message`` and
``openai_message`` are the final messages a correct translation must collect to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kimibridge.protocol import sanitize_tool_id, synthesize_signature


@dataclass(frozen=True)
class Tool:
    id: str
    name: str
    fragments: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


# A step is ("think", text) | ("text", text) | Tool
Step = tuple[str, str] | Tool


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    finish: str = "stop"  # OpenAI finish_reason
    stop_reason: str = "end_turn"  # the matching Anthropic stop_reason
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt": 120, "cached": 100, "completion": 7}
    )
    kimi_usage: bool = True  # usage in choices[0].usage of the finish chunk (Kimi) or a usage chunk


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "kimi-for-coding",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}],
    }


def _data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def openai_usage(case: Case) -> dict[str, Any]:
    u = case.usage
    return {
        "prompt_tokens": u["prompt"],
        "completion_tokens": u["completion"],
        "total_tokens": u["prompt"] + u["completion"],
        "cached_tokens": u["cached"],
    }


def openai_sse(case: Case) -> bytes:
    out = [_data(_chunk({"role": "assistant", "content": ""}))]
    tool_index = 0
    for step in case.steps:
        if isinstance(step, Tool):
            first, *rest = step.fragments or ("",)
            call = {
                "index": tool_index,
                "id": step.id,
                "type": "function",
                "function": {"name": step.name, "arguments": first},
            }
            out.append(_data(_chunk({"tool_calls": [call]})))
            for frag in rest:
                frag_call = {"index": tool_index, "function": {"arguments": frag}}
                out.append(_data(_chunk({"tool_calls": [frag_call]})))
            tool_index += 1
        elif step[0] == "think":
            out.append(_data(_chunk({"reasoning_content": step[1]})))
        else:
            out.append(_data(_chunk({"content": step[1]})))
    if case.kimi_usage:
        out.append(_data(_chunk({}, case.finish, usage=openai_usage(case))))
    else:
        out.append(_data(_chunk({}, case.finish)))
        usage_chunk = _chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = openai_usage(case)
        out.append(_data(usage_chunk))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\n".encode() + _data(obj)


def anthropic_usage(case: Case) -> dict[str, int]:
    u = case.usage
    return {
        "input_tokens": u["prompt"] - u["cached"],
        "output_tokens": u["completion"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": u["cached"],
    }


def _merged(case: Case) -> list[tuple[str, Any]]:
    """Consecutive steps of the same kind form one block."""
    blocks: list[tuple[str, Any]] = []
    for step in case.steps:
        if isinstance(step, Tool):
            blocks.append(("tool", step))
        elif blocks and blocks[-1][0] == step[0]:
            blocks[-1] = (step[0], blocks[-1][1] + [step[1]])
        else:
            blocks.append((step[0], [step[1]]))
    return blocks


def anthropic_sse(case: Case) -> bytes:
    start_usage = dict(anthropic_usage(case), output_tokens=1)
    message: dict[str, Any] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "kimi-for-coding",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    out = [_event({"type": "message_start", "message": message}), _event({"type": "ping"})]
    for index, (kind, value) in enumerate(_merged(case)):
        if kind == "tool":
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": value.id,
                "name": value.name,
                "input": {},
            }
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in value.fragments]
        elif kind == "think":
            block = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": t} for t in value]
            deltas.append({"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in value]
        out.append(_event({"type": "content_block_start", "index": index, "content_block": block}))
        for delta in deltas:
            out.append(_event({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_event({"type": "content_block_stop", "index": index}))
    out.append(
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": case.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": case.usage["completion"]},
            }
        )
    )
    out.append(_event({"type": "message_stop"}))
    return b"".join(out)


def anthropic_content(case: Case, *, signatures: str = "synth") -> list[dict[str, Any]]:
    """Final content blocks; thinking signatures synthesised (from OpenAI) or as streamed."""
    content: list[dict[str, Any]] = []
    for kind, value in _merged(case):
        if kind == "tool":
            content.append(
                {
                    "type": "tool_use",
                    "id": sanitize_tool_id(value.id),
                    "name": value.name,
                    "input": json.loads(value.arguments or "{}"),
                }
            )
        elif kind == "think":
            text = "".join(value)
            sig = synthesize_signature(text) if signatures == "synth" else "c2lnbmF0dXJl"
            content.append({"type": "thinking", "thinking": text, "signature": sig})
        else:
            content.append({"type": "text", "text": "".join(value)})
    return content


def openai_message(case: Case, *, sanitize: bool = False) -> dict[str, Any]:
    texts = [s[1] for s in case.steps if not isinstance(s, Tool) and s[0] == "text"]
    thinks = [s[1] for s in case.steps if not isinstance(s, Tool) and s[0] == "think"]
    tools = [s for s in case.steps if isinstance(s, Tool)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if thinks:
        message["reasoning_content"] = "".join(thinks)
    if tools:
        message["tool_calls"] = [
            {
                "id": sanitize_tool_id(t.id) if sanitize else t.id,
                "type": "function",
                "function": {"name": t.name, "arguments": t.arguments or "{}"},
            }
            for t in tools
        ]
    elif message["content"] is None:
        message["content"] = ""
    return message


BASH = Tool("functions.Bash:0", "Bash", ('{"command": ', '"ls -la"', "}"))
READ_A = Tool("functions.Read:1", "Read", ('{"file_path": "/a.py"}',))
READ_B = Tool("functions.Read:2", "Read", ('{"file_', 'path": "/b.py"}'))
NOARGS = Tool("toolu_noargs", "ListAgents", ())

COMMON_CASES: list[Case] = [
    Case("text", (("text", "Hello"), ("text", ", world."))),
    Case(
        "thinking_then_text",
        (("think", "The user wants "), ("think", "a greeting."), ("text", "Hi!")),
    ),
    Case("unicode", (("text", "héllo — 世界 🎉"),)),
    Case("single_tool", (("text", "Let me look."), BASH), "tool_calls", "tool_use"),
    Case(
        "thinking_parallel_tools",
        (("think", "Read both."), ("text", "Reading."), READ_A, READ_B),
        "tool_calls",
        "tool_use",
    ),
    Case("tool_only", (BASH,), "tool_calls", "tool_use", kimi_usage=False),
    Case("tool_without_arguments", (NOARGS,), "tool_calls", "tool_use"),
    Case("text_after_tool", (BASH, ("text", "Running it now.")), "tool_calls", "tool_use"),
    Case("max_tokens", (("text", "Once upon a"),), "length", "max_tokens", kimi_usage=False),
    Case("usage_chunk_after_finish", (("text", "ok"),), kimi_usage=False),
]
