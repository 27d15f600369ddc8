"""``kimibridge emulator`` as a separate process: driven over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimibridge.emulator.oauth import CLIENT_ID, DEVICE_GRANT

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CliEmulator:
    """``kimibridge emulator`` in a subprocess: banner read from stdout, stderr kept in a file."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.stderr_path = tmp_path / f"stderr-{len(list(tmp_path.iterdir()))}.txt"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kimibridge", "emulator", *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        self.banner = self._wait_for_banner()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _wait_for_banner(self) -> list[str]:
        banner: list[str] = []
        while True:
            line = self._lines.get(timeout=STARTUP_TIMEOUT)
            if line is None:
                raise AssertionError(f"emulator exited early: {banner} {self.stderr()}")
            banner.append(line)
            if line.strip().startswith("export KIMI_API_KEY="):
                return banner

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=15)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._pump.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def cli_emulator(tmp_path: Path) -> Iterator[tuple[CliEmulator, int]]:
    port = free_port()
    emu = CliEmulator(
        tmp_path,
        *("--port", str(port), "--api-key", "sk-kimi-cli-test"),
        *("--manual-approval", "--poll-interval", "0"),
    )
    try:
        yield emu, port
    finally:
        emu.close()


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = None
    hdrs = dict(headers or {})
    if form is not None:
        data = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_banner_control_and_clean_ctrl_c(cli_emulator: tuple[CliEmulator, int]) -> None:
    emu, port = cli_emulator
    banner = emu.banner
    root = f"http://127.0.0.1:{port}"
    text = "\n".join(banner)
    assert f"OpenAI base     {root}/coding/v1" in text
    assert f"Anthropic base  {root}/coding" in text
    assert f"export KIMI_CODE_BASE_URL={root}/coding/v1" in text
    assert f"export KIMI_CODE_OAUTH_HOST={root}" in text
    default_key = next(line.split("=", 1)[1] for line in banner if "KIMI_API_KEY=" in line)

    # Device login approved through the control API (manual approval mode).
    status, login = http(
        "POST", f"{root}/api/oauth/device_authorization", form={"client_id": CLIENT_ID}
    )
    assert status == 200
    poll = {"client_id": CLIENT_ID, "grant_type": DEVICE_GRANT, "device_code": login["device_code"]}
    assert http("POST", f"{root}/api/oauth/token", form=poll)[1]["error"] == "authorization_pending"
    assert http("POST", f"{root}/_emulator/approve", {"user_code": login["user_code"]}) == (
        200,
        {"approved": [login["user_code"]]},
    )
    status, tokens = http("POST", f"{root}/api/oauth/token", form=poll)
    assert status == 200, tokens
    assert http("POST", f"{root}/_emulator/latency", {"ms": 1}) == (200, {"latency_ms": 1.0})

    ua = {"User-Agent": "KimiCLI/1.52.0"}
    for bearer in (tokens["access_token"], default_key, "sk-kimi-cli-test"):
        assert (
            http(
                "GET", f"{root}/coding/v1/me", headers={**ua, "Authorization": f"Bearer {bearer}"}
            )[0]
            == 200
        )
    http("POST", f"{root}/_emulator/faults", {"kind": "unavailable", "route": "/me"})
    status, body = http(
        "GET", f"{root}/coding/v1/me", headers={**ua, "Authorization": f"Bearer {default_key}"}
    )
    assert (status, body["error"]["type"]) == (503, "engine_overloaded_error")

    status, recorded = http("GET", f"{root}/_emulator/requests")
    assert status == 200 and tokens["access_token"] not in json.dumps(recorded)
    assert http("GET", f"{root}/_emulator/stats")[1]["tokens_issued"] >= 1

    assert emu.interrupt() == 0
    assert emu.stderr().strip() == ""  # no traceback, no noise


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kimibridge", "emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(port) in lines[0]
    assert "Traceback" not in result.stderr


def test_non_loopback_host_warns(tmp_path: Path) -> None:
    # Binding all interfaces is allowed but loudly discouraged; port 0 avoids clashes.
    emu = CliEmulator(tmp_path, "--host", "0.0.0.0", "--port", "0")
    try:
        assert any("listening on http://0.0.0.0:" in line for line in emu.banner)
        assert emu.interrupt() == 0
        assert "warning:" in emu.stderr()
    finally:
        emu.close()


def test_help_teaches() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kimibridge", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for needle in (
        "Examples:",
        "--scenario",
        "--token-ttl",
        "--api-key",
        "KIMI_CODE_BASE_URL",
        "/_emulator/",
    ):
        assert needle in result.stdout


def test_bad_scenario_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "turns.json"
    bad.write_text('[{"tool_calls": 3}]')
    result = subprocess.run(
        [sys.executable, "-m", "kimibridge", "emulator", "--port", "0", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "scenario" in lines[0]


def test_scenario_file_scripts_replies(tmp_path: Path) -> None:
    turns = tmp_path / "turns.json"
    turns.write_text('[{"text": "scripted from the CLI"}]')
    emu = CliEmulator(tmp_path, "--port", "0", "--scenario", str(turns))
    try:
        root = emu.banner[0].split(" listening on ")[1].split()[0]
        key = next(line.split("=", 1)[1] for line in emu.banner if "KIMI_API_KEY=" in line)
        chat = {"model": "kimi-for-coding", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "KimiCLI/1.52.0"}
        status, body = http("POST", f"{root}/coding/v1/chat/completions", chat, headers)
        assert status == 200
        assert body["choices"][0]["message"]["content"] == "scripted from the CLI"
        assert emu.interrupt() == 0
    finally:
        emu.close()
