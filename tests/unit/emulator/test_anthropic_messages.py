"""Anthropic dialect: block checks, usage semantics, and the exact event grammar parsed back."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.emulator import anthropic_messages as am
from kimibridge.emulator.scenario import ToolCallSpec
from kimibridge.emulator.sse import build_reply, parse_frames


def body(**kw: Any) -> dict[str, Any]:
    return {
        "model": "kimi-for-coding",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **kw,
    }


def test_accepts_what_claude_code_sends() -> None:
    b = body(
        system=[
            {"type": "text", "text": "billing"},
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}},
        ],
        metadata={"user_id": "{}"},
        thinking={"type": "adaptive", "display": "updates"},
        context_management={"edits": []},
        output_config={"effort": "medium"},
        tool_choice={"type": "auto"},
        tools=[{"name": "DeferredToolPlaceholder", "input_schema": {}, "defer_loading": True}],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            },
            {"role": "system", "content": "env"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": ""},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "ok"}],
                        "is_error": False,
                    }
                ],
            },
        ],
    )
    assert am.check_request(b) is None


def test_document_blocks_are_rejected_like_kimi() -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    found = am.check_request(
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "read"}, doc]}])
    )
    assert found is not None
    status, kind, message = found
    assert (status, kind) == (400, "invalid_request_error")
    assert (
        "messages.0.content.1" in message
        and "'document'" in message
        and "'web_search_tool_result'" in message
    )


def test_tool_limits_apply_on_this_side_too() -> None:
    tools = [{"name": f"t{i}", "input_schema": {}} for i in range(129)]
    assert am.check_request(body(tools=tools)) is not None


def test_any_model_name_is_served() -> None:
    assert am.resolve_model(body(model="claude-opus-5-5")).id == "kimi-for-coding"
    assert am.resolve_model(body(model="k3")).id == "k3"


def test_thinking_switch() -> None:
    info = am.resolve_model(body())
    assert am.thinking_on(body(), info)
    assert am.thinking_on(body(thinking={"type": "enabled", "budget_tokens": 2048}), info)
    assert not am.thinking_on(body(thinking={"type": "disabled"}), info)


def test_signature_is_opaque_and_fixed_length() -> None:
    assert len(am.signature("a")) == len(am.signature("a much longer thought " * 50)) == 88


def reply(**kw: Any) -> Any:
    args: dict[str, Any] = dict(
        model="kimi-for-coding",
        seed="cd" * 32,
        thinking="a thought that is long enough to split",
        text="The answer, in a few pieces of text.",
        tool_calls=(
            ToolCallSpec("Bash", json.dumps({"command": "echo hello > out.txt"}), "toolu_1"),
            ToolCallSpec("Read", "{}", "toolu_2"),
        ),
        max_tokens=1000,
        prompt_tokens=1000,
        cached_tokens=768,
    )
    args.update(kw)
    return build_reply(**args)


def events(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, data in parse_frames(b"".join(frames)):
        payload = json.loads(data)
        assert name == payload["type"]
        out.append((str(name), payload))
    return out


def test_event_grammar() -> None:
    r = reply()
    evs = events(am.render_stream(r))
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    start = evs[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    # Blocks are sequential: start, deltas, stop, with indexes 0..n-1.
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for name, ev in evs[1:-2]:
        if name == "ping":
            continue
        if name == "content_block_start":
            assert open_index is None and ev["index"] == len(blocks)
            open_index = ev["index"]
            blocks.append({**ev["content_block"], "deltas": []})
        elif name == "content_block_delta":
            assert ev["index"] == open_index
            blocks[-1]["deltas"].append(ev["delta"])
        else:
            assert name == "content_block_stop" and ev["index"] == open_index
            open_index = None
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, bash, read = blocks
    assert (
        "".join(d["thinking"] for d in thinking["deltas"] if d["type"] == "thinking_delta")
        == r.thinking
    )
    assert thinking["deltas"][-1] == {
        "type": "signature_delta",
        "signature": am.signature(r.thinking),
    }
    assert "".join(d["text"] for d in text["deltas"]) == r.text
    assert bash["input"] == {} and bash["id"] == "toolu_1" and bash["name"] == "Bash"
    assert json.loads("".join(d["partial_json"] for d in bash["deltas"])) == {
        "command": "echo hello > out.txt"
    }
    assert json.loads("".join(d["partial_json"] for d in read["deltas"])) == {}
    delta = evs[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {
        "input_tokens": 232,
        "output_tokens": r.completion_tokens,
        "cache_read_input_tokens": 768,
        "cache_creation_input_tokens": 0,
    }


def test_text_only_and_length_stop() -> None:
    r = reply(thinking=None, tool_calls=(), max_tokens=3)
    evs = events(am.render_stream(r))
    assert [e["content_block"]["type"] for n, e in evs if n == "content_block_start"] == ["text"]
    assert evs[-2][1]["delta"]["stop_reason"] == "max_tokens"
    out = am.render_json(r)
    assert out["stop_reason"] == "max_tokens" and out["content"][0]["type"] == "text"


def test_non_stream_message() -> None:
    out = am.render_json(reply())
    assert [b["type"] for b in out["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert out["content"][2]["input"] == {"command": "echo hello > out.txt"}
    assert out["usage"]["cache_creation_input_tokens"] == 0
    assert out["id"].startswith("msg_") and out["stop_reason"] == "tool_use"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.none() | st.text(max_size=120),
    st.text(max_size=200),
    st.lists(st.dictionaries(st.text(max_size=5), st.text(max_size=40)), max_size=3),
    st.integers(0, 200),
)
def test_stream_reassembles_to_the_non_stream_message(
    thinking: str | None, text: str, inputs: list[dict[str, str]], max_tokens: int
) -> None:
    specs = tuple(ToolCallSpec("Bash", json.dumps(a), f"toolu_{i}") for i, a in enumerate(inputs))
    r = reply(thinking=thinking, text=text, tool_calls=specs, max_tokens=max_tokens)
    whole = am.render_json(r)
    content: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    stop_reason = None
    for name, ev in events(am.render_stream(r)):
        if name == "content_block_start":
            content.append(dict(ev["content_block"]))
        elif name == "content_block_delta":
            block, delta = content[ev["index"]], ev["delta"]
            if delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial[ev["index"]] = partial.get(ev["index"], "") + delta["partial_json"]
        elif name == "message_delta":
            stop_reason = ev["delta"]["stop_reason"]
            assert ev["usage"] == whole["usage"]
    for index, raw in partial.items():
        content[index]["input"] = json.loads(raw)
    assert content == whole["content"]
    assert stop_reason == whole["stop_reason"]
