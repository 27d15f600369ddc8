"""Stream faults, scripted faults and slow streams, as the official SDKs see them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

HELLO: list[Any] = [{"role": "user", "content": "hello there"}]


def drain_openai(client: openai.OpenAI) -> list[Any]:
    stream = client.chat.completions.create(model="kimi-for-coding", messages=HELLO, stream=True)
    return list(stream)


def test_openai_stream_cut(kimi_emulator: EmulatorHandle, oai: openai.OpenAI) -> None:
    kimi_emulator.inject("stream_cut", after_chunks=3)
    seen: list[Any] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model="kimi-for-coding", messages=HELLO, stream=True
        ):
            seen.append(chunk)
    assert len(seen) == 3
    assert all(c.choices[0].finish_reason is None for c in seen)
    assert len(drain_openai(oai)) > 3  # the next request is whole again


def test_openai_malformed_chunk(kimi_emulator: EmulatorHandle, oai: openai.OpenAI) -> None:
    kimi_emulator.inject("malformed_chunk", after_chunks=2)
    with pytest.raises(json.JSONDecodeError):
        drain_openai(oai)


def test_openai_non_stream_faults(kimi_emulator: EmulatorHandle, oai: openai.OpenAI) -> None:
    kimi_emulator.inject("stream_cut")
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="kimi-for-coding", messages=HELLO)
    kimi_emulator.inject("malformed_chunk")
    with pytest.raises(json.JSONDecodeError):
        oai.chat.completions.create(model="kimi-for-coding", messages=HELLO)


def test_anthropic_stream_cut_and_malformed(
    kimi_emulator: EmulatorHandle, ant: anthropic.Anthropic
) -> None:
    def run() -> list[str]:
        kinds: list[str] = []
        with ant.messages.stream(model="kimi-for-coding", max_tokens=100, messages=HELLO) as stream:
            for event in stream:
                kinds.append(event.type)
        return kinds

    kimi_emulator.inject("stream_cut", after_chunks=4)
    with pytest.raises(Exception) as info:  # the SDK does not wrap mid-stream transport errors
        run()
    # The SDK's HTTP layer reports the missing chunked terminator.
    cut = info.value
    assert (
        isinstance(cut, anthropic.APIConnectionError) or type(cut).__name__ == "RemoteProtocolError"
    )
    kimi_emulator.inject("malformed_chunk", after_chunks=4)
    with pytest.raises(json.JSONDecodeError):
        run()
    assert run()[-1] == "message_stop"


def test_scripted_stream_fault_and_status_fault(
    kimi_emulator: EmulatorHandle, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    kimi_emulator.script(
        [
            {"text": "partial answer " * 10, "fault": {"kind": "stream_cut", "after_chunks": 2}},
            {"fault": {"kind": "rate_limit"}},
            {"fault": {"kind": "quota"}},
            {"text": "recovered"},
        ]
    )
    with pytest.raises(openai.APIConnectionError):
        drain_openai(oai)
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="kimi-for-coding", messages=HELLO)
    assert info.value.response.json()["error"]["type"] == "rate_limit_reached_error"
    with pytest.raises(anthropic.RateLimitError) as ainfo:
        ant.messages.create(model="kimi-for-coding", max_tokens=10, messages=HELLO)
    assert ainfo.value.response.json()["error"]["type"] == "exceeded_current_quota_error"
    r = oai.chat.completions.create(model="kimi-for-coding", messages=HELLO)
    assert r.choices[0].message.content == "recovered"


def test_slow_stream_still_completes(kimi_emulator: EmulatorHandle, oai: openai.OpenAI) -> None:
    kimi_emulator.script([{"text": "slow but whole", "delay_ms": 5}])
    text = "".join(c.choices[0].delta.content or "" for c in drain_openai(oai) if c.choices)
    assert text == "slow but whole"
