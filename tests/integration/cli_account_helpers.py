"""Running the real `kimibridge` CLI as a subprocess against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kimibridge.config import Paths
from kimibridge.kimi.kimicli_files import TokenRecord, encode_legacy
from kimibridge.testing import EmulatorHandle

GOOD_KEY = "sk-kimi-test-0123456789abcdef"


def cli_env(kimi: EmulatorHandle | None = None, **extra: str) -> dict[str, str]:
    """This test's environment (isolated homes from conftest) pointed at the emulator."""
    env = dict(os.environ)
    env.pop("KIMI_API_KEY", None)
    env["COLUMNS"] = "200"  # Rich wraps at 80 columns when not on a terminal
    env["PYTHONWARNINGS"] = "ignore"
    if kimi is not None:
        env["KIMI_CODE_BASE_URL"] = kimi.base_url
        env["KIMI_CODE_OAUTH_HOST"] = kimi.oauth_host
    env.update(extra)
    return env


def kb(
    *args: str,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m kimibridge <args>``; stdin is /dev/null (not a TTY) unless ``input``."""
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def paths(env: dict[str, str]) -> Paths:
    return Paths.from_env(env)


def read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    assert "Traceback" not in text
    return lines[0]


def assert_no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret
        assert secret not in result.stdout, "a secret reached stdout"
        assert secret not in result.stderr, "a secret reached stderr"


def write_kimi_cli_login(kimi: EmulatorHandle, share_dir: Path) -> tuple[Path, TokenRecord]:
    """A legacy kimi-cli login file, byte for byte as kimi-cli writes it."""
    import time

    pair = kimi.issue_tokens()
    record = TokenRecord(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_at=time.time() + pair.expires_in,
        expires_in=float(pair.expires_in),
        scope=pair.scope,
        token_type=pair.token_type,
    )
    path = share_dir / "credentials" / "kimi-code.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_legacy(record))
    path.chmod(0o600)
    return path, record


def api_requests(kimi: EmulatorHandle) -> list[Any]:
    return [r for r in kimi.requests if r.path.startswith("/coding/")]
