"""The inbox: durable messages between agents, in the team database (SQLite, WAL).

Each message is one row that moves through

    pending ──claim──▶ delivering ──confirm──▶ delivered
                           │
                           └──release──▶ pending        (the paste did not happen)

and messages reach their receiver in ``id`` order: a receiver's messages are claimed together
as one *batch* (oldest first), and nothing newer is claimed for that receiver while a batch is
``delivering``. Every transition is one transaction, so a killed process leaves each row in
exactly one state.

Exactly once. Delivery is a paste into the receiver's terminal, which SQLite cannot share a
transaction with. The tmux server is the second record: the deliverer loads the batch into a
tmux buffer named after it *before* the claim commits, and pastes it with ``paste-buffer -d``,
which pastes and deletes the buffer in one step inside tmux. A batch found ``delivering``
after a crash (its owner's process is gone, or its lease ran out) is therefore decided by
that buffer: still there → it was never pasted → paste it now; gone → it was pasted → only
the Enter may be missing, and an Enter on an empty input line is a no-op, so send one and
confirm. (``team.delivery`` does this; this module only keeps the rows.) The one case this
cannot decide is a tmux server that died with its buffers, and then the receiver died too.

Who assigned whom (for ``send_message`` with no receiver) is kept here too (``links``), so a
worker's report still finds its supervisor after a restart.

Calls are short blocking statements behind a lock; async callers use a thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Literal

from kimibridge.errors import TeamError
from kimibridge.team.store import migrate

__all__ = [
    "DEFAULT_LEASE",
    "MIGRATIONS",
    "Batch",
    "Inbox",
    "Link",
    "Message",
    "MessageState",
    "owner_alive",
    "process_owner",
    "render_batch",
]

MessageState = Literal["pending", "delivering", "delivered"]

DEFAULT_LEASE: Final = 60.0  # a live owner finishes a paste in well under a second
# One batch stays a readable prompt: at most this many messages / characters (a single longer
# message still goes, alone).
MAX_BATCH_MESSAGES: Final = 50
MAX_BATCH_CHARS: Final = 32_000

_COLUMNS: Final = (
    "id, sender, receiver, text, created_at, state, batch, owner, lease_until, attempts, "
    "delivered_at"
)


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    sender: str
    receiver: str
    text: str
    created_at: float
    state: MessageState = "pending"
    batch: str | None = None
    owner: str | None = None
    lease_until: float | None = None
    attempts: int = 0
    delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages for one receiver, delivered in one paste; ``name`` names the tmux buffer."""

    name: str
    receiver: str
    messages: tuple[Message, ...]
    owner: str

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.messages)


@dataclass(frozen=True, slots=True)
class Link:
    worker: str
    assigner: str
    mode: str  # handoff | assign
    created_at: float


def inbox_m001_messages(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS team_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sender TEXT NOT NULL, receiver TEXT NOT NULL, text TEXT NOT NULL,
            created_at REAL NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            batch TEXT, owner TEXT, lease_until REAL,
            attempts INTEGER NOT NULL DEFAULT 0, delivered_at REAL)"""
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS team_messages_receiver ON team_messages (receiver, state, id)"
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS team_links (
            worker TEXT PRIMARY KEY, assigner TEXT NOT NULL, mode TEXT NOT NULL,
            created_at REAL NOT NULL)"""
    )


MIGRATIONS: Final = (inbox_m001_messages,)


def process_owner() -> str:
    """This process as a lease owner: ``<pid>:<start nonce>`` (a reused pid is not us)."""
    return f"{os.getpid()}:{_NONCE}"


_NONCE: Final = f"{time.time_ns():x}"


def owner_alive(owner: str) -> bool:
    """Whether the process that took a lease still runs (this process always does)."""
    if owner == process_owner():
        return True
    try:
        pid = int(owner.split(":", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A live pid with another nonce may be a reused pid; the lease's expiry decides then.
    return True


def render_batch(batch: Batch) -> str:
    """The text pasted into the receiver: each message under a header naming its sender."""
    parts = [f"[message #{m.id} from {m.sender}]\n{m.text.strip()}" for m in batch.messages]
    return "\n\n".join(parts)


class Inbox:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._lock = threading.Lock()
        with self._locked() as conn:
            migrate(conn, MIGRATIONS)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self.db
            except sqlite3.Error as exc:
                raise TeamError(f"inbox: {exc}") from None

    # ------------------------------------------------------------------------ sending

    def enqueue(self, sender: str, receiver: str, text: str, now: float | None = None) -> Message:
        if not text.strip():
            raise TeamError("a message needs some text")
        stamp = time.time() if now is None else now
        with self._locked() as db:
            cur = db.execute(
                "INSERT INTO team_messages (sender, receiver, text, created_at) VALUES (?, ?, ?, ?)",
                (sender, receiver, text, stamp),
            )
            row_id = cur.lastrowid
        assert row_id is not None
        return Message(row_id, sender, receiver, text, stamp)

    # ----------------------------------------------------------------------- delivery

    def next_batch(self, receiver: str, owner: str | None = None) -> Batch | None:
        """The batch to deliver next (read only): None while one is in flight or none pend.

        The caller loads it into a tmux buffer, then ``claim``s it (see the module doc)."""
        with self._locked() as db:
            busy = db.execute(
                "SELECT 1 FROM team_messages WHERE receiver = ? AND state = 'delivering' LIMIT 1",
                (receiver,),
            ).fetchone()
            if busy:
                return None
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM team_messages WHERE receiver = ? AND state = 'pending' "
                "ORDER BY id LIMIT ?",
                (receiver, MAX_BATCH_MESSAGES),
            ).fetchall()
        messages: list[Message] = []
        size = 0
        for row in rows:
            message = _message(row)
            size += len(message.text)
            if messages and size > MAX_BATCH_CHARS:
                break
            messages.append(message)
        if not messages:
            return None
        first, last = messages[0].id, messages[-1].id
        name = f"kb-msg-{first}-{last}-{messages[0].attempts}"
        return Batch(name, receiver, tuple(messages), owner or process_owner())

    def claim(
        self, batch: Batch, *, lease: float = DEFAULT_LEASE, now: float | None = None
    ) -> bool:
        """Mark the batch ``delivering`` (all its rows still pending, none other in flight).

        False when another deliverer got there first: then do not paste."""
        stamp = time.time() if now is None else now
        ids = batch.ids
        marks = ",".join("?" * len(ids))
        with self._locked() as db, db:
            db.execute("BEGIN IMMEDIATE")
            busy = db.execute(
                "SELECT 1 FROM team_messages WHERE receiver = ? AND state = 'delivering' LIMIT 1",
                (batch.receiver,),
            ).fetchone()
            if busy:
                return False
            cur = db.execute(
                f"""UPDATE team_messages SET state = 'delivering', batch = ?, owner = ?,
                    lease_until = ?, attempts = attempts + 1
                    WHERE id IN ({marks}) AND state = 'pending'""",
                (batch.name, batch.owner, stamp + lease, *ids),
            )
            if cur.rowcount != len(ids):
                db.execute("ROLLBACK")
                return False
        return True

    def confirm(self, batch_name: str, now: float | None = None) -> int:
        """The batch was pasted and submitted: its rows are delivered. Returns rows changed."""
        stamp = time.time() if now is None else now
        with self._locked() as db:
            cur = db.execute(
                """UPDATE team_messages SET state = 'delivered', delivered_at = ?, lease_until = NULL
                   WHERE batch = ? AND state = 'delivering'""",
                (stamp, batch_name),
            )
        return cur.rowcount

    def release(self, batch_name: str) -> int:
        """The batch was not pasted: its rows go back to pending (and keep their order)."""
        with self._locked() as db:
            cur = db.execute(
                """UPDATE team_messages SET state = 'pending', batch = NULL, owner = NULL,
                   lease_until = NULL WHERE batch = ? AND state = 'delivering'""",
                (batch_name,),
            )
        return cur.rowcount

    def in_doubt(
        self,
        now: float | None = None,
        *,
        owner: str | None = None,
        alive: Callable[[str], bool] = owner_alive,
    ) -> list[Batch]:
        """Batches left ``delivering`` by a deliverer that is gone (or whose lease ran out).

        Batches of ``owner`` (by default: this process) count only once their lease ran out."""
        stamp = time.time() if now is None else now
        me = owner or process_owner()
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM team_messages WHERE state = 'delivering' ORDER BY id"
            ).fetchall()
        groups: dict[str, list[Message]] = {}
        for row in rows:
            message = _message(row)
            groups.setdefault(message.batch or "", []).append(message)
        doubtful: list[Batch] = []
        for name, messages in groups.items():
            first = messages[0]
            holder = first.owner or ""
            expired = first.lease_until is None or first.lease_until <= stamp
            gone = holder != me and not alive(holder)
            if expired or gone:
                doubtful.append(Batch(name, first.receiver, tuple(messages), holder))
        return doubtful

    def receivers_pending(self) -> list[str]:
        with self._locked() as db:
            rows = db.execute(
                "SELECT DISTINCT receiver FROM team_messages WHERE state != 'delivered' "
                "ORDER BY receiver"
            ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------------ reading

    def messages(
        self, receiver: str | None = None, *, states: Sequence[MessageState] = (), limit: int = 200
    ) -> list[Message]:
        """Messages (oldest first) for ``receiver`` (or everyone), optionally in some states."""
        where: list[str] = []
        args: list[Any] = []
        if receiver is not None:
            where.append("receiver = ?")
            args.append(receiver)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._locked() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS} FROM team_messages {clause} "
                "ORDER BY id DESC LIMIT ?) ORDER BY id",
                (*args, limit),
            ).fetchall()
        return [_message(r) for r in rows]

    def message(self, message_id: int) -> Message | None:
        with self._locked() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM team_messages WHERE id = ?", (message_id,)
            ).fetchone()
        return _message(row) if row else None

    # -------------------------------------------------------------------------- links

    def link(self, worker: str, assigner: str, mode: str, now: float | None = None) -> None:
        stamp = time.time() if now is None else now
        with self._locked() as db:
            db.execute(
                "INSERT OR REPLACE INTO team_links VALUES (?, ?, ?, ?)",
                (worker, assigner, mode, stamp),
            )

    def assigner_of(self, worker: str) -> Link | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT worker, assigner, mode, created_at FROM team_links WHERE worker = ?",
                (worker,),
            ).fetchone()
        return Link(*row) if row else None

    def links(self, mode: str | None = None) -> list[Link]:
        query = "SELECT worker, assigner, mode, created_at FROM team_links"
        args: tuple[str, ...] = ()
        if mode is not None:
            query += " WHERE mode = ?"
            args = (mode,)
        with self._locked() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return [Link(*r) for r in rows]

    def resolve(self, worker: str, text: str, now: float | None = None) -> Message | None:
        """In one transaction: queue ``text`` from ``worker`` to whoever linked it, and drop
        the link (a kill can neither lose the message nor send it twice). None: no link."""
        stamp = time.time() if now is None else now
        with self._locked() as db, db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT assigner FROM team_links WHERE worker = ?", (worker,)
            ).fetchone()
            if row is None:
                return None
            cur = db.execute(
                "INSERT INTO team_messages (sender, receiver, text, created_at) VALUES (?, ?, ?, ?)",
                (worker, row[0], text, stamp),
            )
            db.execute("DELETE FROM team_links WHERE worker = ?", (worker,))
        assert cur.lastrowid is not None
        return Message(cur.lastrowid, worker, row[0], text, stamp)

    def withdraw(self, receiver: str) -> int:
        """Drop ``receiver``'s pending messages (it never started: nobody can take them)."""
        with self._locked() as db:
            cur = db.execute(
                "DELETE FROM team_messages WHERE receiver = ? AND state = 'pending'", (receiver,)
            )
        return cur.rowcount

    def unlink(self, worker: str) -> None:
        with self._locked() as db:
            db.execute("DELETE FROM team_links WHERE worker = ?", (worker,))


def _message(row: Sequence[Any]) -> Message:
    return Message(*row)
