"""Inbox delivery against a real tmux server: what tmux's named buffers promise the protocol
(``paste-buffer -d`` pastes and deletes at once; a buffer survives the process that loaded it),
and recovery after a deliverer died between its steps."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.team.agent_mcp import TmuxTerminal
from kimibridge.team.delivery import Deliverer
from kimibridge.team.inbox import Inbox, render_batch
from kimibridge.team.store import connect
from kimibridge.team.tmux import Tmux
from tests.clients import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture
async def tmux() -> AsyncIterator[Tmux]:
    require_tool("tmux")
    t = Tmux("kbtest-" + secrets.token_hex(4))
    yield t
    await t.run("kill-server", check=False)


def _read(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def _lines(path: Path, count: int) -> list[str]:
    lines: list[str] = []
    for _ in range(200):
        lines = await asyncio.to_thread(_read, path)
        if len(lines) >= count:
            break
        await asyncio.sleep(0.05)
    return lines


async def _receiver(tmux: Tmux, tmp_path: Path) -> tuple[str, Path]:
    """A pane whose program writes every submitted line to a file."""
    out = tmp_path / "received.txt"
    pane = await tmux.new_window(
        "kb-t", "rx", ["sh", "-c", f"cat > {out}"], cwd=str(tmp_path), width=120, height=10
    )
    return pane.pane_id, out


def _inbox(tmp_path: Path) -> Inbox:
    return Inbox(connect(Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")))


async def test_delivers_a_batch_once_and_consumes_its_buffer(tmux: Tmux, tmp_path: Path) -> None:
    target, out = await _receiver(tmux, tmp_path)
    inbox = _inbox(tmp_path)
    for i in range(3):
        inbox.enqueue("sup", "rx", f"note {i}")
    terminal = TmuxTerminal(tmux)
    deliverer = Deliverer(inbox, terminal, {"rx": target}.get, enter_delay=0.1)
    done = await deliverer.deliver("rx")
    assert done.ids == (1, 2, 3)
    lines = await _lines(out, 8)
    assert lines == [
        "[message #1 from sup]",
        "note 0",
        "",
        "[message #2 from sup]",
        "note 1",
        "",
        "[message #3 from sup]",
        "note 2",
    ]
    assert done.batch is not None and not await terminal.has_buffer(done.batch)
    assert not await deliverer.deliver("rx")  # nothing left


async def test_recovery_after_a_kill_before_the_paste(tmux: Tmux, tmp_path: Path) -> None:
    target, out = await _receiver(tmux, tmp_path)
    inbox = _inbox(tmp_path)
    inbox.enqueue("sup", "rx", "only once")
    terminal = TmuxTerminal(tmux)
    # a deliverer loaded and claimed the batch, then died before pasting
    batch = inbox.next_batch("rx", owner="99999999:dead")
    assert batch is not None
    await terminal.load_buffer(batch.name, render_batch(batch))
    assert inbox.claim(batch)
    fresh = Deliverer(inbox, terminal, {"rx": target}.get, alive=lambda o: False)
    [(_, decided)] = await fresh.recover()
    assert decided == "released"
    assert not await terminal.has_buffer(batch.name)
    assert (await fresh.deliver("rx")).ids == (1,)
    assert await _lines(out, 2) == ["[message #1 from sup]", "only once"]


async def test_recovery_after_a_kill_between_paste_and_enter(tmux: Tmux, tmp_path: Path) -> None:
    target, out = await _receiver(tmux, tmp_path)
    inbox = _inbox(tmp_path)
    inbox.enqueue("sup", "rx", "pasted, not submitted")
    terminal = TmuxTerminal(tmux)
    batch = inbox.next_batch("rx", owner="99999999:dead")
    assert batch is not None
    await terminal.load_buffer(batch.name, render_batch(batch))
    assert inbox.claim(batch)
    await terminal.paste_buffer(batch.name, target)  # ... and the process died here
    fresh = Deliverer(inbox, terminal, {"rx": target}.get, alive=lambda o: False)
    [(_, decided)] = await fresh.recover()
    assert decided == "confirmed"
    assert await _lines(out, 2) == ["[message #1 from sup]", "pasted, not submitted"]
    assert [m.state for m in inbox.messages("rx")] == ["delivered"]
    assert not await fresh.deliver("rx")
    # an extra Enter on an empty line submits nothing more than an empty line
    await terminal.send_enter(target)
    lines = await _lines(out, 3)
    assert lines.count("pasted, not submitted") == 1
