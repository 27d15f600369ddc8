"""The usage ledger: one SQLite row per gateway request (WAL), written off the event loop.

Rows are buffered in memory by ``record`` (no I/O on the request path) and written in batches
by ``flush``, which runs the insert in a worker thread; the gateway flushes every second and on
shutdown. Schema changes are append-only numbered migrations recorded in
``_kimibridge_migrations`` (as simonw/llm does): add a function, never edit an old one.

Tokens: ``input_tokens`` is the whole prompt (cached included), ``cached_tokens`` the part
read from Kimi's cache, so the cache-hit ratio is ``cached / input``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, Final

__all__ = ["LEDGER_FILE_NAME", "MIGRATIONS", "Ledger", "LedgerRow", "Totals", "migrate"]

LEDGER_FILE_NAME: Final = "usage.sqlite3"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    ts: float  # epoch seconds when the request arrived
    agent: str
    model: str  # the Kimi model called
    client_model: str
    dialect_in: str
    dialect_out: str
    stream: bool
    status: int
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    stop_reason: str | None = None
    error: str | None = None


_COLUMNS: Final = tuple(f.name for f in fields(LedgerRow))


def m001_requests(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL, agent TEXT NOT NULL, model TEXT NOT NULL, client_model TEXT,
            dialect_in TEXT NOT NULL, dialect_out TEXT NOT NULL, stream INTEGER NOT NULL,
            status INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL, ttfb_ms REAL,
            stop_reason TEXT, error TEXT)"""
    )
    db.execute("CREATE INDEX requests_ts ON requests (ts)")
    db.execute("CREATE INDEX requests_agent ON requests (agent, ts)")


MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (m001_requests,)


def migrate(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _kimibridge_migrations (name TEXT PRIMARY KEY, applied REAL)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM _kimibridge_migrations")}
    for step in MIGRATIONS:
        if step.__name__ not in done:
            with db:
                step(db)
                db.execute(
                    "INSERT INTO _kimibridge_migrations VALUES (?, ?)", (step.__name__, time.time())
                )


@dataclass(frozen=True, slots=True)
class Totals:
    key: str  # the day (YYYY-MM-DD, local time) or the agent
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int

    @property
    def cache_ratio(self) -> float:
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "requests": self.requests,
            "errors": self.errors,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_ratio": round(self.cache_ratio, 4),
        }


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[LedgerRow] = []
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # the connection is used from worker threads

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            migrate(db)
            self._db = db
        return self._db

    def record(self, row: LedgerRow) -> None:
        """Queue a row (no I/O); ``flush`` writes it."""
        self._pending.append(row)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush_sync(self) -> int:
        rows, self._pending = self._pending, []
        return self._insert(rows)

    def _insert(self, rows: list[LedgerRow]) -> int:
        if not rows:
            return 0
        marks = ",".join("?" * len(_COLUMNS))
        with self._lock:
            db = self._conn()
            with db:
                db.executemany(
                    f"INSERT INTO requests ({','.join(_COLUMNS)}) VALUES ({marks})",
                    [astuple(r) for r in rows],
                )
        return len(rows)

    async def flush(self) -> int:
        # The buffer is swapped on the event loop (where `record` appends), so no row can slip
        # in between; only the insert runs in a worker thread.
        rows, self._pending = self._pending, []
        if not rows:
            return 0
        return await asyncio.to_thread(self._insert, rows)

    async def run(self, interval: float = 1.0) -> None:
        """Flush every ``interval`` seconds until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(interval)
                await self.flush()
        finally:
            self.flush_sync()

    def close(self) -> None:
        self.flush_sync()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----------------------------------------------------------------- reading (CLI)

    def _totals(self, key_sql: str, since: float | None) -> list[Totals]:
        where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
        sql = (
            f"SELECT {key_sql} AS k, COUNT(*), SUM(status >= 400 OR error IS NOT NULL), SUM(input_tokens), "
            f"SUM(output_tokens), SUM(cached_tokens) FROM requests {where} GROUP BY k ORDER BY k"
        )
        with self._lock:
            rows = self._conn().execute(sql, args).fetchall()
        return [Totals(str(r[0]), r[1], r[2] or 0, r[3] or 0, r[4] or 0, r[5] or 0) for r in rows]

    def by_day(self, since: float | None = None) -> list[Totals]:
        return self._totals("date(ts, 'unixepoch', 'localtime')", since)

    def by_agent(self, since: float | None = None) -> list[Totals]:
        return self._totals("agent", since)

    def rows(self, limit: int = 100) -> list[LedgerRow]:
        with self._lock:
            cur = self._conn().execute(
                f"SELECT {','.join(_COLUMNS)} FROM requests ORDER BY id DESC LIMIT ?", (limit,)
            )
            return [LedgerRow(*r) for r in cur.fetchall()]
