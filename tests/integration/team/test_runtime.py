"""The runtime over real tmux with a stand-in harness: start, send, watch, reply, re-adopt,
notice a vanished window and an exited harness, stop (keys revoked)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.gateway.local_auth import LocalKeys
from kimibridge.team import providers, screens
from kimibridge.team.runtime import TeamRuntime
from kimibridge.team.store import Agent
from tests.clients import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture
async def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TeamRuntime]:
    require_tool("tmux")
    monkeypatch.setitem(providers.PROVIDERS, "fake_tui", "tests.integration.team.fake_provider")
    monkeypatch.setitem(screens.READERS, "fake_tui", "kimibridge.team.screens.kimi_cli")
    project = tmp_path / "project"
    (project / ".kimibridge" / "agents").mkdir(parents=True)
    (project / ".kimibridge" / "agents" / "echo.md").write_text(
        "---\nname: echo\nprovider: fake_tui\n---\nEcho.\n"
    )
    (project / ".kimibridge" / "agents" / "trusted.md").write_text(
        "---\nname: trusted\nprovider: fake_tui\nautoApprove: true\n---\nEcho.\n"
    )
    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    runtime = TeamRuntime(paths, {"PATH": "/usr/bin:/bin"}, poll_interval=0.1)
    yield runtime
    await runtime.tmux.kill_server()
    runtime.close()


async def _up(
    rt: TeamRuntime, tmp_path: Path, name: str | None = None, profile: str = "echo"
) -> Agent:
    return await rt.up(
        profile,
        team="t1",
        name=name,
        project_dir=tmp_path / "project",
        gateway_url="http://127.0.0.1:9",
        ready_timeout=20,
    )


async def test_send_wait_reply_and_a_second_process(rt: TeamRuntime, tmp_path: Path) -> None:
    agent = await _up(rt, tmp_path)
    assert (agent.id, agent.status, agent.state) == ("echo", "idle", "running")
    assert "team-t1-echo" in LocalKeys.load_or_create(rt.paths.config_dir).labels()

    seen: list[str] = []
    await rt.send_text(agent.id, "hello there")
    done = await rt.wait(agent.id, within=20, on_change=lambda a: seen.append(a.status))
    assert seen == ["busy", "completed"]
    assert done.last_reply == "echo: hello there\nsecond line"
    assert not done.turn_active and done.turn == 1

    # A turn started by this process, watched to the end by another (same store, new tracker).
    await rt.send_text(agent.id, "slow one")
    await asyncio.sleep(0.5)
    other = TeamRuntime(rt.paths, rt.environ, poll_interval=0.1)
    try:
        assert (await other.adopt())[0].state == "running"
        finished = await other.wait(agent.id, within=20)
    finally:
        other.close()
    assert finished.status == "completed" and finished.last_reply == "echo: slow one\nsecond line"
    assert await rt.reply(agent.id) == "echo: slow one\nsecond line"
    assert "✨ slow one" in await rt.logs(agent.id)


async def test_names_vanished_windows_and_exited_harnesses(rt: TeamRuntime, tmp_path: Path) -> None:
    first = await _up(rt, tmp_path)
    second = await _up(rt, tmp_path)
    assert second.id == "echo-2"

    await rt.tmux.kill_window(first.pane_id or "")
    await rt.send_text(second.id, "die now")
    for _ in range(50):
        await rt.adopt()
        states = {a.id: a.state for a in await rt.agents()}
        if states == {"echo": "gone", "echo-2": "gone"}:
            break
        await asyncio.sleep(0.1)
    assert states == {"echo": "gone", "echo-2": "gone"}
    assert (await rt.agent("echo-2")).status == "error"
    with pytest.raises(TeamError, match="is gone"):
        await rt.send_text("echo", "anyone?")

    stopped = await rt.down(team="t1")
    assert sorted(stopped) == ["echo", "echo-2"]
    assert await rt.agents() == []
    labels = LocalKeys.load_or_create(rt.paths.config_dir).labels()
    assert not any(label.startswith("team-t1-") for label in labels)
    assert await rt.tmux.panes("kb-t1") == []


async def test_a_harness_that_dies_at_start_is_one_clear_error(
    rt: TeamRuntime, tmp_path: Path
) -> None:
    with pytest.raises(TeamError, match=r"exited while starting: .*told to die"):
        await rt.up(
            "echo",
            team="t2",
            project_dir=tmp_path / "project",
            gateway_url="http://127.0.0.1:9",
            wrap=["sh", "-c", "echo 'fatal: told to die'; exit 3"],  # never draws its screen
            ready_timeout=20,
        )


async def test_approvals_are_answered_only_when_the_profile_allows(
    rt: TeamRuntime, tmp_path: Path
) -> None:
    cautious = await _up(rt, tmp_path)
    await rt.send_text(cautious.id, "ask first")
    waiting = await rt.wait(cautious.id, within=20)
    assert (waiting.status, waiting.turn_active) == ("waiting", True)
    await asyncio.sleep(1)  # nobody answers it for the user
    assert (await rt.screen_status(cautious.id)).state == "waiting"
    await rt.tmux.send_keys(cautious.pane_id or "", "1")  # the user approves
    done = await rt.wait(cautious.id, within=20, through_approvals=True)
    assert done.last_reply == "echo: ask first\nsecond line"

    trusted = await _up(rt, tmp_path, profile="trusted")
    assert trusted.auto_approve
    await rt.send_text(trusted.id, "ask again")
    done = await rt.wait(trusted.id, within=20)
    assert (done.status, done.last_reply) == ("completed", "echo: ask again\nsecond line")
