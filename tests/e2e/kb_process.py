"""kimibridge itself as a subprocess in e2e tests: its environment, one-shot commands, and a
background `serve` that is healthy before the test goes on and stopped after it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import kimibridge

__all__ = ["free_port", "product_env", "run_kb", "serving"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def product_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """This checkout's code, a private kimibridge ``home`` (HOME is its parent), the gateway
    port; nothing of the test machine's Kimi, Anthropic or OpenAI settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI", "ANTHROPIC", "OPENAI"))}
    env.update(
        {
            "PYTHONPATH": str(Path(kimibridge.__file__).resolve().parents[1]),
            "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore",
            "KIMIBRIDGE_HOME": str(home),
            "KIMIBRIDGE_PORT": str(port),
            "HOME": str(home.parent),
        }
    )
    env.update(extra)
    return env


def run_kb(
    env: dict[str, str], *args: str, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``python -m kimibridge <args>`` with stdin closed (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def serving(env: dict[str, str], log: Path, *args: str) -> Iterator[str]:
    """``kimibridge serve --no-ledger <args>`` on ``env``'s port until /health answers (and, with
    ``--offline``, says so); yields its URL; SIGTERM afterwards. Its output goes to ``log``."""
    url = f"http://127.0.0.1:{env['KIMIBRIDGE_PORT']}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kimibridge", "serve", "--no-ledger", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            for _ in range(300):
                try:
                    with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                        health = json.load(reply)
                    if "--offline" not in args or health.get("offline") is True:
                        break
                except OSError:
                    if proc.poll() is not None:
                        pytest.fail(log.read_text())
                    time.sleep(0.1)
            else:
                pytest.fail(f"serve {' '.join(args)} did not become healthy: {log.read_text()}")
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
