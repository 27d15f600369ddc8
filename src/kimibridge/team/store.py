"""The team store: SQLite (WAL) under the state dir, the source of truth for teams and agents.

A restarted kimibridge reads it to find its agents again (``runtime.adopt``): the tmux window
named here is looked up, a live one is re-adopted, a vanished one marked ``gone``.

Other team modules keep their own tables in the same database: they open it with
``connect(paths)`` and create their tables with ``migrate(db, THEIR_MIGRATIONS)``. Migrations
are append-only functions recorded by name in ``_kimibridge_migrations`` (the ledger's scheme):
add one, never edit an old one; prefix names with the module (``team_m001_…``, ``inbox_m001_…``).

Every call here is a short blocking SQLite statement; async callers run them in a thread
(``runtime`` does, through ``asyncio.to_thread``). One connection may be shared by threads:
statements are serialised by a lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, get_args

from kimibridge._fs import ensure_private_dir
from kimibridge.config import Paths
from kimibridge.errors import TeamError

__all__ = [
    "DB_FILE_NAME",
    "MIGRATIONS",
    "Agent",
    "AgentState",
    "Status",
    "StatusSource",
    "Team",
    "TeamStore",
    "connect",
    "db_path",
    "migrate",
]

DB_FILE_NAME: Final = "team.sqlite3"

# Lifecycle of the agent's process, as kimibridge knows it.
AgentState = Literal["starting", "running", "gone", "stopped"]
# What the agent is doing: the screen's (or, with part 2, the wire's) verdict.
Status = Literal["unknown", "idle", "busy", "waiting", "completed", "error"]
StatusSource = Literal["screen", "wire"]


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    session: str  # tmux session: kb-<name>
    project_dir: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Agent:
    """One agent: a harness in a tmux window, reached through the gateway with its own key."""

    id: str
    team: str
    profile: str
    provider: str  # kimi_cli | claude_code
    tmux_target: str  # session:window-name
    key_label: str  # the gateway local key's label (attributes its requests)
    project_dir: str
    agent_dir: str  # files kimibridge owns for this agent (config, prompt, launch script)
    state: AgentState = "starting"
    status: Status = "unknown"
    status_source: StatusSource = "screen"
    # Turn bookkeeping, so a restarted kimibridge still knows a reply is owed: ``turn`` counts
    # inputs sent; ``turn_seen_busy`` is set once the agent was seen working on that turn (a
    # turn completes only after that, never on a screen that merely looks idle).
    turn: int = 0
    turn_seen_busy: bool = False
    turn_started_at: float | None = None
    turn_active: bool = False  # a turn was sent and its completion not yet seen
    # What was on record when the turn was sent: input echoes on screen, and inputs in the
    # harness's own transcript (None: it keeps none). Progress is measured against these.
    echo_baseline: int = 0
    transcript_baseline: int | None = None
    last_activity: float | None = None
    last_reply: str | None = None
    pane_id: str | None = None  # tmux %N, stable for the pane's life
    pid: int | None = None  # the harness process (pane_pid)
    auto_approve: bool = False  # the profile allows answering approval prompts
    created_at: float = 0.0


_AGENT_COLUMNS: Final = tuple(f.name for f in fields(Agent))
_BOOL_COLUMNS: Final = frozenset({"turn_seen_busy", "auto_approve", "turn_active"})


def team_m001_teams_agents(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS teams (
            name TEXT PRIMARY KEY, session TEXT NOT NULL, project_dir TEXT NOT NULL,
            created_at REAL NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS agents (
            id TEXT PRIMARY KEY,
            team TEXT NOT NULL REFERENCES teams(name) ON DELETE CASCADE,
            profile TEXT NOT NULL, provider TEXT NOT NULL, tmux_target TEXT NOT NULL,
            key_label TEXT NOT NULL, project_dir TEXT NOT NULL, agent_dir TEXT NOT NULL,
            state TEXT NOT NULL, status TEXT NOT NULL, status_source TEXT NOT NULL,
            turn INTEGER NOT NULL DEFAULT 0, turn_seen_busy INTEGER NOT NULL DEFAULT 0,
            turn_started_at REAL, last_activity REAL, last_reply TEXT,
            pane_id TEXT, pid INTEGER, auto_approve INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS agents_team ON agents (team)")


def team_m002_turn_baselines(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE agents ADD COLUMN turn_active INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE agents ADD COLUMN echo_baseline INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE agents ADD COLUMN transcript_baseline INTEGER")


MIGRATIONS: Final[tuple[Callable[[sqlite3.Connection], None], ...]] = (
    team_m001_teams_agents,
    team_m002_turn_baselines,
)


def db_path(paths: Paths) -> Path:
    """Where the team database lives (shared by every team module)."""
    return paths.state_dir / DB_FILE_NAME


def migrate(db: sqlite3.Connection, steps: Iterable[Callable[[sqlite3.Connection], None]]) -> None:
    """Apply the steps not yet recorded, each in its own transaction. Idempotent, and safe when
    two processes race (a step another process just applied is skipped)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _kimibridge_migrations (name TEXT PRIMARY KEY, applied REAL)"
    )
    for step in steps:
        with db:
            db.execute("BEGIN IMMEDIATE")
            done = db.execute(
                "SELECT 1 FROM _kimibridge_migrations WHERE name = ?", (step.__name__,)
            ).fetchone()
            if done is None:
                step(db)
                db.execute(
                    "INSERT INTO _kimibridge_migrations VALUES (?, ?)", (step.__name__, time.time())
                )


def connect(paths: Paths) -> sqlite3.Connection:
    """An open connection to the team database (WAL, foreign keys on), its team tables made.

    ``isolation_level=None``: statements autocommit; ``with db:`` plus ``BEGIN`` makes a
    transaction where one is needed. Usable from several threads (callers serialise)."""
    path = db_path(paths)
    ensure_private_dir(path.parent)
    try:
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=10000")
        migrate(db, MIGRATIONS)
    except sqlite3.Error as exc:
        raise TeamError(f"cannot open the team store {path}: {exc}") from None
    path.chmod(0o600)
    return db


class TeamStore:
    """Teams and agents. Each method is one short statement (or transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._lock = threading.Lock()

    @classmethod
    def open(cls, paths: Paths) -> TeamStore:
        return cls(connect(paths))

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self.db
            except sqlite3.Error as exc:
                raise TeamError(f"team store: {exc}") from None

    # -------------------------------------------------------------------------------- teams

    def add_team(self, team: Team) -> Team:
        """Insert ``team``, or return the one already stored under its name."""
        with self._locked() as db:
            db.execute(
                "INSERT OR IGNORE INTO teams VALUES (?, ?, ?, ?)",
                (team.name, team.session, team.project_dir, team.created_at),
            )
            row = db.execute("SELECT * FROM teams WHERE name = ?", (team.name,)).fetchone()
        return Team(*row)

    def team(self, name: str) -> Team | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM teams WHERE name = ?", (name,)).fetchone()
        return Team(*row) if row else None

    def teams(self) -> list[Team]:
        with self._locked() as db:
            rows = db.execute("SELECT * FROM teams ORDER BY created_at, name").fetchall()
        return [Team(*r) for r in rows]

    def remove_team(self, name: str) -> None:
        with self._locked() as db:
            db.execute("DELETE FROM teams WHERE name = ?", (name,))

    # ------------------------------------------------------------------------------- agents

    def add_agent(self, agent: Agent) -> Agent:
        values = [_to_sql(getattr(agent, c)) for c in _AGENT_COLUMNS]
        marks = ", ".join("?" for _ in _AGENT_COLUMNS)
        with self._locked() as db:
            try:
                db.execute(
                    f"INSERT INTO agents ({', '.join(_AGENT_COLUMNS)}) VALUES ({marks})", values
                )
            except sqlite3.IntegrityError:
                raise TeamError(f"an agent named {agent.id!r} already exists") from None
        return agent

    def agent(self, agent_id: str) -> Agent | None:
        with self._locked() as db:
            row = db.execute(
                f"SELECT {', '.join(_AGENT_COLUMNS)} FROM agents WHERE id = ?", (agent_id,)
            ).fetchone()
        return _agent(row) if row else None

    def agents(self, team: str | None = None) -> list[Agent]:
        query = f"SELECT {', '.join(_AGENT_COLUMNS)} FROM agents"
        args: tuple[Any, ...] = ()
        if team is not None:
            query += " WHERE team = ?"
            args = (team,)
        with self._locked() as db:
            rows = db.execute(query + " ORDER BY created_at, id", args).fetchall()
        return [_agent(r) for r in rows]

    def update_agent(self, agent_id: str, **changes: Any) -> Agent:
        """Set some columns; returns the agent as stored now. Unknown names are a bug."""
        unknown = set(changes) - set(_AGENT_COLUMNS) - {"id"}
        if unknown or "id" in changes:
            raise ValueError(f"cannot update {sorted(unknown | ({'id'} & set(changes)))}")
        if changes:
            sets = ", ".join(f"{name} = ?" for name in changes)
            with self._locked() as db:
                cur = db.execute(
                    f"UPDATE agents SET {sets} WHERE id = ?",
                    [*(_to_sql(v) for v in changes.values()), agent_id],
                )
                if cur.rowcount == 0:
                    raise TeamError(f"no agent named {agent_id!r}")
        found = self.agent(agent_id)
        if found is None:
            raise TeamError(f"no agent named {agent_id!r}")
        return found

    def begin_turn(
        self,
        agent_id: str,
        *,
        echo_baseline: int = 0,
        transcript_baseline: int | None = None,
        now: float | None = None,
    ) -> Agent:
        """Record that input was sent: a new turn, not yet seen busy, its reply not yet known."""
        stamp = time.time() if now is None else now
        with self._locked() as db:
            db.execute(
                """UPDATE agents SET turn = turn + 1, turn_seen_busy = 0, turn_active = 1,
                   turn_started_at = ?, last_activity = ?, status = 'busy', last_reply = NULL,
                   echo_baseline = ?, transcript_baseline = ? WHERE id = ?""",
                (stamp, stamp, echo_baseline, transcript_baseline, agent_id),
            )
        found = self.agent(agent_id)
        if found is None:
            raise TeamError(f"no agent named {agent_id!r}")
        return found

    def remove_agent(self, agent_id: str) -> None:
        with self._locked() as db:
            db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))


def _to_sql(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _agent(row: Sequence[Any]) -> Agent:
    values = dict(zip(_AGENT_COLUMNS, row, strict=True))
    for name in _BOOL_COLUMNS:
        values[name] = bool(values[name])
    agent = Agent(**values)
    if agent.status not in get_args(Status):
        agent = replace(agent, status="unknown")
    return agent
