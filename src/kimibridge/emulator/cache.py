"""Kimi's prompt cache as measured (reference/kimi-plugins.md §1.2), without I/O.

Rules, each from a numbered finding:

- Identity is the canonical prompt content (``tokens.CanonicalPrompt``), nothing else:
  ``prompt_cache_key``, ``cache_control``, generation parameters and headers are never passed
  in (findings 1, 2, 9, 15, 19).
- Two layers (finding 5): an exact entry per whole prompt, read at 100 % on an exact re-send
  whatever its length, and a prefix index in 256-token chunks. Otherwise a request reads the
  longest cached prefix rounded *down* to a multiple of 256 tokens (findings 3, 4, 12, 13), so
  prompts under 256 tokens read 0 unless re-sent exactly.
- Every prefix is keyed under the digest of the head (tools + system), so any change there
  reads 0 (finding 11; measured on the Anthropic side, applied to both dialects here).
- Every request writes (finding 1: writes are implicit); writes are never reported (finding 8),
  older entries are not evicted by newer ones (finding 6), an entry lives ``ttl`` seconds from
  its last write or read (finding 7: between 300 and 1800 s on Kimi).
- The cache is one store for both dialects (finding 10): callers canonicalise first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kimibridge.emulator.tokens import TOKEN_BYTES, CanonicalPrompt

__all__ = ["CHUNK_TOKENS", "CacheStats", "PromptCache"]

CHUNK_TOKENS = 256
_CHUNK_BYTES = CHUNK_TOKENS * TOKEN_BYTES
_SWEEP_EVERY = 256  # writes between sweeps of expired entries


@dataclass(slots=True)
class CacheStats:
    lookups: int = 0
    exact_hits: int = 0
    prefix_hits: int = 0
    misses: int = 0
    tokens_read: int = 0
    tokens_prompted: int = 0


@dataclass(slots=True)
class PromptCache:
    """Exact entries and 256-token prefix chunks, each with an expiry time."""

    _exact: dict[bytes, float] = field(default_factory=dict)
    _prefixes: dict[bytes, float] = field(default_factory=dict)
    _writes: int = 0
    stats: CacheStats = field(default_factory=CacheStats)

    def __len__(self) -> int:
        return len(self._exact)

    def clear(self) -> None:
        self._exact.clear()
        self._prefixes.clear()

    @staticmethod
    def _keys(prompt: CanonicalPrompt) -> tuple[int, bytes, list[tuple[int, bytes]]]:
        """Token count, the exact key, and (tokens, key) for each whole 256-token boundary."""
        data = prompt.token_bytes()
        head = prompt.head_digest()
        running = hashlib.sha256(head)
        boundaries: list[tuple[int, bytes]] = []
        for end in range(_CHUNK_BYTES, len(data) + 1, _CHUNK_BYTES):
            running.update(data[end - _CHUNK_BYTES : end])
            boundaries.append((end // TOKEN_BYTES, running.copy().digest()))
        exact = hashlib.sha256(b"exact" + head + data).digest()
        return len(data) // TOKEN_BYTES, exact, boundaries

    def lookup_and_store(self, prompt: CanonicalPrompt, *, now: float, ttl: float) -> int:
        """Tokens read from the cache for this request; then the request is written."""
        total, exact, boundaries = self._keys(prompt)
        read = 0
        if self._exact.get(exact, -1.0) > now:
            read = total
        else:
            for tokens, key in reversed(boundaries):
                if self._prefixes.get(key, -1.0) > now:
                    read = tokens
                    break
        self._record(read, total, exact_hit=read == total and read > 0)
        expiry = now + ttl
        self._exact[exact] = expiry
        for _, key in boundaries:
            self._prefixes[key] = expiry
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep(now)
        return read

    def _record(self, read: int, total: int, *, exact_hit: bool) -> None:
        s = self.stats
        s.lookups += 1
        s.tokens_prompted += total
        s.tokens_read += read
        if exact_hit:
            s.exact_hits += 1
        elif read:
            s.prefix_hits += 1
        else:
            s.misses += 1

    def _sweep(self, now: float) -> None:
        for store in (self._exact, self._prefixes):
            for key in [k for k, expiry in store.items() if expiry <= now]:
                del store[key]
