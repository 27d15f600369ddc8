"""OpenAI dialect: Kimi's rejections, thinking, and the rendered stream parsed back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.emulator import openai_chat
from kimibridge.emulator.catalog import ModelInfo, get_model
from kimibridge.emulator.faults import Fault, FaultKind
from kimibridge.emulator.scenario import ToolCallSpec
from kimibridge.emulator.sse import MALFORMED_FRAME, apply_stream_fault, build_reply, parse_frames


def _model(model_id: str) -> ModelInfo:
    info = get_model(model_id)
    assert info is not None
    return info


K2, K3 = _model("kimi-for-coding"), _model("k3")


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}], **kw}


def tool(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "parameters": schema or {"type": "object"}},
    }


def rejection(b: dict[str, Any]) -> str | None:
    found = openai_chat.check_request(b, K2)
    if found is None:
        return None
    status, kind, message = found
    assert (status, kind) == (400, "invalid_request_error")
    return message


def test_plain_request_passes() -> None:
    assert (
        rejection(body(tools=[tool("bash")], tool_choice="auto", prompt_cache_key="k", store=False))
        is None
    )


def test_required_tool_choice_is_rejected() -> None:
    assert "required" in (rejection(body(tool_choice="required")) or "")


def test_too_many_tools_and_big_schemas() -> None:
    assert "128" in (rejection(body(tools=[tool(f"t{i}") for i in range(129)])) or "")
    assert rejection(body(tools=[tool(f"t{i}") for i in range(128)])) is None
    big = {"type": "object", "description": "x" * (openai_chat.MAX_TOOL_SCHEMA_BYTES + 1)}
    assert "too large" in (rejection(body(tools=[tool("big", big)])) or "")


def test_missing_reasoning_content_with_thinking_on() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
    ]
    assert rejection(body(messages=messages)) == (
        "thinking is enabled but reasoning_content is missing in assistant tool call message at index 2"
    )
    assert rejection(body(messages=messages, thinking={"type": "disabled"})) is None
    messages[2]["reasoning_content"] = ""  # kimi-cli sends "" and Kimi takes it
    assert rejection(body(messages=messages)) is None


def test_roles_messages_and_efforts() -> None:
    assert "developer" in (rejection(body(messages=[{"role": "developer", "content": "x"}])) or "")
    assert "messages" in (rejection({"model": "kimi-for-coding"}) or "")
    assert "tool message" in (
        rejection(body(messages=[{"role": "tool", "tool_call_id": "c"}])) or ""
    )
    assert (
        openai_chat.check_request(
            body(model="k3", thinking={"type": "enabled", "effort": "medium"}), K3
        )
        is not None
    )
    assert (
        openai_chat.check_request(
            body(model="k3", thinking={"type": "enabled", "effort": "max"}), K3
        )
        is None
    )


def test_unknown_model_is_not_found() -> None:
    assert openai_chat.resolve_model(body(model="gpt-9")) == (
        404,
        "resource_not_found_error",
        "Not found the model gpt-9 or Permission denied",
    )


def test_thinking_follows_the_catalog() -> None:
    assert openai_chat.thinking_on(body(), K2)
    assert not openai_chat.thinking_on(body(thinking={"type": "disabled"}), K2)
    assert openai_chat.thinking_on(body(thinking={"type": "disabled"}), K3)


def reply(**kw: Any) -> Any:
    args: dict[str, Any] = dict(
        model="kimi-for-coding",
        seed="ab" * 32,
        thinking="let me think about it",
        text="Here is a longer answer that spans several pieces.",
        tool_calls=(),
        max_tokens=1000,
        prompt_tokens=300,
        cached_tokens=256,
    )
    args.update(kw)
    return build_reply(**args)


def chunks(frames: list[bytes]) -> list[dict[str, Any]]:
    raw = b"".join(frames)
    datas = [data for _, data in parse_frames(raw)]
    assert datas[-1] == "[DONE]"
    return [json.loads(d) for d in datas[:-1]]


def test_stream_grammar_text_and_thinking() -> None:
    r = reply()
    parsed = chunks(openai_chat.render_stream(r, include_usage=True))
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in parsed if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == r.thinking
    assert "".join(d.get("content") or "" for d in deltas) == r.text
    finish = parsed[-2]["choices"][0]
    assert finish["finish_reason"] == "stop"
    assert finish["usage"]["cached_tokens"] == 256
    assert finish["usage"]["prompt_tokens_details"] == {"cached_tokens": 256}
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"] == finish["usage"]
    assert all(c["choices"][0]["finish_reason"] is None for c in parsed[:-2])
    assert len({c["id"] for c in parsed}) == 1


def test_stream_without_include_usage_still_has_choice_usage() -> None:
    parsed = chunks(openai_chat.render_stream(reply(), include_usage=False))
    assert parsed[-1]["choices"][0]["usage"]["prompt_tokens"] == 300
    assert "usage" not in parsed[-1]


def test_parallel_tool_call_fragments() -> None:
    calls = (
        ToolCallSpec("bash", json.dumps({"command": "echo a long command line here"}), "call_1"),
        ToolCallSpec("read", '{"path": "x"}', "call_2"),
    )
    parsed = chunks(
        openai_chat.render_stream(reply(tool_calls=calls, text=""), include_usage=False)
    )
    fragments = [tc for c in parsed for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    firsts = [f for f in fragments if "id" in f]
    assert [(f["index"], f["id"], f["type"], f["function"]) for f in firsts] == [
        (0, "call_1", "function", {"name": "bash", "arguments": ""}),
        (1, "call_2", "function", {"name": "read", "arguments": ""}),
    ]
    for i, call in enumerate(calls):
        args = "".join(f["function"]["arguments"] for f in fragments if f["index"] == i)
        assert args == call.arguments
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_max_tokens_truncates_with_length() -> None:
    r = reply(max_tokens=8, tool_calls=(ToolCallSpec("bash", "{}", "c"),))
    assert r.finish == "length" and r.tool_calls == ()
    assert r.completion_tokens <= 8
    message = openai_chat.render_json(r)["choices"][0]
    assert message["finish_reason"] == "length"


def test_non_stream_shape() -> None:
    out = openai_chat.render_json(reply(tool_calls=(ToolCallSpec("bash", "{}", "c"),)))
    choice = out["choices"][0]
    assert choice["message"]["reasoning_content"] == "let me think about it"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "bash", "arguments": "{}"}
    assert out["usage"] == choice["usage"]
    assert (
        out["usage"]["total_tokens"]
        == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"]
    )


@pytest.mark.parametrize("after", [0, 2, 5])
def test_stream_faults_on_frames(after: int) -> None:
    frames = openai_chat.render_stream(reply(), include_usage=True)
    cut, finish = apply_stream_fault(frames, Fault(FaultKind.STREAM_CUT, after_chunks=after))
    assert cut == frames[:after] and not finish
    bad, finish = apply_stream_fault(frames, Fault(FaultKind.MALFORMED_CHUNK, after_chunks=after))
    assert bad[after] == MALFORMED_FRAME and finish and len(bad) == len(frames) + 1
    with pytest.raises(ValueError):
        json.loads(next(parse_frames(MALFORMED_FRAME))[1])


def test_untyped_properties_are_found_only_in_strict_mode() -> None:
    workflow = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "args": {"description": "anything"}},
    }
    nested = {
        "type": "object",
        "properties": {
            "a": {"type": "array", "items": {"type": "object", "properties": {"b": {}}}}
        },
    }
    composed = {
        "type": "object",
        "properties": {"c": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    }
    assert openai_chat.untyped_property(workflow) == "properties.args"
    assert openai_chat.untyped_property(nested) == "properties.a.items.properties.b"
    assert openai_chat.untyped_property(composed) is None
    assert rejection(body(tools=[tool("Workflow", workflow)])) is None
    found = openai_chat.check_request(
        body(tools=[tool("Workflow", workflow)]), K2, strict_types=True
    )
    assert found is not None and "type is not defined" in found[2] and "properties.args" in found[2]


_calls = st.lists(
    st.tuples(
        st.sampled_from(["bash", "read", "Shell"]),
        st.dictionaries(st.text(max_size=5), st.text(max_size=60)),
    ),
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.none() | st.text(max_size=120), st.text(max_size=200), _calls, st.integers(0, 200))
def test_stream_reassembles_to_the_non_stream_answer(
    thinking: str | None, text: str, calls: list[tuple[str, dict[str, str]]], max_tokens: int
) -> None:
    specs = tuple(ToolCallSpec(n, json.dumps(a), f"call_{i}") for i, (n, a) in enumerate(calls))
    r = reply(thinking=thinking, text=text, tool_calls=specs, max_tokens=max_tokens)
    whole = openai_chat.render_json(r)["choices"][0]
    parsed = chunks(openai_chat.render_stream(r, include_usage=False))
    deltas = [c["choices"][0]["delta"] for c in parsed]
    assert "".join(d.get("content") or "" for d in deltas) == whole["message"]["content"]
    if thinking is None:
        assert all("reasoning_content" not in d for d in deltas)
    else:
        assert (
            "".join(d.get("reasoning_content", "") for d in deltas)
            == whole["message"]["reasoning_content"]
        )
    streamed: dict[int, dict[str, str]] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            entry = streamed.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] = tc.get("id", entry["id"])
            entry["name"] = tc["function"].get("name", entry["name"])
            entry["arguments"] += tc["function"].get("arguments", "")
    expected = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in whole["message"].get("tool_calls", [])
    ]
    assert [streamed[i] for i in sorted(streamed)] == expected
    assert parsed[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]
    assert r.completion_tokens <= max_tokens or whole["finish_reason"] != "length"


def test_top_level_reasoning_effort_is_checked_against_the_catalog() -> None:
    assert openai_chat.check_request(body(model="k3", reasoning_effort="low"), K3) is None
    assert openai_chat.check_request(body(model="k3", reasoning_effort=None), K3) is None
    found = openai_chat.check_request(body(model="k3", reasoning_effort="medium"), K3)
    assert found is not None and "reasoning_effort" in found[2]
    assert rejection(body(reasoning_effort="medium")) is None  # no efforts advertised: ignored
