"""A screen poll (``team send``/``wait``/``status`` in another process) and the gateway's wire
supervisor write the same store row: while the wire knows the agent, the poll keeps the wire's
status and source, and only states what the screen alone sees (an approval prompt, a dead pane).

The screens are real kimi-cli 1.52 captures; tmux is an in-memory stand-in with one pane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.team.runtime import TeamRuntime
from kimibridge.team.store import Agent, Team, TeamStore, connect
from kimibridge.team.tmux import Pane

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kimi-tui-1.52"
IDLE = "04-idle-after-answer"
APPROVAL = "06-approval-prompt"


class OnePaneTmux:
    """tmux as ``poll`` sees it: one window ``a`` in session ``kb-t`` showing ``screen``."""

    def __init__(self) -> None:
        self.screen = IDLE
        self.dead = False

    async def panes(self, session: str) -> list[Pane]:
        assert session == "kb-t"
        return [Pane("a", "%1", 4242, self.dead, "python", False)]

    async def capture(self, pane_id: str, history: int = 0) -> str:
        assert pane_id == "%1"
        return (FIXTURES / f"{self.screen}.ansi.txt").read_text()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TeamStore]:
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    store = TeamStore(connect(paths))
    store.add_team(Team("t", "kb-t", "/p", 1.0))
    store.add_agent(
        Agent(
            id="a",
            team="t",
            profile="developer",
            provider="kimi_cli",
            tmux_target="kb-t:a",
            key_label="team-t-a",
            project_dir="/p",
            agent_dir=str(tmp_path / "agent"),
            state="running",
            pane_id="%1",
            pid=4242,
        )
    )
    yield store
    store.close()


@pytest.fixture
def tmux() -> OnePaneTmux:
    return OnePaneTmux()


@pytest.fixture
def rt(tmp_path: Path, store: TeamStore, tmux: OnePaneTmux) -> TeamRuntime:
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    return TeamRuntime(paths, {}, store=store, tmux=tmux)  # type: ignore[arg-type]


async def test_poll_keeps_the_wires_status_and_source(rt: TeamRuntime, store: TeamStore) -> None:
    # The supervisor: a tool runs (the last response ended with tool_calls); kimi-cli's screen
    # between two steps looks idle.
    store.update_agent("a", status="busy", status_source="wire", last_activity=5.0)
    agent = await rt.poll("a")
    assert (agent.status, agent.status_source, agent.last_activity) == ("busy", "wire", 5.0)
    stored = store.agent("a")
    assert stored is not None and (stored.status, stored.status_source) == ("busy", "wire")


async def test_poll_states_an_approval_prompt_as_the_screens(
    rt: TeamRuntime, store: TeamStore, tmux: OnePaneTmux
) -> None:
    store.update_agent("a", status="busy", status_source="wire")
    tmux.screen = APPROVAL
    agent = await rt.poll("a")
    assert (agent.status, agent.status_source) == ("waiting", "screen")


async def test_poll_states_a_dead_pane_as_the_screens(
    rt: TeamRuntime, store: TeamStore, tmux: OnePaneTmux
) -> None:
    store.update_agent("a", status="completed", status_source="wire")
    tmux.dead = True
    agent = await rt.poll("a")
    assert (agent.state, agent.status, agent.status_source) == ("gone", "error", "screen")


async def test_poll_without_the_wire_stores_the_screens_status(
    rt: TeamRuntime, store: TeamStore
) -> None:
    assert (store.agent("a") or pytest.fail()).status == "unknown"
    agent = await rt.poll("a")
    assert (agent.status, agent.status_source) == ("idle", "screen")


async def test_a_turn_the_screen_sees_end_keeps_the_wires_answer(
    rt: TeamRuntime, store: TeamStore
) -> None:
    store.begin_turn("a", echo_baseline=0)
    # The wire completed the turn first and stored the model's exact text.
    store.update_agent("a", status="completed", status_source="wire", last_reply="exact answer")
    agent = await rt.poll("a")
    while agent.turn_active:  # the screen settles on the idle answer
        agent = await rt.poll("a")
    assert (agent.status, agent.status_source) == ("completed", "wire")
    assert agent.last_reply == "exact answer"
