"""The tmux layer against a real tmux server (a private socket per test)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from kimibridge.team.tmux import Tmux
from tests.clients import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture
async def tmux() -> AsyncIterator[Tmux]:
    require_tool("tmux")
    t = Tmux("kbtest-" + secrets.token_hex(4))
    yield t
    await t.kill_server()


async def _until(predicate: Callable[[str], bool], tmux: Tmux, target: str) -> str:
    for _ in range(100):
        text = await tmux.capture(target)
        if predicate(text):
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(text)


async def test_window_paste_capture_and_history(tmux: Tmux, tmp_path: Path) -> None:
    script = 'while IFS= read -r l; do printf "got: %s\\n" "$l"; done'
    pane = await tmux.new_window(
        "kb-t", "a1", ["sh", "-c", script], cwd=str(tmp_path), width=120, height=5
    )
    assert pane.window == "a1" and pane.pane_id.startswith("%")
    await tmux.paste(pane.pane_id, "hello there")
    await _until(lambda t: "got: hello there" in t, tmux, pane.pane_id)
    # More lines than the screen holds: the capture still has all of them.
    for i in range(12):
        await tmux.paste(pane.pane_id, f"line {i}")
    text = await _until(lambda t: "got: line 11" in t, tmux, pane.pane_id)
    assert "got: line 0\n" in text
    size = await tmux.run(
        "display-message", "-p", "-t", pane.pane_id, "#{window_width}x#{window_height}"
    )
    assert size.strip() == "120x5"
    second = await tmux.new_window("kb-t", "a2", ["sleep", "30"], cwd=str(tmp_path))
    assert [p.window for p in await tmux.panes("kb-t")] == ["a1", "a2"]
    cwd = await tmux.run("display-message", "-p", "-t", second.pane_id, "#{pane_current_path}")
    assert cwd.strip() == str(tmp_path)  # tmp_path is already resolved
    await tmux.kill_window(second.pane_id)
    assert [p.window for p in await tmux.panes("kb-t")] == ["a1"]
    await tmux.kill_session("kb-t")
    assert await tmux.panes("kb-t") == []


async def test_an_exited_harness_leaves_a_dead_pane(tmux: Tmux, tmp_path: Path) -> None:
    pane = await tmux.new_window(
        "kb-d", "x", ["sh", "-c", "sleep 0.3; echo bye"], cwd=str(tmp_path)
    )
    for _ in range(100):
        [now] = await tmux.panes("kb-d")
        if now.dead:
            break
        await asyncio.sleep(0.05)
    assert now.dead and now.pane_id == pane.pane_id
    assert "bye" in await tmux.capture(pane.pane_id)
