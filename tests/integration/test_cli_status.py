"""`kimibridge status` end to end: what it reports, and one line for every failure."""

from __future__ import annotations

import json
import socket

import pytest

from kimibridge.emulator.faults import FaultKind
from kimibridge.testing import EmulatorHandle
from tests.integration.cli_account_helpers import (
    GOOD_KEY,
    api_requests,
    assert_no_secret,
    cli_env,
    kb,
    one_line,
    paths,
    read_json,
)

pytestmark = pytest.mark.integration


def _login_with_key(kimi: EmulatorHandle, **extra: str) -> dict[str, str]:
    kimi.add_api_key(GOOD_KEY)
    env = cli_env(kimi, **extra)
    result = kb("login", "--api-key-stdin", env=env, input=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    kimi.clear_requests()
    return env


def test_api_key_status_is_honest_harness_with_no_kimi_cli_headers(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = _login_with_key(kimi_emulator)
    result = kb("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert_no_secret(result, GOOD_KEY)
    info = json.loads(result.stdout)
    assert info["method"] == "api_key"
    assert info["risk"] is False
    assert info["identity"]["preset"] == "harness"
    assert info["identity"]["risk"] is None
    assert info["token_source"] == {"kind": "own", "path": str(paths(env).credentials_file)}
    assert info["region"] == "mainland"
    assert info["who"] == "Emulator User <emulator@example.invalid>"
    assert [m["id"] for m in info["models"]][:1] == ["kimi-for-coding"]
    assert info["usage"]["usage"]["name"] == "Weekly limit"
    for headers in info["identity"]["headers"].values():
        assert headers["Authorization"] == "Bearer <redacted>"
        assert not any(name.lower().startswith("x-msh-") for name in headers)

    sent = api_requests(kimi_emulator)
    assert {r.path.rsplit("/", 1)[1] for r in sent} == {"models", "me", "usages"}
    for request in sent:
        assert not any(name.lower().startswith("x-msh-") for name in request.headers)
        assert "KimiCLI" not in request.headers.get("User-Agent", "")


def test_human_status_shows_headers_redacted_and_no_risk(kimi_emulator: EmulatorHandle) -> None:
    env = _login_with_key(kimi_emulator)
    result = kb("status", env=env)
    assert result.returncode == 0, result.stderr
    assert_no_secret(result, GOOD_KEY)
    out = result.stdout
    assert "Kimi Code API key" in out and "Emulator User" in out
    assert "Authorization: Bearer <redacted>" in out
    assert "harness" in out and "RISK" not in out
    assert "Weekly limit" in out


def test_access_terminated_is_one_line_after_exactly_one_call(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = _login_with_key(kimi_emulator)
    kimi_emulator.inject(FaultKind.ACCESS_TERMINATED, route="/models")
    result = kb("status", env=env)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "access_terminated_error" in line
    assert "not admitted" in line and "suspended" in line
    assert_no_secret(result, GOOD_KEY)
    sent = api_requests(kimi_emulator)
    assert [r.path for r in sent] == ["/coding/v1/models"]  # never retried, nothing after


def test_not_signed_in_is_one_line_exit_1() -> None:
    result = kb("status", env=cli_env(KIMI_CODE_BASE_URL="http://127.0.0.1:9/coding/v1"))
    assert result.returncode == 1
    assert "not signed in; run `kimibridge login`" in one_line(result.stderr)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_upstream_is_one_line_naming_the_url(kimi_emulator: EmulatorHandle) -> None:
    env = _login_with_key(kimi_emulator)
    dead = f"http://127.0.0.1:{_closed_port()}/coding/v1"
    result = kb("status", env={**env, "KIMI_CODE_BASE_URL": dead})
    assert result.returncode == 1
    assert dead in one_line(result.stderr)


def test_offline_status_makes_no_calls_and_uses_the_cached_catalog(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = _login_with_key(kimi_emulator)
    result = kb("status", "--offline", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["offline"] is True
    assert "k3" in [m["id"] for m in info["models"]]
    assert info["me"] is None and info["usage"] is None
    assert kimi_emulator.requests == []


def test_env_key_is_reported_as_the_token_source(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator, KIMI_API_KEY=GOOD_KEY)
    result = kb("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["token_source"]["kind"] == "env"
    assert info["method"] == "api_key"
    # Kimi's tools take the OAuth sign-in only: status says so before a harness finds out
    assert info["tools"] == {
        "enabled": ["moonshot_search", "moonshot_fetch", "kimi_datasource"],
        "project_file": None,
        "usable": False,
    }
    table = kb("status", env=env)
    assert "they need the OAuth sign-in" in table.stdout
    assert_no_secret(result, GOOD_KEY)


@pytest.mark.kimi_emulator(poll_interval=1)
def test_oauth_status_reports_expiry_and_refreshes_without_printing_tokens(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    assert kb("login", "--oauth", "--no-browser", env=env).returncode == 0
    first = read_json(paths(env).credentials_file)
    kimi_emulator.expire_tokens()
    result = kb("status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["expires_in_s"] > 0 and info["expired"] is False
    assert info["tools"]["usable"] is True
    second = read_json(paths(env).credentials_file)
    assert second["access_token"] != first["access_token"]  # refreshed after the 401
    assert_no_secret(
        result,
        first["access_token"],
        first["refresh_token"],
        second["access_token"],
        second["refresh_token"],
    )
    assert kimi_emulator.refresh_reuse_count == 0
