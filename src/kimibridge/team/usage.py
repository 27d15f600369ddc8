"""Per-agent token usage for `team ls`, from the gateway's ledger (one row per request, keyed by
the local key's label, i.e. by agent)."""

from __future__ import annotations

from kimibridge.config import Paths
from kimibridge.gateway.ledger import LEDGER_FILE_NAME, Ledger

__all__ = ["usage_by_label"]


def usage_by_label(paths: Paths) -> dict[str, tuple[str, str]]:
    """``{key label: (tokens, cached ratio)}`` as display strings; {} without a ledger."""
    path = paths.state_dir / LEDGER_FILE_NAME
    if not path.exists():
        return {}
    ledger = Ledger(path)
    try:
        totals = ledger.by_agent()
    finally:
        ledger.close()
    return {
        t.key: (_tokens(t.input_tokens + t.output_tokens), f"{t.cache_ratio:.0%}") for t in totals
    }


def _tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return str(n)
