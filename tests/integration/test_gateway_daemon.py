"""ensure_gateway: a background serve started once, reused, stopped by `serve --stop`."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kimibridge.config import Paths, Settings
from kimibridge.errors import ConfigError, NeedsLogin
from kimibridge.gateway.daemon import RunningGateway, ensure_gateway, healthy
from kimibridge.gateway.pidfile import pidfile_path, read_pidfile

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait(cond: object, what: str) -> None:
    for _ in range(400):
        if callable(cond) and cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_start_reuse_stop(isolated_home: Path) -> None:
    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ)
    progress = io.StringIO()
    gw = ensure_gateway(paths, settings, environ, offline=True, port=0, progress=progress)
    try:
        assert gw.started and gw.offline
        assert "starting the gateway" in progress.getvalue()
        assert str(gw.log_path) in progress.getvalue()
        assert healthy(gw.url) is not None
        assert gw.log_path.is_file()
        # The gateway runs in its own session: a terminal's signals do not reach it.
        assert os.getsid(gw.pid) == gw.pid

        again = ensure_gateway(paths, settings, environ, port=0, progress=progress)
        assert (again.url, again.pid, again.started) == (gw.url, gw.pid, False)
        with pytest.raises(ConfigError, match="serve --stop"):
            ensure_gateway(paths, settings, environ, offline=False, port=0)
    finally:
        out = subprocess.run(
            [sys.executable, "-m", "kimibridge", "serve", "--stop"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr
    assert f"pid {gw.pid}" in out.stdout
    _wait(lambda: not pidfile_path(paths).exists(), "the pidfile to be removed")
    assert read_pidfile(paths) is None
    assert healthy(gw.url, timeout=0.5) is None


def test_no_login_suggests_login_or_offline(isolated_home: Path) -> None:
    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ)
    with pytest.raises(NeedsLogin) as info:
        ensure_gateway(paths, settings, environ, port=0, progress=io.StringIO())
    message = str(info.value)
    assert "\n" not in message
    assert "kimibridge login" in message and "--offline" in message


def test_team_up_without_a_gateway_or_login(isolated_home: Path) -> None:
    # `team up` starts the gateway like `run`; without a login that is one line naming both ways.
    out = subprocess.run(
        [sys.executable, "-m", "kimibridge", "team", "up", "developer"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: no kimibridge gateway is running"), out.stderr
    assert "kimibridge login" in lines[-1] and "serve --offline" in lines[-1]
    assert "Traceback" not in out.stderr


def test_two_starts_at_once_share_one_gateway(isolated_home: Path) -> None:
    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])

    def start() -> RunningGateway:
        return ensure_gateway(
            paths, settings, environ, offline=True, port=port, progress=io.StringIO()
        )

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: start(), range(2))
    try:
        assert first.url == second.url == f"http://127.0.0.1:{port}"
        assert first.pid == second.pid
    finally:
        subprocess.run(
            [sys.executable, "-m", "kimibridge", "serve", "--stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    _wait(lambda: not pidfile_path(paths).exists(), "the pidfile to be removed")
