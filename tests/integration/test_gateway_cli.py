"""`kimibridge serve --offline`, `key`, `usage` and `serve --stop` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import openai
import pytest

pytestmark = pytest.mark.integration

CLAUDE_UA = "claude-cli/2.1.330 (external, sdk-cli)"


def kb(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for_pidfile(home: Path, proc: subprocess.Popen[str]) -> dict[str, object]:
    path = home / ".kimibridge" / "state" / "gateway.json"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
        if path.exists():
            data: dict[str, object] = json.loads(path.read_text())
            return data
        time.sleep(0.05)
    raise AssertionError("serve did not start")


def test_serve_offline_end_to_end(isolated_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--offline", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        info = wait_for_pidfile(isolated_home, proc)
        url = str(info["url"])
        assert info["offline"] is True
        key = kb("key").stdout.strip()
        assert key.startswith("kb-")
        a = anthropic.Anthropic(
            base_url=url, api_key=key, max_retries=0, default_headers={"User-Agent": CLAUDE_UA}
        )
        with a:
            msg = a.messages.create(
                model="claude-opus-5-5",
                max_tokens=1000,
                messages=[{"role": "user", "content": "hi"}],
            )
        assert "emulator" in "".join(b.text for b in msg.content if b.type == "text")
        o = openai.OpenAI(
            base_url=url + "/v1",
            api_key=key,
            max_retries=0,
            default_headers={"User-Agent": "opencode/1.18.33"},
        )
        with o:
            resp = o.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "hi"}]
            )
        assert resp.choices[0].message.content
        time.sleep(1.5)  # the ledger flushes every second
        usage = json.loads(kb("usage", "--json").stdout)
        assert usage["by_agent"][0]["key"] == "default"
        assert usage["by_agent"][0]["requests"] == 2
        stopped = kb("serve", "--stop")
        assert "stopped" in stopped.stdout
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "OFFLINE" in out and url in out
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_refuses_remote_bind_without_flag(isolated_home: Path) -> None:
    result = kb("serve", "--offline", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 1
    assert "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_login_says_what_to_run(isolated_home: Path) -> None:
    result = kb("serve", "--port", "0")
    assert result.returncode == 1
    assert "kimibridge login" in result.stderr and "--offline" in result.stderr


def test_key_commands(isolated_home: Path) -> None:
    default = kb("key").stdout.strip()
    added = kb("key", "add", "reviewer").stdout.strip()
    assert added != default and added.startswith("kb-")
    listing = kb("key", "list").stdout
    assert "default" in listing and "reviewer" in listing and added not in listing
    assert added in kb("key", "list", "--reveal").stdout
    path = Path(kb("key", "path").stdout.strip())
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_offline_banner_try_line_works_as_pasted(isolated_home: Path) -> None:
    """The README's main command prints one line a newcomer can paste into another terminal."""
    if shutil.which("curl") is None or shutil.which("kimibridge") is None:
        pytest.skip("needs curl and the kimibridge console script on PATH")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--offline", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        line = ""
        while "curl " not in line:
            line = proc.stdout.readline()
            assert line, f"no try line in the banner: {proc.stderr and proc.stderr.read()}"
        done = subprocess.run(
            ["bash", "-c", line.strip()], capture_output=True, text=True, timeout=30, check=True
        )
        answer = json.loads(done.stdout)
        assert "emulator" in answer["choices"][0]["message"]["content"], done.stdout
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
