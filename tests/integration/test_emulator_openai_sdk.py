"""The official openai SDK against the emulator's OpenAI dialect (real server on loopback)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from kimibridge.testing import EmulatorHandle

from .conftest import EMULATOR_KEY

pytestmark = pytest.mark.integration


BASH: Any = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
    },
}
READ: Any = {"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}


def test_non_stream_text_with_thinking(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="kimi-for-coding", messages=[{"role": "user", "content": "hi"}]
    )
    choice = r.choices[0]
    assert choice.message.content == "Hello from the Kimi emulator. You said: hi"
    assert choice.finish_reason == "stop"
    extra: dict[str, Any] = choice.message.model_extra or {}
    assert extra["reasoning_content"]
    assert r.usage is not None and r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert (
        r.usage.prompt_tokens_details is not None
        and r.usage.prompt_tokens_details.cached_tokens == 0
    )
    assert (r.usage.model_extra or {})["cached_tokens"] == 0


def test_thinking_disabled_sends_no_reasoning(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(
        model="kimi-for-coding",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"thinking": {"type": "disabled"}},
    )
    assert "reasoning_content" not in (r.choices[0].message.model_extra or {})


def test_stream_with_thinking_and_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="kimi-for-coding",
        messages=[{"role": "user", "content": "tell me something"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={
            "thinking": {"type": "enabled", "keep": "all"},
            "prompt_cache_key": "session_1",
        },
    )
    reasoning, text, finish, usage = "", "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert reasoning and text.startswith("Hello from the Kimi emulator.")
    assert finish == "stop"
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0


def test_directive_tool_call_round_trip(oai: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": 'do [[call BASH {"command": "echo hi > out.txt"}]]'}
    ]
    r = oai.chat.completions.create(model="kimi-for-coding", messages=messages, tools=[BASH, READ])
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None
    (call,) = msg.tool_calls
    assert call.type == "function" and call.function.name == "bash"
    assert json.loads(call.function.arguments) == {"command": "echo hi > out.txt"}
    reasoning = (msg.model_extra or {})["reasoning_content"]
    messages += [
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": reasoning,
            "tool_calls": [call.model_dump()],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "(no output)"},
    ]
    r = oai.chat.completions.create(model="kimi-for-coding", messages=messages, tools=[BASH, READ])
    assert r.choices[0].message.content == "Tool result: (no output)"


def test_streamed_parallel_tool_calls(oai: openai.OpenAI) -> None:
    prompt = (
        '[[call bash {"command": "ls -la /tmp/some/long/path"}]] [[call read {"path": "a.txt"}]]'
    )
    stream = oai.chat.completions.create(
        model="kimi-for-coding",
        messages=[{"role": "user", "content": prompt}],
        tools=[BASH, READ],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    entry["id"] = tc.id
                if tc.function and tc.function.name:
                    entry["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    entry["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["bash", "read"]
    assert json.loads(calls[0]["arguments"]) == {"command": "ls -la /tmp/some/long/path"}
    assert calls[0]["id"] != calls[1]["id"]


def test_scripted_turns(oai: openai.OpenAI, kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.script(
        [
            {
                "thinking": "plan",
                "tool_calls": [{"name": "BASH", "arguments": {"command": "make"}, "id": "call_x"}],
            },
            {"text": "done"},
        ]
    )
    r = oai.chat.completions.create(
        model="kimi-for-coding", messages=[{"role": "user", "content": "go"}], tools=[BASH]
    )
    msg = r.choices[0].message
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert call.id == "call_x" and call.type == "function" and call.function.name == "bash"
    assert (msg.model_extra or {})["reasoning_content"] == "plan"
    r = oai.chat.completions.create(
        model="kimi-for-coding", messages=[{"role": "user", "content": "go"}]
    )
    assert r.choices[0].message.content == "done"


def test_max_tokens_gives_length(oai: openai.OpenAI, kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.script([{"text": "word " * 100}])
    r = oai.chat.completions.create(
        model="kimi-for-coding",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=20,
        extra_body={"thinking": {"type": "disabled"}},
    )
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens <= 20


def test_same_request_same_bytes(oai: openai.OpenAI) -> None:
    def raw() -> bytes:
        resp = oai.chat.completions.with_raw_response.create(
            model="kimi-for-coding",
            messages=[{"role": "user", "content": "[[call bash {}]]"}],
            tools=[BASH],
        )
        return resp.http_response.content

    first = json.loads(raw())
    second = json.loads(raw())
    # Only the cache read differs: the second identical request hits.
    for body in (first, second):
        body.pop("usage")
        body["choices"][0].pop("usage")
    assert first == second


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    return dict(body["error"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"tool_choice": "required", "tools": [BASH]}, "required"),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": f"t{i}", "parameters": {}}}
                    for i in range(129)
                ]
            },
            "128",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "big", "parameters": {"description": "x" * 20000}},
                    }
                ]
            },
            "too large",
        ),
        (
            {
                "messages": [
                    {"role": "developer", "content": "x"},
                    {"role": "user", "content": "hi"},
                ]
            },
            "developer",
        ),
    ],
)
def test_rejections(oai: openai.OpenAI, kwargs: dict[str, Any], words: str) -> None:
    args: dict[str, Any] = {
        "model": "kimi-for-coding",
        "messages": [{"role": "user", "content": "hi"}],
        **kwargs,
    }
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(**args)
    error = _error(info.value)
    assert error["type"] == "invalid_request_error" and words in error["message"]


def test_missing_reasoning_content_is_rejected(oai: openai.OpenAI) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model="kimi-for-coding",
            tools=[BASH],
            messages=[
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": "", "tool_calls": [call]},  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            ],
        )
    assert _error(info.value) == {
        "type": "invalid_request_error",
        "message": "thinking is enabled but reasoning_content is missing in assistant tool call message at index 2",
    }


def test_unknown_model_and_bad_body(oai: openai.OpenAI, kimi_emulator: EmulatorHandle) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="messages"):
        oai.chat.completions.create(model="kimi-for-coding", messages=[])
    request = urllib.request.Request(
        kimi_emulator.base_url + "/chat/completions",
        data=b"{not json",
        headers={
            "Authorization": f"Bearer {EMULATOR_KEY}",
            "User-Agent": "KimiCLI/1.52.0",
            "Content-Type": "application/json",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    with info.value as response:
        assert response.code == 400
        assert json.loads(response.read())["error"]["type"] == "invalid_request_error"


def test_strict_schemas_reject_untyped_properties(
    oai: openai.OpenAI, kimi_emulator: EmulatorHandle
) -> None:
    workflow: Any = {
        "type": "function",
        "function": {
            "name": "Workflow",
            "parameters": {"type": "object", "properties": {"args": {}}},
        },
    }
    messages: Any = [{"role": "user", "content": "hi"}]
    oai.chat.completions.create(model="kimi-for-coding", messages=messages, tools=[workflow])
    kimi_emulator.emulator.model.strict_schemas = True
    with pytest.raises(openai.BadRequestError, match="type is not defined"):
        oai.chat.completions.create(model="kimi-for-coding", messages=messages, tools=[workflow])


def test_file_references_must_name_an_upload(
    oai: openai.OpenAI, kimi_emulator: EmulatorHandle
) -> None:
    stored = kimi_emulator.emulator.platform.files.add(
        "upload.png", "image/png", "image", b"\x89PNG"
    )

    def ask(url: str) -> Any:
        part: Any = {"type": "image_url", "image_url": {"url": url}}
        content: Any = [{"type": "text", "text": "what is this"}, part]
        return oai.chat.completions.create(
            model="kimi-for-coding", messages=[{"role": "user", "content": content}]
        )

    assert ask(f"ms://{stored.id}").choices[0].message.content
    with pytest.raises(openai.BadRequestError, match="ms://file-missing"):
        ask("ms://file-missing")
