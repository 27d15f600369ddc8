"""The team store: schema made idempotently, agents round-trip, turns counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.team.store import Agent, Team, TeamStore, connect, db_path, migrate


def _paths(tmp_path: Path) -> Paths:
    return Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")


def _agent(**kw: object) -> Agent:
    base: dict[str, object] = {
        "id": "dev",
        "team": "t",
        "profile": "developer",
        "provider": "kimi_cli",
        "tmux_target": "kb-t:dev",
        "key_label": "team-t-dev",
        "project_dir": "/p",
        "agent_dir": "/a",
        "created_at": 1.0,
    }
    base.update(kw)
    return Agent(**base)  # type: ignore[arg-type]


def test_connect_is_idempotent_and_wal(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    a = connect(paths)
    b = connect(paths)  # a second process opening the same file
    assert a.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in b.execute("SELECT name FROM _kimibridge_migrations")}
    assert names == {"team_m001_teams_agents", "team_m002_turn_baselines"}
    assert db_path(paths).stat().st_mode & 0o777 == 0o600
    a.close()
    b.close()


def test_other_modules_add_their_tables(tmp_path: Path) -> None:
    db = connect(_paths(tmp_path))

    def inbox_m001(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY)")

    migrate(db, [inbox_m001])
    migrate(db, [inbox_m001])  # recorded: not run twice
    assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0


def test_agents_round_trip_and_turns(tmp_path: Path) -> None:
    store = TeamStore.open(_paths(tmp_path))
    store.add_team(Team("t", "kb-t", "/p", 1.0))
    assert store.add_team(Team("t", "other", "/q", 2.0)).session == "kb-t"  # first one kept
    store.add_agent(_agent(auto_approve=True))
    with pytest.raises(TeamError, match="already exists"):
        store.add_agent(_agent())
    got = store.agent("dev")
    assert got is not None and got.auto_approve is True and got.turn_seen_busy is False
    turned = store.begin_turn("dev", echo_baseline=2, transcript_baseline=3, now=5.0)
    assert (turned.turn, turned.status, turned.turn_started_at) == (1, "busy", 5.0)
    assert (turned.turn_active, turned.echo_baseline, turned.transcript_baseline) == (True, 2, 3)
    seen = store.update_agent("dev", turn_seen_busy=True, last_reply="hi")
    assert seen.turn_seen_busy and seen.last_reply == "hi"
    assert [a.id for a in store.agents("t")] == ["dev"]
    with pytest.raises(ValueError):
        store.update_agent("dev", nope=1)
    with pytest.raises(TeamError):
        store.update_agent("missing", status="idle")
    store.remove_team("t")  # cascades to its agents
    assert store.agents() == []
