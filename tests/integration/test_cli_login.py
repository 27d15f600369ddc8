"""`kimibridge login` end to end: the real CLI in a subprocess against the emulator."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def test_api_key_from_stdin_is_checked_stored_private_and_never_printed(
    kimi_emulator: EmulatorHandle,
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    result = kb("login", "--api-key-stdin", env=env, input=GOOD_KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert_no_secret(result, GOOD_KEY)
    assert "Signed in with a Kimi Code API key" in result.stdout
    assert "Account: Emulator User" in result.stdout

    p = paths(env)
    cred = p.credentials_file
    assert stat.S_IMODE(cred.stat().st_mode) == 0o600
    assert stat.S_IMODE(cred.parent.stat().st_mode) == 0o700
    stored = read_json(cred)
    assert (stored["method"], stored["region"], stored["api_key"]) == (
        "api_key",
        "mainland",
        GOOD_KEY,
    )
    config = p.config_file.read_text()
    assert 'sign_in = "api_key"' in config and 'preset = "harness"' in config
    assert read_json(p.catalog_file)["base_url"] == kimi_emulator.base_url

    models = [r for r in api_requests(kimi_emulator) if r.path.endswith("/models")]
    assert len(models) == 1  # one cheap check
    assert models[0].headers["Authorization"] == f"Bearer {GOOD_KEY}"


def test_rejected_api_key_is_not_stored(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    result = kb("login", "--api-key-stdin", env=env, input="sk-kimi-wrong\n")
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "rejected this API key (HTTP 401" in line and "nothing was stored" in line
    assert_no_secret(result, "sk-kimi-wrong")
    assert not paths(env).credentials_file.exists()


def test_kimi_api_key_env_picks_the_key_path(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator, KIMI_API_KEY=GOOD_KEY)
    result = kb("login", env=env)
    assert result.returncode == 0, result.stderr
    assert "Using the API key in KIMI_API_KEY" in result.stdout
    assert_no_secret(result, GOOD_KEY)
    assert read_json(paths(env).credentials_file)["method"] == "api_key"


def test_non_interactive_login_without_a_choice_stops_with_one_line() -> None:
    env = cli_env(KIMI_CODE_BASE_URL="http://127.0.0.1:9/coding/v1")
    result = kb("login", env=env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "--api-key" in line and "--oauth" in line
    assert not paths(env).credentials_file.exists()


def test_api_key_flag_without_a_key_or_terminal_exits_2() -> None:
    env = cli_env(KIMI_CODE_BASE_URL="http://127.0.0.1:9/coding/v1")
    result = kb("login", "--api-key", env=env)
    assert result.returncode == 2
    assert "--api-key-stdin" in one_line(result.stderr)


def test_api_key_and_oauth_together_is_a_usage_error() -> None:
    result = kb("login", "--api-key", "--oauth", env=cli_env())
    assert result.returncode == 2
    assert "pick one" in one_line(result.stderr)


def _run_on_a_tty(
    args: list[str], env: dict[str, str], answers: list[tuple[str, str]], timeout: float = 60
) -> tuple[int, str]:
    """Run the CLI on its own pseudo-terminal (its controlling terminal, as for a user, so a
    hidden prompt reads from it), answering each prompt; returns (exit code, transcript).

    A hidden prompt's text ends with the space getpass writes after turning echo off (and
    flushing pending input), so answers wait for the full prompt text."""
    pid, master = pty.fork()
    if pid == 0:  # the child: exec the CLI
        os.execve(sys.executable, [sys.executable, "-m", "kimibridge", *args], env)
    transcript = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child exited and closed the terminal
                break
            if not chunk:
                break
            transcript += chunk
            if pending and pending[0][0].encode() in transcript:
                os.write(master, pending.pop(0)[1].encode())
    finally:
        os.close(master)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), transcript.decode("utf-8", "replace")


def test_interactive_login_explains_both_defaults_to_the_key_and_hides_it(
    kimi_emulator: EmulatorHandle,
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    code, transcript = _run_on_a_tty(
        ["login"],
        env,
        [("[1] an API key or [2] the OAuth login", "\r"), ("input hidden): ", GOOD_KEY + "\r")],
    )
    assert code == 0, transcript
    assert "A Kimi Code API key (recommended)" in transcript
    assert "reserve it for Kimi's official clients" in transcript
    assert GOOD_KEY not in transcript  # the prompt did not echo it
    assert read_json(paths(env).credentials_file)["method"] == "api_key"


@pytest.mark.kimi_emulator(poll_interval=1)
def test_oauth_login_stores_kimi_cli_preset_and_survives_a_restart(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    result = kb("login", "--oauth", "--no-browser", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "reserve this login for Kimi's own clients" in out  # the one sentence on the risk
    assert "Identity preset kimi-cli" in out  # the proposal is said out loud
    assert "confirm the code" in out

    p = paths(env)
    stored = read_json(p.credentials_file)
    assert stat.S_IMODE(p.credentials_file.stat().st_mode) == 0o600
    assert (stored["method"], stored["sharing"]) == ("oauth", "own")
    assert_no_secret(result, stored["access_token"], stored["refresh_token"])
    config = p.config_file.read_text()
    assert 'preset = "kimi-cli"' in config and 'sign_in = "oauth"' in config

    kimi_emulator.clear_requests()
    status = kb("status", "--json", env=env)  # a new process: the choice was remembered
    assert status.returncode == 0, status.stderr
    assert_no_secret(status, stored["access_token"], stored["refresh_token"])
    import json

    info = json.loads(status.stdout)
    assert info["method"] == "oauth"
    assert info["risk"] is True
    assert info["identity"]["preset"] == "kimi-cli"
    assert info["identity"]["risk"]
    me = next(r for r in kimi_emulator.requests if r.path.endswith("/me"))
    assert me.headers["User-Agent"].startswith("KimiCLI/")
    assert me.headers["X-Msh-Platform"] == "kimi_cli"


@pytest.mark.kimi_emulator(poll_interval=1)
def test_oauth_login_with_another_identity(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    result = kb("login", "--oauth", "--no-browser", "--identity", "kimibridge", env=env)
    assert result.returncode == 0, result.stderr
    assert 'preset = "kimibridge"' in paths(env).config_file.read_text()
    for request in api_requests(kimi_emulator):
        assert not any(h.lower().startswith("x-msh-") for h in request.headers)
        assert "KimiCLI" not in request.headers.get("User-Agent", "")


@pytest.mark.kimi_emulator(poll_interval=1, approve_after_polls=None)
def test_oauth_denied_ends_with_one_line(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "login", "--oauth", "--no-browser"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: kimi_emulator.stats["polls"] >= 1)
    kimi_emulator.deny()
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "denied" in one_line(err)
    assert not paths(env).credentials_file.exists()


@pytest.mark.kimi_emulator(poll_interval=1, approve_after_polls=None, device_code_ttl=2.0)
def test_oauth_expired_code_restarts_with_a_new_code(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "login", "--oauth", "--no-browser"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: kimi_emulator.stats["device_codes_issued"] >= 2, timeout=30)
    kimi_emulator.approve()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "That code expired; here is a new one." in out
    assert out.count("confirm the code") == 2


def test_global_region_login_is_stored_and_refused_against_mainland(
    kimi_emulator: EmulatorHandle,
) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    result = kb("login", "--api-key-stdin", "--region", "global", env=env, input=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert "global region" in result.stdout
    p = paths(env)
    assert read_json(p.credentials_file)["region"] == "global"
    assert 'region = "global"' in p.config_file.read_text()

    assert kb("status", env=env).returncode == 0  # same region: fine
    kimi_emulator.clear_requests()
    for refused in (
        kb("status", "--region", "mainland", env=env),
        kb("status", env={**env, "KIMIBRIDGE_REGION": "mainland"}),
    ):
        assert refused.returncode == 1
        line = one_line(refused.stderr)
        assert "global region" in line and "mainland" in line
        assert_no_secret(refused, GOOD_KEY)
    assert kimi_emulator.requests == []  # refused before anything was sent


def _wait_for(condition: object, timeout: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.kimi_emulator(poll_interval=1)
def test_key_login_after_oauth_drops_the_kimi_cli_identity(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    assert kb("login", "--oauth", "--no-browser", env=env).returncode == 0
    kimi_emulator.add_api_key(GOOD_KEY)
    result = kb("login", "--api-key-stdin", env=env, input=GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert "Identity preset kimi-cli is replaced by harness" in result.stdout
    kimi_emulator.clear_requests()
    status = kb("status", "--json", env=env)
    import json

    info = json.loads(status.stdout)
    assert (info["method"], info["identity"]["preset"], info["risk"]) == (
        "api_key",
        "harness",
        False,
    )
    for request in api_requests(kimi_emulator):
        assert not any(h.lower().startswith("x-msh-") for h in request.headers)


@pytest.mark.kimi_emulator(poll_interval=1)
def test_interactive_oauth_choice_can_decline_the_kimi_cli_identity(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    code, transcript = _run_on_a_tty(
        ["login", "--no-browser"],
        env,
        [
            ("[1] an API key or [2] the OAuth login", "2\r"),
            ("Use the kimi-cli identity preset?", "n\r"),
        ],
    )
    assert code == 0, transcript
    assert "reserve this login for Kimi's own clients" in transcript
    assert "Signed in with Kimi's OAuth login" in transcript
    assert 'preset = "kimibridge"' in paths(env).config_file.read_text()


@pytest.mark.kimi_emulator(poll_interval=1, approve_after_polls=None)
def test_ctrl_c_during_the_device_login_is_one_line(kimi_emulator: EmulatorHandle) -> None:
    import signal

    env = cli_env(kimi_emulator)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "login", "--oauth", "--no-browser"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: kimi_emulator.stats["polls"] >= 1)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "sign-in cancelled" in one_line(err)
    assert not paths(env).credentials_file.exists()


@pytest.mark.kimi_emulator(poll_interval=1, approve_after_polls=None)
def test_device_login_time_limit_is_one_line(kimi_emulator: EmulatorHandle) -> None:
    env = cli_env(kimi_emulator)
    result = kb("login", "--oauth", "--no-browser", "--timeout", "3", env=env)
    assert result.returncode == 1
    assert "not completed within 3 s" in one_line(result.stderr)
    assert not paths(env).credentials_file.exists()


def test_sharing_kimi_codes_login_follows_its_region_marker(kimi_emulator: EmulatorHandle) -> None:
    from kimibridge.kimi.kimicli_files import TokenRecord, encode_kimi_code, kimicli_paths

    env = cli_env(kimi_emulator)
    home = Path(env["KIMI_CODE_HOME"])
    # Kimi Code keeps a login per host pair: the emulator's hosts get their own slot.
    token_file = kimicli_paths(env).code_credentials
    pair = kimi_emulator.issue_tokens()
    record = TokenRecord(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_at=float(int(time.time() + pair.expires_in)),
        expires_in=float(pair.expires_in),
    )
    token_file.parent.mkdir(parents=True)
    token_file.write_bytes(encode_kimi_code(record))
    (home / "region").write_text("global\n")

    result = kb("login", "--oauth", "--share", "kimi-code", env=env)
    assert result.returncode == 0, result.stderr
    assert "global region" in result.stdout and "Kimi Code's login" in result.stdout
    assert_no_secret(result, pair.access_token, pair.refresh_token)
    stored = read_json(paths(env).credentials_file)
    assert (stored["sharing"], stored["region"]) == ("kimi-code", "global")


def test_share_without_a_kimi_cli_login_is_one_line() -> None:
    env = cli_env(KIMI_CODE_BASE_URL="http://127.0.0.1:9/coding/v1")
    result = kb("login", "--oauth", "--share", "kimi-cli", env=env)
    assert result.returncode == 1
    assert "no kimi-cli login found" in one_line(result.stderr)
