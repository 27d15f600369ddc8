"""The inbox rows and the delivery protocol: every message delivered once, in order, whatever
step a kill lands on (a model of tmux's buffers stands in for tmux; tests/integration runs the
same protocol against real tmux)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.team.delivery import Deliverer
from kimibridge.team.inbox import Inbox, render_batch
from kimibridge.team.store import connect
from tests.unit.team.model_tmux import Killed, ModelTmux


def _inbox(tmp_path: Path) -> Inbox:
    return Inbox(connect(Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")))


def test_enqueue_claim_confirm_in_order(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    for i in range(3):
        inbox.enqueue("sup", "w1", f"hello {i}", now=float(i))
    inbox.enqueue("sup", "w2", "other", now=5.0)
    batch = inbox.next_batch("w1", owner="me")
    assert batch is not None
    assert [m.text for m in batch.messages] == ["hello 0", "hello 1", "hello 2"]
    assert render_batch(batch).startswith("[message #1 from sup]\nhello 0\n\n[message #2 from")
    assert inbox.claim(batch, now=10.0)
    assert not inbox.claim(batch, now=10.0)  # already delivering
    inbox.enqueue("sup", "w1", "later", now=11.0)
    assert inbox.next_batch("w1") is None  # nothing newer while a batch is in flight
    assert inbox.confirm(batch.name, now=12.0) == 3
    nxt = inbox.next_batch("w1")
    assert nxt is not None
    assert [m.text for m in nxt.messages] == ["later"]
    states = [(m.text, m.state) for m in inbox.messages("w1")]
    assert states == [
        ("hello 0", "delivered"),
        ("hello 1", "delivered"),
        ("hello 2", "delivered"),
        ("later", "pending"),
    ]
    assert [m.text for m in inbox.messages("w1", states=("pending",))] == ["later"]
    assert inbox.receivers_pending() == ["w1", "w2"]


def test_release_keeps_order_and_renames_the_next_attempt(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.enqueue("a", "b", "one")
    inbox.enqueue("a", "b", "two")
    first = inbox.next_batch("b")
    assert first is not None and inbox.claim(first)
    assert inbox.release(first.name) == 2
    again = inbox.next_batch("b")
    assert again is not None
    assert again.ids == first.ids
    assert again.name != first.name  # a stray buffer of the first attempt is never mistaken


def test_in_doubt_needs_a_dead_owner_or_an_expired_lease(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.enqueue("a", "b", "x")
    batch = inbox.next_batch("b", owner="other:1")
    assert batch is not None and inbox.claim(batch, lease=60.0, now=100.0)
    assert inbox.in_doubt(110.0, owner="me", alive=lambda o: True) == []
    assert [b.name for b in inbox.in_doubt(110.0, owner="me", alive=lambda o: False)] == [
        batch.name
    ]
    assert [b.name for b in inbox.in_doubt(161.0, owner="me", alive=lambda o: True)] == [batch.name]


def test_empty_message_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TeamError):
        _inbox(tmp_path).enqueue("a", "b", "  \n")


def test_links_survive_a_new_connection(tmp_path: Path) -> None:
    _inbox(tmp_path).link("w1", "sup", "assign")
    link = _inbox(tmp_path).assigner_of("w1")
    assert link is not None and (link.assigner, link.mode) == ("sup", "assign")


def test_schema_is_idempotent_and_shares_the_team_database(tmp_path: Path) -> None:
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    Inbox(connect(paths))
    Inbox(connect(paths)).enqueue("a", "b", "x")
    db = sqlite3.connect(paths.state_dir / "team.sqlite3")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"agents", "team_messages", "team_links"} <= tables


# ------------------------------------------------------------------ delivery under kills


def _delivered_ids(tmux: ModelTmux, target: str) -> list[int]:
    text = "\n".join(tmux.submitted.get(target, []))
    return [int(n) for n in re.findall(r"\[message #(\d+) from", text)]


def _simulate(
    inbox: Inbox, kills: dict[int, str], arrivals: list[tuple[str, int]]
) -> tuple[ModelTmux, dict[str, list[int]]]:
    """Deliver ``arrivals`` (receiver, burst size) while the deliverer is killed at ``kills``
    (tmux operation number -> before/after it); each kill is followed by a restart."""
    tmux = ModelTmux(kills.get)
    sent: dict[str, list[int]] = {"w1": [], "w2": []}

    async def run() -> None:
        pending_arrivals = list(arrivals)
        for generation in range(200):
            owner = f"gen{generation}"
            deliverer = Deliverer(
                inbox,
                tmux,
                TARGETS.get,
                owner=owner,
                alive=owner.__eq__,  # every earlier deliverer is dead
                enter_delay=0,
            )
            try:
                await deliverer.recover()
                while pending_arrivals:
                    receiver, burst = pending_arrivals.pop(0)
                    for _ in range(burst):
                        sent[receiver].append(inbox.enqueue("sup", receiver, "hi").id)
                    await deliverer.deliver(receiver)
                for receiver in TARGETS:
                    while await deliverer.deliver(receiver):
                        pass
                return
            except Killed:
                pass  # a restarted process takes over
        raise AssertionError("never finished")

    asyncio.run(run())
    return tmux, sent


def _check(inbox: Inbox, tmux: ModelTmux, sent: dict[str, list[int]]) -> None:
    for receiver, target in TARGETS.items():
        assert _delivered_ids(tmux, target) == sent[receiver]
        assert tmux.line.get(target, "") == ""  # nothing left unsubmitted
    assert all(m.state == "delivered" for m in inbox.messages(limit=1000))


TARGETS = {"w1": "kb-t:w1", "w2": "kb-t:w2"}
WHEN = ("before", "after")


def test_every_pair_of_kills(tmp_path: Path) -> None:
    """Exhaustive for a small workload: one kill, then a second one, at every operation."""
    arrivals = [("w1", 2), ("w2", 1), ("w1", 1)]
    runs = 0
    for first in range(1, 13):
        for second in range(first + 1, 15):
            for w1 in WHEN:
                for w2 in WHEN:
                    inbox = _inbox(tmp_path / f"{first}-{second}-{w1}-{w2}")
                    tmux, sent = _simulate(inbox, {first: w1, second: w2}, arrivals)
                    _check(inbox, tmux, sent)
                    inbox.db.close()
                    runs += 1
    assert runs > 300


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kills=st.lists(st.tuples(st.integers(1, 60), st.sampled_from(WHEN)), max_size=8),
    arrivals=st.lists(st.tuples(st.sampled_from(("w1", "w2")), st.integers(0, 6)), max_size=25),
)
def test_every_message_once_in_order_whatever_the_kills(
    tmp_path_factory: pytest.TempPathFactory,
    kills: list[tuple[int, str]],
    arrivals: list[tuple[str, int]],
) -> None:
    inbox = _inbox(tmp_path_factory.mktemp("inbox"))
    tmux, sent = _simulate(inbox, dict(kills), arrivals)
    _check(inbox, tmux, sent)
    inbox.db.close()
