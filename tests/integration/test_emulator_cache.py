"""Kimi's measured prompt-cache behaviour (kimi-plugins.md §1.2) through both official SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

SYSTEM = "You are a careful coding agent. " * 60  # ~ 480 tokens
TOOL_SCHEMA: Any = {"type": "object", "properties": {"command": {"type": "string"}}}


def ask_openai(client: openai.OpenAI, messages: list[Any], **extra: Any) -> tuple[int, int]:
    """(prompt_tokens, cached_tokens) of one non-streaming request."""
    r = client.chat.completions.create(
        model="kimi-for-coding",
        messages=[{"role": "system", "content": SYSTEM}, *messages],
        tools=[
            {
                "type": "function",
                "function": {"name": "bash", "description": "run", "parameters": TOOL_SCHEMA},
            }
        ],
        extra_body={"thinking": {"type": "disabled"}, **extra},
    )
    assert r.usage is not None
    cached = (r.usage.model_extra or {})["cached_tokens"]
    assert (
        r.usage.prompt_tokens_details is not None
        and r.usage.prompt_tokens_details.cached_tokens == cached
    )
    return r.usage.prompt_tokens, cached


def ask_anthropic(
    client: anthropic.Anthropic, messages: list[Any], *, system: Any = SYSTEM, tools: Any = None
) -> tuple[int, int]:
    """(total prompt tokens, cache_read_input_tokens) of one streaming request."""
    if tools is None:
        tools = [{"name": "bash", "description": "run", "input_schema": TOOL_SCHEMA}]
    with client.messages.stream(
        model="kimi-for-coding", max_tokens=1000, system=system, tools=tools, messages=messages
    ) as stream:
        m = stream.get_final_message()
    assert m.usage.cache_creation_input_tokens == 0  # writes are never reported
    read = m.usage.cache_read_input_tokens or 0
    return m.usage.input_tokens + read, read


def test_short_prompts_read_nothing_on_growth_but_everything_on_resend(
    kimi_emulator: EmulatorHandle, oai: openai.OpenAI
) -> None:
    short: list[Any] = [{"role": "user", "content": "hi"}]
    r = oai.chat.completions.create(model="kimi-for-coding", messages=short)
    assert r.usage is not None and r.usage.prompt_tokens < 256
    r = oai.chat.completions.create(
        model="kimi-for-coding",
        messages=[
            *short,
            {"role": "assistant", "content": "yo"},
            {"role": "user", "content": "more"},
        ],
    )
    assert r.usage is not None and (r.usage.model_extra or {})["cached_tokens"] == 0
    r = oai.chat.completions.create(model="kimi-for-coding", messages=short)
    assert (
        r.usage is not None
        and (r.usage.model_extra or {})["cached_tokens"] == r.usage.prompt_tokens
    )


def test_exact_resend_and_prefix_growth(oai: openai.OpenAI) -> None:
    turn1: list[Any] = [{"role": "user", "content": "first question " * 20}]
    total1, read1 = ask_openai(oai, turn1)
    assert read1 == 0 and total1 > 512
    assert ask_openai(oai, turn1) == (total1, total1)
    turn2 = [
        *turn1,
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "follow-up " * 80},
    ]
    total2, read2 = ask_openai(oai, turn2)
    assert total2 > total1 and read2 == total1 // 256 * 256


def test_prompt_cache_key_changes_nothing(oai: openai.OpenAI) -> None:
    msgs: list[Any] = [{"role": "user", "content": "keyed " * 30}]
    total, _ = ask_openai(oai, msgs, prompt_cache_key="session_a")
    assert ask_openai(oai, msgs, prompt_cache_key="session_b") == (total, total)
    assert ask_openai(oai, msgs) == (total, total)
    other: list[Any] = [{"role": "user", "content": "different " * 30}]
    _, read = ask_openai(oai, other, prompt_cache_key="session_a")
    assert read < total and read % 256 == 0  # same key, other content: only the shared prefix


def test_cache_control_changes_nothing(ant: anthropic.Anthropic) -> None:
    plain: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "marked " * 40}]}]
    marked: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "marked " * 40, "cache_control": {"type": "ephemeral"}}
            ],
        }
    ]
    total, read = ask_anthropic(ant, plain)
    assert read == 0
    assert ask_anthropic(ant, marked) == (total, total)
    system_marked = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert ask_anthropic(ant, plain, system=system_marked) == (total, total)


def test_shared_across_dialects(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    history: list[Any] = [{"role": "user", "content": "cross dialect " * 40}]
    total, read = ask_openai(oai, history)
    assert read == 0
    assert ask_anthropic(ant, history) == (total, total)
    longer = [
        *history,
        {"role": "assistant", "content": "sure"},
        {"role": "user", "content": "next " * 50},
    ]
    total2, read2 = ask_anthropic(ant, longer)
    assert read2 == total // 256 * 256
    assert ask_openai(oai, longer) == (total2, total2)


def test_system_or_tools_change_reads_zero_on_anthropic(ant: anthropic.Anthropic) -> None:
    msgs: list[Any] = [{"role": "user", "content": "stable " * 100}]
    total, _ = ask_anthropic(ant, msgs)
    assert ask_anthropic(ant, msgs) == (total, total)
    assert ask_anthropic(ant, msgs, system=SYSTEM + " Changed.")[1] == 0
    swapped = [{"name": "write", "description": "run", "input_schema": TOOL_SCHEMA}]
    assert ask_anthropic(ant, msgs, tools=swapped)[1] == 0
    added = [
        {"name": "bash", "description": "run", "input_schema": TOOL_SCHEMA},
        {"name": "read", "input_schema": {}},
    ]
    assert ask_anthropic(ant, msgs, tools=added)[1] == 0


@pytest.mark.kimi_emulator(cache_ttl=60)
def test_entries_expire_after_ttl(kimi_emulator: EmulatorHandle, oai: openai.OpenAI) -> None:
    now = [1000.0]
    kimi_emulator.emulator.model.clock = lambda: now[0]
    msgs: list[Any] = [{"role": "user", "content": "ttl " * 100}]
    total, _ = ask_openai(oai, msgs)
    now[0] += 59
    assert ask_openai(oai, msgs) == (total, total)  # read refreshes the entry
    now[0] += 61
    assert ask_openai(oai, msgs) == (total, 0)
