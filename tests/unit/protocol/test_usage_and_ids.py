"""Usage conversion (the cache rule) and tool-id sanitising."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kimibridge.protocol import (
    ToolIdMap,
    Usage,
    is_valid_tool_id,
    openai_usage_of,
    sanitize_tool_id,
)


def test_kimi_usage_shapes() -> None:
    top = {"prompt_tokens": 100, "completion_tokens": 9, "cached_tokens": 60}
    details = {
        "prompt_tokens": 100,
        "completion_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    for usage in (top, details):
        assert Usage.from_openai(usage) == Usage(input_other=40, output=9, cache_read=60)
    chunk = {"choices": [{"index": 0, "delta": {}, "usage": top}]}
    assert openai_usage_of(chunk) == top
    assert openai_usage_of({"usage": None, "choices": []}) is None


def test_cache_writes_are_excluded_from_input() -> None:
    u = Usage.from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 30},
        }
    )
    assert (u.input_other, u.cache_read, u.cache_creation, u.prompt) == (60, 10, 30, 100)
    assert u.to_anthropic() == {
        "input_tokens": 60,
        "output_tokens": 1,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 10,
    }


def test_message_delta_usage_is_cumulative_and_keeps_unsent_fields() -> None:
    start = Usage.from_anthropic(
        {"input_tokens": 5, "cache_read_input_tokens": 50, "output_tokens": 1}
    )
    final = start.merged_anthropic({"output_tokens": 30})
    assert final == Usage(input_other=5, output=30, cache_read=50)


def test_garbage_counts_are_zero() -> None:
    assert (
        Usage.from_openai({"prompt_tokens": None, "completion_tokens": "7", "cached_tokens": True})
        == Usage()
    )


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_usage_round_trips_between_dialects(other: int, out: int, read: int, write: int) -> None:
    u = Usage(other, out, read, write)
    assert Usage.from_anthropic(u.to_anthropic()) == u
    assert Usage.from_openai(u.to_openai()) == u


def test_sanitize_examples() -> None:
    assert sanitize_tool_id("functions.Bash:0") == "functions_Bash_0"
    assert sanitize_tool_id("SearchWeb:0") == "SearchWeb_0"
    assert sanitize_tool_id("toolu_01ABC-x") == "toolu_01ABC-x"
    long = sanitize_tool_id("x" * 100)
    assert len(long) == 64 and long != sanitize_tool_id("x" * 101)
    assert is_valid_tool_id(sanitize_tool_id(""))


@given(st.lists(st.text(max_size=80), max_size=8))
def test_id_map_is_valid_one_to_one_and_reversible(originals: list[str]) -> None:
    ids = ToolIdMap()
    out = [ids.outward(o) for o in originals]
    assert all(is_valid_tool_id(x) for x in out)
    assert [ids.back(x) for x in out] == originals
    assert len(set(out)) == len(set(originals))
    assert [ids.outward(o) for o in originals] == out  # stable


def test_id_map_collision_gets_a_suffix() -> None:
    ids = ToolIdMap()
    assert ids.outward("a:1") == "a_1"
    second = ids.outward("a.1")
    assert second != "a_1" and is_valid_tool_id(second) and ids.back(second) == "a.1"
    assert ids.back("unknown") == "unknown" and len(ids) == 2
