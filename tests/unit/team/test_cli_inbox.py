"""`team inbox` lists pending and delivered messages; `team ls` usage comes from the ledger."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from kimibridge.cli.team import app
from kimibridge.config import Paths
from kimibridge.gateway.ledger import LEDGER_FILE_NAME, Ledger, LedgerRow
from kimibridge.team.inbox import Inbox
from kimibridge.team.store import connect
from kimibridge.team.usage import usage_by_label


def test_inbox_shows_pending_and_delivered() -> None:
    paths = Paths.from_env(dict(os.environ))
    box = Inbox(connect(paths))
    first = box.enqueue("sup", "w1", "first task\nwith details")
    box.enqueue("sup", "w1", "second")
    batch = box.next_batch("w1")
    assert batch is not None and batch.ids == (first.id, first.id + 1)
    assert box.claim(batch)
    box.confirm(batch.name)
    box.enqueue("sup", "w1", "third")
    result = CliRunner().invoke(app, ["inbox", "w1"])
    assert result.exit_code == 0, result.output
    lines = [ln.split() for ln in result.output.splitlines()[1:]]
    assert [(ln[0], ln[1], ln[2]) for ln in lines] == [
        ("1", "sup", "delivered"),
        ("2", "sup", "delivered"),
        ("3", "sup", "pending"),
    ]
    assert "first task" in result.output and "with details" not in result.output
    empty = CliRunner().invoke(app, ["inbox", "nobody"])
    assert empty.exit_code == 0 and "no messages for nobody" in empty.output


def test_usage_by_label_from_the_ledger() -> None:
    paths = Paths.from_env(dict(os.environ))
    assert usage_by_label(paths) == {}
    ledger = Ledger(paths.state_dir / LEDGER_FILE_NAME)
    for cached in (0, 900):
        ledger.record(
            LedgerRow(1.0, "team-t-w1", "m", "m", "openai", "openai", True, 200, 1000, 20, cached)
        )
    ledger.close()
    assert usage_by_label(paths) == {"team-t-w1": ("2040", "45%")}
