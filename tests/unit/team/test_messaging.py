"""handoff / assign / send_message over a running supervisor, with workers whose "harness" is a
script of wire events (the real thing runs in tests/e2e/test_team_messaging.py)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.gateway.events import EventBus, EventKind, TurnEvent
from kimibridge.team.inbox import Inbox
from kimibridge.team.messaging import TeamService
from kimibridge.team.store import Agent, Team, TeamStore, connect
from kimibridge.team.supervisor import Supervisor
from kimibridge.team.timeouts import TeamTimeouts
from tests.unit.team.model_tmux import ModelTmux

Turn = Sequence[tuple[EventKind, str | None, str | None]]  # (kind, stop reason, text) per event


class ScriptedWorkers:
    """``Workers`` whose agents answer each input with a scripted turn of wire events."""

    def __init__(self, store: TeamStore, bus: EventBus, turn: Turn) -> None:
        self.store = store
        self.bus = bus
        self.turn = turn
        self.ids = itertools.count(1)
        self.downed: list[str] = []
        self.inputs: list[tuple[str, str]] = []
        self.replies: dict[str, str] = {}

    async def up(
        self, profile_name: str, *, team: str = "t", name: str | None = None, **_: object
    ) -> Agent:
        n = next(self.ids)
        agent = Agent(
            id=name or f"{profile_name}-{n}",
            team=team,
            profile=profile_name,
            provider="kimi_cli",
            tmux_target=f"kb-{team}:w{n}",
            key_label=f"team-{team}-w{n}",
            project_dir="/p",
            agent_dir="/a",
            state="running",
            pane_id=f"%w{n}",
            created_at=time.time(),
        )
        return self.store.add_agent(agent)

    async def send_text(self, agent_id: str, text: str) -> Agent:
        self.inputs.append((agent_id, text))
        agent = self.store.agent(agent_id)
        assert agent is not None
        asyncio.get_running_loop().call_later(0.05, self._play, agent.key_label)
        return agent

    def _play(self, label: str) -> None:
        for i, (kind, stop, text) in enumerate(self.turn):
            error = "upstream 503" if kind == "request_failed" else None
            self.bus.publish(
                TurnEvent(
                    kind, label, f"r{i // 2}", "m", "openai", time.time(), True, stop, text, error
                )
            )

    async def down(self, agent_id: str | None = None, *, team: str | None = None) -> list[str]:
        assert agent_id is not None
        self.downed.append(agent_id)
        self.store.remove_agent(agent_id)
        return [agent_id]

    async def reply(self, agent_id: str) -> str | None:
        return self.replies.get(agent_id)

    async def wait(self, agent_id: str, *, within: float | None = None) -> Agent:
        agent = self.store.agent(agent_id)
        assert agent is not None
        return agent


def _setup(
    tmp_path: Path, turn: Turn, timeouts: TeamTimeouts | None = None
) -> tuple[TeamService, ScriptedWorkers, Agent, Inbox]:
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    store = TeamStore(connect(paths))
    store.add_team(Team("t", "kb-t", "/p", 1.0))
    sup = store.add_agent(
        Agent(
            id="sup",
            team="t",
            profile="developer",
            provider="kimi_cli",
            tmux_target="kb-t:sup",
            key_label="team-t-sup",
            project_dir="/p",
            agent_dir="/a",
            state="running",
            created_at=1.0,
        )
    )
    bus = EventBus()
    inbox = Inbox(connect(paths))
    supervisor = Supervisor(bus, store, inbox, ModelTmux(), settle=0.05, tick=0.1)
    supervisor.deliverer.enter_delay = 0
    workers = ScriptedWorkers(store, bus, turn)
    service = TeamService(store, inbox, supervisor, workers, timeouts=timeouts)
    return service, workers, sup, inbox


ANSWERED: Turn = (
    ("request_started", None, None),
    ("response_finished", "tool_use", ""),
    ("request_started", None, None),
    ("response_finished", "end_turn", "the exact answer"),
)


async def test_handoff_returns_the_answer_and_stops_the_worker(tmp_path: Path) -> None:
    service, workers, sup, inbox = _setup(tmp_path, ANSWERED)
    await service.supervisor.start()
    try:
        result = await service.handoff(sup, "developer", "do it", gateway_url="http://x")
    finally:
        await service.supervisor.stop()
    assert (result.status, result.answer) == ("completed", "the exact answer")
    assert workers.inputs == [("developer-1", "do it")]
    assert workers.downed == ["developer-1"]
    assert inbox.assigner_of("developer-1") is None  # the link goes with the worker


async def test_handoff_times_out_and_still_stops_the_worker(tmp_path: Path) -> None:
    busy_forever: Turn = (("request_started", None, None),)
    service, workers, sup, _ = _setup(tmp_path, busy_forever)
    await service.supervisor.start()
    try:
        result = await service.handoff(sup, "developer", "x", gateway_url="http://x", within=0.5)
    finally:
        await service.supervisor.stop()
    assert result.status == "timeout"
    assert "0 s" in result.detail or "1 s" in result.detail
    assert workers.downed == ["developer-1"]


async def test_handoff_reports_a_failed_worker(tmp_path: Path) -> None:
    failed: Turn = (("request_started", None, None), ("request_failed", None, None))
    service, workers, sup, _ = _setup(tmp_path, failed)
    service.supervisor.retry_grace = 0.1  # no retry came: an error soon
    await service.supervisor.start()
    try:
        result = await service.handoff(sup, "developer", "x", gateway_url="http://x", within=10)
    finally:
        await service.supervisor.stop()
    assert result.status == "error"
    assert result.detail == "upstream 503"
    assert workers.downed == ["developer-1"]


async def test_assign_queues_the_task_and_the_report_finds_the_assigner(tmp_path: Path) -> None:
    service, _workers, sup, inbox = _setup(tmp_path, ANSWERED)
    worker_id, message_id = await service.assign(sup, "developer", "build it", gateway_url="u")
    assert worker_id.startswith("developer-")
    task = inbox.message(message_id)
    assert task is not None and task.receiver == worker_id and task.text.startswith("build it")
    for starting in list(service._background):
        await starting
    worker = service.store.agent(worker_id)
    assert worker is not None
    assert "send_message" in task.text
    to, _ = await service.send_message(worker, "done: built")
    assert to == "sup"
    assert [m.text for m in inbox.messages("sup")] == ["done: built"]
    with pytest.raises(TeamError, match="that is you"):
        await service.send_message(sup, "hi", to="sup")
    with pytest.raises(TeamError, match="nobody assigned you"):
        await service.send_message(sup, "hi")
    with pytest.raises(TeamError, match="no agent named"):
        await service.send_message(sup, "hi", to="ghost")
    rows = await service.list_agents(worker)
    assert [(r["id"], r.get("you"), r.get("assigned_you")) for r in rows] == [
        ("sup", None, True),
        (worker.id, True, None),
    ]


async def test_a_handoff_whose_waiter_died_sends_its_answer_as_a_message(tmp_path: Path) -> None:
    service, workers, sup, inbox = _setup(tmp_path, ANSWERED)
    worker = await workers.up("developer")
    inbox.link(worker.id, sup.id, "handoff")  # as the dead process left it
    workers.replies[worker.id] = "the late answer"
    for task in await service.recover_handoffs():
        await task
    [message] = inbox.messages("sup")
    assert message.sender == worker.id
    assert message.text.endswith("\nthe late answer")
    assert workers.downed == [worker.id]
    assert inbox.links() == []
    assert await service.recover_handoffs() == []  # resolved once, not again
    assert inbox.resolve(worker.id, "again") is None


async def test_assign_that_cannot_start_tells_the_assigner(tmp_path: Path) -> None:
    service, workers, sup, inbox = _setup(tmp_path, ANSWERED)

    async def broken_up(profile_name: str, **_: object) -> Agent:
        raise TeamError("agent developer-x did not become ready in 90 s: (empty screen)")

    workers.up = broken_up  # type: ignore[method-assign]
    worker_id, _ = await service.assign(sup, "developer", "build it", gateway_url="u")
    for task in list(service._background):
        await task
    [note] = inbox.messages("sup")
    assert "failed" in note.text and "did not become ready" in note.text
    assert inbox.messages(worker_id) == []  # the task is withdrawn
    assert inbox.assigner_of(worker_id) is None


async def test_assign_checks_the_profile_at_once(tmp_path: Path) -> None:
    service, _workers, sup, inbox = _setup(tmp_path, ANSWERED)

    def check(name: str, project: Path) -> None:
        raise TeamError(f"no profile named {name!r}")

    service.check_profile = check
    with pytest.raises(TeamError, match="no profile named 'nope'"):
        await service.assign(sup, "nope", "x", gateway_url="u")
    assert inbox.messages() == []


async def test_the_handoff_wait_is_the_teams_setting(tmp_path: Path) -> None:
    """A service built with a short handoff timeout stops waiting there, even when the caller
    asked for longer (its harness would give up at the setting + margin)."""
    busy_forever: Turn = (("request_started", None, None),)
    service, workers, sup, _ = _setup(tmp_path, busy_forever, TeamTimeouts(handoff=0.5))
    await service.supervisor.start()
    try:
        result = await service.handoff(sup, "developer", "x", gateway_url="http://x", within=60)
    finally:
        await service.supervisor.stop()
    assert result.status == "timeout"
    assert workers.downed == ["developer-1"]
