"""A gateway in the background for `kimibridge run` and `team`: reuse a healthy one, else start one.

The background gateway is an ordinary ``kimibridge serve`` in its own session (a terminal's
Ctrl-C or hang-up does not stop it), its output in ``<state>/logs/gateway.log``. It writes the
pidfile like a foreground serve, so ``kimibridge serve --stop`` stops it and it removes the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from kimibridge.config import Paths, Settings
from kimibridge.errors import ConfigError, KimibridgeError, NeedsLogin
from kimibridge.gateway.pidfile import read_pidfile

__all__ = [
    "GatewayStartFailed",
    "RunningGateway",
    "describe",
    "ensure_gateway",
    "gateway_log_path",
    "healthy",
]

START_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.05
_LOG_TAIL_LINES: Final = 12


class GatewayStartFailed(KimibridgeError):
    """The background gateway did not become healthy; the message ends with its log's last lines."""


@dataclass(frozen=True, slots=True)
class RunningGateway:
    url: str
    pid: int
    log_path: Path
    offline: bool
    started: bool = False  # this call started it (else an existing gateway was reused)


def gateway_log_path(paths: Paths) -> Path:
    return paths.logs_dir / "gateway.log"


def healthy(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The gateway's ``/health`` answer, or None when nothing healthy answers at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:
            body = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    if (
        isinstance(body, dict)
        and body.get("service") == "kimibridge"
        and body.get("status") == "ok"
    ):
        return body
    return None


def ensure_gateway(
    paths: Paths,
    settings: Settings,
    environ: Mapping[str, str],
    *,
    offline: bool | None = None,
    port: int | None = None,
    progress: TextIO | None = None,
) -> RunningGateway:
    """A healthy gateway: the running one (pidfile + ``/health``), else a new background serve.

    ``offline=None`` takes whatever is running; ``True``/``False`` asks for that kind when a
    new one is started (a running gateway of the other kind is an error naming ``serve --stop``).
    ``port`` defaults to the configured ``gateway.port``; 0 lets the new gateway pick one.
    """
    log_path = gateway_log_path(paths)
    running = _running(paths, offline, log_path)
    if running is not None:
        return running
    chosen_port = settings.gateway.port if port is None else port
    try:
        return _start(paths, environ, bool(offline), chosen_port, log_path, progress or sys.stderr)
    except GatewayStartFailed:
        # Another `run` started one at the same moment (ours lost the port): use that one.
        running = _running(paths, offline, log_path)
        if running is None:
            raise
        return running


def _running(paths: Paths, offline: bool | None, log_path: Path) -> RunningGateway | None:
    info = read_pidfile(paths)
    if info is None:
        return None
    url = str(info.get("url", ""))
    health = healthy(url) if url else None
    if health is None:
        return None
    running_offline = bool(health.get("offline"))
    if offline is not None and offline != running_offline:
        kind = "offline (emulator)" if running_offline else "online (Kimi)"
        raise ConfigError(
            f"a {kind} gateway is already running on {url}; "
            "stop it with `kimibridge serve --stop` first"
        )
    return RunningGateway(url, int(info["pid"]), log_path, running_offline)


def _start(
    paths: Paths,
    environ: Mapping[str, str],
    offline: bool,
    port: int,
    log_path: Path,
    progress: TextIO,
) -> RunningGateway:
    argv = [sys.executable, "-m", "kimibridge", "serve", "--port", str(port)]
    if offline:
        argv.append("--offline")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress.write(f"kimibridge: starting the gateway in the background (log: {log_path})\n")
    progress.flush()
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv[1:])}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(environ),
            start_new_session=True,  # the terminal's signals are for the harness, not the gateway
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            _failed(log_path, f"the gateway exited with status {code}")
        info = read_pidfile(paths)
        if info is not None and int(info.get("pid", -1)) == proc.pid:
            url = str(info["url"])
            health = healthy(url, timeout=1.0)
            if health is not None:
                # Reaps it when it stops while this process lives (tests, `team`); `run` execs.
                threading.Thread(target=proc.wait, name="gateway-reaper", daemon=True).start()
                return RunningGateway(url, proc.pid, log_path, bool(health["offline"]), True)
        time.sleep(_POLL_S)
    proc.terminate()
    proc.wait()
    _failed(log_path, f"the gateway did not become healthy within {START_TIMEOUT_S:.0f} s")
    raise AssertionError("unreachable")  # pragma: no cover


def _failed(log_path: Path, what: str) -> None:
    tail = _tail(log_path)
    if any("not signed in to Kimi" in line for line in tail):
        raise NeedsLogin(
            "not signed in to Kimi; run `kimibridge login`, or add --offline for the built-in emulator"
        )
    shown = "\n".join(f"  {line}" for line in tail)
    raise GatewayStartFailed(f"{what}; last lines of {log_path}:\n{shown}")


def _tail(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    # Only this start's lines: the log is appended to across starts.
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("--- "):
            lines = lines[i + 1 :]
            break
    return [line for line in lines if line.strip()][-_LOG_TAIL_LINES:]


def describe(gw: RunningGateway) -> str:
    """The line `run` prints: where the gateway is, its log, and how to stop it."""
    how = "started" if gw.started else "using"
    mode = " (offline: built-in emulator)" if gw.offline else ""
    return (
        f"kimibridge: {how} gateway {gw.url}{mode}, log {gw.log_path}; "
        "stop it with `kimibridge serve --stop`"
    )
