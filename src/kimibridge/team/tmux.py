"""Every tmux call of the orchestrator, as async subprocesses (nothing blocks the event loop).

kimibridge runs its own tmux server (``tmux -L <socket>``, started with ``-f /dev/null``), so a
user's ``~/.tmux.conf`` cannot change what the screen readers see and the user's own sessions are
never touched. ``kimibridge team attach`` (or ``tmux -L <socket> attach -t kb-<team>``) shows it.

- Windows have a fixed size (``window-size manual``): a client attaching with another size does
  not make the harness redraw (a redraw mid-turn garbles the screen a reader is looking at).
- ``history-limit`` is large and captures take the whole scrollback, so a reply longer than the
  screen is still complete (CAO #728).
- ``remain-on-exit``: a harness that exits leaves its pane (dead) behind, with its last words.
- Input is pasted (``load-buffer`` + ``paste-buffer -p``: bracketed, so newlines do not submit)
  and Enter is sent separately after a short pause; copy mode is left first, else the keys
  would scroll the history instead of reaching the harness (CAO #654).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from kimibridge.errors import TeamError

__all__ = ["HISTORY_LIMIT", "Pane", "Tmux"]

HISTORY_LIMIT: Final = 100_000
SUBMIT_DELAY: Final = 0.25  # seconds between the paste and its Enter
_FIELDS: Final = "#{window_name}\t#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_current_command}\t#{pane_in_mode}"


@dataclass(frozen=True, slots=True)
class Pane:
    window: str
    pane_id: str  # %N: stable for the pane's life, the target every call uses
    pid: int
    dead: bool
    command: str
    in_mode: bool


class Tmux:
    """One kimibridge tmux server, addressed by socket name."""

    def __init__(self, socket: str, *, executable: str = "tmux") -> None:
        self.socket = socket
        self.executable = executable

    def argv(self, *args: str) -> list[str]:
        return [self.executable, "-L", self.socket, *args]

    async def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(*args),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise TeamError(
                "tmux is not installed; install it (e.g. apt-get install tmux)"
            ) from None
        out, err = await proc.communicate(stdin)
        if check and proc.returncode != 0:
            message = err.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
            raise TeamError(f"tmux {args[0]}: {message}")
        return out.decode("utf-8", "replace")

    async def has_session(self, session: str) -> bool:
        proc = await asyncio.create_subprocess_exec(
            *self.argv("has-session", "-t", f"={session}"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await proc.wait() == 0

    async def new_window(
        self,
        session: str,
        window: str,
        command: Sequence[str],
        *,
        cwd: str,
        width: int = 200,
        height: int = 50,
        env: Mapping[str, str] | None = None,
    ) -> Pane:
        """Start ``command`` in a new window (and the session, if new); returns its pane."""
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        fmt = ["-P", "-F", _FIELDS]
        # Server-wide options first, in the same tmux call: they must hold before the pane
        # exists (a harness that dies at once must leave its pane; history is per pane).
        setup = [
            "-f", "/dev/null", "start-server", ";",
            "set-option", "-g", "history-limit", str(HISTORY_LIMIT), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
        ]  # fmt: skip
        if await self.has_session(session):
            out = await self.run(
                *setup, "new-window", "-d", *fmt, "-t", f"={session}:", "-n", window,
                "-c", cwd, *env_args, *command,
            )  # fmt: skip
        else:
            out = await self.run(
                *setup, "new-session", "-d", *fmt, "-s", session, "-n", window,
                "-x", str(width), "-y", str(height), "-c", cwd, *env_args, *command,
            )  # fmt: skip
        pane = _parse_pane(out.strip().splitlines()[-1])
        target = pane.pane_id
        await self.run(
            "set-option", "-w", "-t", target, "window-size", "manual", ";",
            "resize-window", "-t", target, "-x", str(width), "-y", str(height),
        )  # fmt: skip
        return pane

    async def panes(self, session: str) -> list[Pane]:
        """Every pane of ``session`` (one per agent window); [] when the session is gone."""
        if not await self.has_session(session):
            return []
        out = await self.run("list-panes", "-s", "-t", f"={session}", "-F", _FIELDS)
        return [_parse_pane(line) for line in out.splitlines() if line.strip()]

    async def capture(self, target: str, *, history: int | None = None) -> str:
        """The pane's text with colours (``-e``), wrapped lines joined (``-J``), and ``history``
        lines of scrollback (None: all of it)."""
        start = "-" if history is None else str(-history)
        return await self.run("capture-pane", "-p", "-e", "-J", "-t", target, "-S", start)

    async def paste(self, target: str, text: str, *, submit: bool = True) -> None:
        panes = await self.run("display-message", "-p", "-t", target, "#{pane_in_mode}")
        if panes.strip() == "1":
            await self.run("send-keys", "-t", target, "-X", "cancel")
        buffer = "kb-" + secrets.token_hex(4)
        await self.run("load-buffer", "-b", buffer, "-", stdin=text.encode())
        await self.run("paste-buffer", "-d", "-p", "-b", buffer, "-t", target)
        if submit:
            await asyncio.sleep(SUBMIT_DELAY)
            await self.run("send-keys", "-t", target, "Enter")

    async def send_keys(self, target: str, *keys: str) -> None:
        await self.run("send-keys", "-t", target, *keys)

    async def kill_window(self, target: str) -> None:
        await self.run("kill-window", "-t", target, check=False)

    async def kill_session(self, session: str) -> None:
        await self.run("kill-session", "-t", f"={session}", check=False)

    def socket_path(self) -> str:
        # Where tmux puts a -L socket: $TMUX_TMPDIR (from the environment the tmux client
        # inherits, as tmux itself reads it) or /tmp, then tmux-<uid>/<name>.
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        return os.path.join(base, f"tmux-{os.getuid()}", self.socket)

    async def kill_server(self) -> None:
        """Stop this tmux server and remove its socket file (tmux leaves it behind)."""
        await self.run("kill-server", check=False)
        await asyncio.to_thread(_unlink, self.socket_path())

    def attach_argv(self, session: str, window: str | None = None) -> list[str]:
        target = f"={session}" if window is None else f"={session}:{window}"
        return self.argv("attach-session", "-t", target)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _parse_pane(line: str) -> Pane:
    try:
        window, pane_id, pid, dead, command, in_mode = line.split("\t")
        return Pane(window, pane_id, int(pid), dead == "1", command, in_mode == "1")
    except ValueError:
        raise TeamError(f"unexpected tmux output: {line!r}") from None
