"""The prompt cache rules of kimi-plugins.md §1.2, on the pure cache with a controlled clock."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.emulator.cache import CHUNK_TOKENS, PromptCache
from kimibridge.emulator.tokens import CanonicalPrompt

TTL = 300.0


def prompt(*body: str, head: tuple[str, ...] = ("system:s",)) -> CanonicalPrompt:
    return CanonicalPrompt(head, body)


def words(tokens: int, tag: str = "x") -> str:
    """A segment of exactly ``tokens`` tokens (the tag is part of the text)."""
    text = f"user:{tag}"
    return text + "." * (tokens * 4 - len(text))


def test_first_request_reads_nothing_and_writes_are_implicit() -> None:
    cache = PromptCache()
    p = prompt(words(1000))
    assert cache.lookup_and_store(p, now=0, ttl=TTL) == 0
    assert cache.lookup_and_store(p, now=1, ttl=TTL) == p.tokens


def test_exact_resend_reads_everything_even_under_256_tokens() -> None:
    cache = PromptCache()
    p = prompt("user:hello")
    assert p.tokens < CHUNK_TOKENS
    cache.lookup_and_store(p, now=0, ttl=TTL)
    assert cache.lookup_and_store(p, now=1, ttl=TTL) == p.tokens


def test_prefix_growth_reads_the_prefix_floored_to_256() -> None:
    cache = PromptCache()
    first = prompt(words(832))  # 834 tokens with the 2-token head
    assert first.tokens == 834
    cache.lookup_and_store(first, now=0, ttl=TTL)
    grown = prompt(words(832), "assistant:answer", words(500, "y"))
    assert cache.lookup_and_store(grown, now=1, ttl=TTL) == 768


def test_prefix_growth_under_256_tokens_reads_zero() -> None:
    cache = PromptCache()
    cache.lookup_and_store(prompt(words(100)), now=0, ttl=TTL)
    assert cache.lookup_and_store(prompt(words(100), words(100, "y")), now=1, ttl=TTL) == 0


def test_a_branch_reuses_the_shared_prefix() -> None:
    cache = PromptCache()
    cache.lookup_and_store(prompt(words(600), words(600, "a")), now=0, ttl=TTL)
    assert cache.lookup_and_store(prompt(words(600), words(600, "b")), now=1, ttl=TTL) == 512


def test_a_head_change_reads_zero() -> None:
    cache = PromptCache()
    cache.lookup_and_store(prompt(words(2000)), now=0, ttl=TTL)
    assert cache.lookup_and_store(prompt(words(2000), head=("system:other",)), now=1, ttl=TTL) == 0
    assert (
        cache.lookup_and_store(prompt(words(2000), head=("tool:{}", "system:s")), now=2, ttl=TTL)
        == 0
    )


def test_entries_expire_after_the_ttl_and_reads_refresh_them() -> None:
    cache = PromptCache()
    p = prompt(words(1000))
    cache.lookup_and_store(p, now=0, ttl=TTL)
    assert cache.lookup_and_store(p, now=TTL - 1, ttl=TTL) == p.tokens  # refreshed until 2*TTL-1
    assert cache.lookup_and_store(p, now=2 * TTL - 2, ttl=TTL) == p.tokens
    assert cache.lookup_and_store(p, now=10 * TTL, ttl=TTL) == 0


def test_older_prefixes_survive_newer_ones() -> None:
    cache = PromptCache()
    a, b = prompt(words(700, "a")), prompt(words(700, "b"))
    cache.lookup_and_store(a, now=0, ttl=TTL)
    cache.lookup_and_store(b, now=1, ttl=TTL)
    assert cache.lookup_and_store(a, now=2, ttl=TTL) == a.tokens


def test_stats_count_hits_and_tokens() -> None:
    cache = PromptCache()
    p = prompt(words(600))
    cache.lookup_and_store(p, now=0, ttl=TTL)
    cache.lookup_and_store(p, now=1, ttl=TTL)
    cache.lookup_and_store(prompt(words(600), "user:more"), now=2, ttl=TTL)
    s = cache.stats
    assert (s.lookups, s.misses, s.exact_hits, s.prefix_hits) == (3, 1, 1, 1)
    assert s.tokens_read == p.tokens + 512


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=5), st.integers(0, 700)
)
def test_reads_are_whole_chunks_or_the_exact_prompt(sizes: list[int], extra: int) -> None:
    cache = PromptCache()
    segments = [words(n, str(i)) for i, n in enumerate(sizes)]
    for i in range(1, len(segments) + 1):
        cache.lookup_and_store(prompt(*segments[:i]), now=i, ttl=TTL)
    final = prompt(*segments, words(extra + 1, "tail"))
    read = cache.lookup_and_store(final, now=100, ttl=TTL)
    assert read % CHUNK_TOKENS == 0
    assert read == (prompt(*segments).tokens // CHUNK_TOKENS) * CHUNK_TOKENS
