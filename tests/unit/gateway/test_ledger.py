"""The SQLite ledger: migrations, buffered writes off the loop, totals."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from kimibridge.gateway.ledger import MIGRATIONS, Ledger, LedgerRow, migrate


def row(
    agent: str, inp: int, cached: int, status: int = 200, error: str | None = None
) -> LedgerRow:
    return LedgerRow(
        ts=time.time(),
        agent=agent,
        model="kimi-for-coding",
        client_model="claude-x",
        dialect_in="anthropic",
        dialect_out="openai",
        stream=True,
        status=status,
        input_tokens=inp,
        output_tokens=5,
        cached_tokens=cached,
        latency_ms=3.0,
        ttfb_ms=1.0,
        error=error,
    )


def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "l.db")
    migrate(db)
    migrate(db)
    names = [r[0] for r in db.execute("SELECT name FROM _kimibridge_migrations")]
    assert names == [m.__name__ for m in MIGRATIONS]


async def test_record_flush_and_totals(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state" / "usage.sqlite3")
    ledger.record(row("a", 1000, 900))
    ledger.record(row("b", 100, 0, status=429, error="rate limited"))
    ledger.record(row("a", 1000, 1000, error="client disconnected"))
    assert not ledger.path.exists()  # nothing written until flushed
    assert await ledger.flush() == 3
    assert ledger.pending == 0
    agents = {t.key: t for t in ledger.by_agent()}
    assert agents["a"].requests == 2 and agents["a"].errors == 1
    assert agents["a"].cache_ratio == 0.95
    assert agents["b"].errors == 1
    (day,) = ledger.by_day()
    assert day.requests == 3 and day.input_tokens == 2100
    assert day.to_json()["cache_ratio"] == round(1900 / 2100, 4)
    assert ledger.rows(1)[0].error == "client disconnected"
    mode = sqlite3.connect(ledger.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    ledger.close()
