"""The token rule and the canonical form shared by both dialects."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.emulator.tokens import (
    anthropic_prompt,
    count_text_tokens,
    openai_prompt,
    truncate_to_tokens,
)


def test_count_is_ceil_of_utf8_bytes_over_four() -> None:
    assert count_text_tokens("") == 0
    assert count_text_tokens("abcd") == 1
    assert count_text_tokens("abcde") == 2
    assert count_text_tokens("é") == 1  # 2 bytes
    assert count_text_tokens("日本") == 2  # 6 bytes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), st.integers(min_value=0, max_value=50))
def test_truncate_never_exceeds_budget_and_is_a_prefix(text: str, budget: int) -> None:
    cut = truncate_to_tokens(text, budget)
    assert text.startswith(cut)
    assert count_text_tokens(cut) <= budget
    if count_text_tokens(text) <= budget:
        assert cut == text


def test_each_segment_is_padded_to_whole_tokens() -> None:
    # "user:hi" and "system:" are 7 bytes each → 2 tokens each.
    prompt = openai_prompt({"messages": [{"role": "user", "content": "hi"}]})
    assert prompt.tokens == 2
    prompt = anthropic_prompt({"system": "", "messages": [{"role": "user", "content": "hi"}]})
    assert prompt.tokens == 4


SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}}


def _openai() -> dict[str, Any]:
    return {
        "model": "kimi-for-coding",
        "prompt_cache_key": "session-1",
        "tools": [
            {
                "type": "function",
                "function": {"name": "Bash", "description": "run", "parameters": SCHEMA},
            }
        ],
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "ms://file-1"}},
                ],
            },
            {
                "role": "assistant",
                "reasoning_content": "think",
                "content": "ok",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        ],
    }


def _anthropic() -> dict[str, Any]:
    return {
        "model": "kimi-for-coding",
        "max_tokens": 100,
        "metadata": {"user_id": "u"},
        "system": [
            {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [{"name": "Bash", "description": "run", "input_schema": SCHEMA}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "url", "url": "ms://file-1"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "think", "signature": "sig"},
                    {"type": "text", "text": "ok"},
                    {"type": "tool_use", "id": "c1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "c1",
                        "content": [{"type": "text", "text": "a.txt"}],
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
    }


def test_equivalent_requests_in_both_dialects_are_one_sequence() -> None:
    a, b = openai_prompt(_openai()), anthropic_prompt(_anthropic())
    assert a == b
    assert a.token_bytes() == b.token_bytes()
    assert a.head_digest() == b.head_digest()


def test_head_is_tools_then_leading_system() -> None:
    prompt = openai_prompt(_openai())
    assert prompt.head[0].startswith("tool:")
    assert prompt.head[1] == "system:You are helpful."
    assert all(not s.startswith("system:") for s in prompt.body)


def test_a_later_system_message_stays_in_the_body() -> None:
    prompt = anthropic_prompt(
        {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "env"}]}
    )
    assert prompt.head == ()
    assert prompt.body == ("user:a", "system:env")


def test_markers_keys_and_signatures_are_not_content() -> None:
    body = _anthropic()
    body["messages"][1]["content"][0]["signature"] = "other"
    body["system"][0].pop("cache_control")
    assert anthropic_prompt(body) == anthropic_prompt(_anthropic())
    other = _openai()
    other["prompt_cache_key"] = "session-2"
    other["temperature"] = 0.3
    assert openai_prompt(other) == openai_prompt(_openai())


def test_images_count_by_reference_and_base64_matches_its_data_url() -> None:
    anth = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    }
                ],
            }
        ]
    }
    oai = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                ],
            }
        ]
    }
    assert anthropic_prompt(anth) == openai_prompt(oai)
    other = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "ms://file-2"}}],
            }
        ]
    }
    assert openai_prompt(other) != openai_prompt(oai)


def test_arguments_compare_as_json_not_text() -> None:
    def body(args: str) -> dict[str, Any]:
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}
        return {"messages": [{"role": "assistant", "reasoning_content": "", "tool_calls": [call]}]}

    assert openai_prompt(body('{"b":1, "a":2}')) == openai_prompt(body('{"a": 2, "b": 1}'))


def test_system_blocks_and_leading_system_messages_fold_into_one_segment() -> None:
    blocks = {
        "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "messages": [],
    }
    joined = {"messages": [{"role": "system", "content": "a\n\nb"}]}
    two = {
        "messages": [
            {"role": "system", "content": "a"},
            {"role": "system", "content": [{"type": "text", "text": "b"}]},
        ]
    }
    assert anthropic_prompt(blocks).head == ("system:a\n\nb",)
    assert anthropic_prompt(blocks) == openai_prompt(joined) == openai_prompt(two)
