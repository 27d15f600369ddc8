"""`kimibridge logout` removes kimibridge's own credential and never touches kimi-cli's files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kimibridge.kimi._locks import FlockLock
from kimibridge.kimi.credentials import CredentialStore
from kimibridge.testing import EmulatorHandle
from tests.integration.cli_account_helpers import (
    GOOD_KEY,
    assert_no_secret,
    cli_env,
    kb,
    one_line,
    paths,
    read_json,
    write_kimi_cli_login,
)

pytestmark = pytest.mark.integration


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode


def test_shared_kimi_cli_login_then_logout_leaves_kimi_cli_untouched(
    kimi_emulator: EmulatorHandle,
) -> None:
    env = cli_env(kimi_emulator)
    share_dir = Path(env["KIMI_SHARE_DIR"])
    kimi_file, record = write_kimi_cli_login(kimi_emulator, share_dir)

    login = kb("login", "--oauth", "--share", "kimi-cli", env=env)
    assert login.returncode == 0, login.stderr
    assert "sharing kimi-cli's login" in login.stdout
    assert_no_secret(login, record.access_token, record.refresh_token)
    stored = read_json(paths(env).credentials_file)
    assert (stored["sharing"], stored["shared_path"]) == ("kimi-cli", str(kimi_file))
    assert "access_token" not in stored  # tokens stay in kimi-cli's file

    status = kb("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["token_source"] == {"kind": "kimi-cli", "path": str(kimi_file)}
    assert info["sharing"] == "kimi-cli"

    before = _digest(kimi_file)
    listing = sorted(p.name for p in kimi_file.parent.iterdir())
    logout = kb("logout", env=env)
    assert logout.returncode == 0, logout.stderr
    assert "Signed out" in logout.stdout and "left untouched" in logout.stdout
    assert not paths(env).credentials_file.exists()
    assert _digest(kimi_file) == before
    assert sorted(p.name for p in kimi_file.parent.iterdir()) == listing

    after = kb("status", env=env)
    assert after.returncode == 1
    assert "not signed in" in after.stderr


def test_logout_after_an_api_key_login(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    p = paths(env)
    result = kb("logout", env=env)
    assert result.returncode == 0
    assert str(p.credentials_file) in result.stdout
    assert not p.credentials_file.exists()
    assert "sign_in" not in p.config_file.read_text()
    assert_no_secret(result, GOOD_KEY)


def test_logout_when_not_signed_in_says_so() -> None:
    env = cli_env()
    result = kb("logout", env=env)
    assert result.returncode == 0
    assert "Not signed in" in result.stdout


def test_logout_mentions_a_key_still_in_the_environment(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    result = kb("logout", env={**env, "KIMI_API_KEY": GOOD_KEY})
    assert "KIMI_API_KEY is still set" in result.stdout
    assert_no_secret(result, GOOD_KEY)
    assert os.environ.get("KIMI_API_KEY") is None


def test_a_broken_credential_file_is_one_line_and_logout_removes_it() -> None:
    env = cli_env(KIMI_CODE_BASE_URL="http://127.0.0.1:9/coding/v1")
    cred = paths(env).credentials_file
    cred.parent.mkdir(parents=True, exist_ok=True)
    cred.write_text("{not json")
    status = kb("status", env=env)
    assert status.returncode == 1
    assert "kimibridge logout" in one_line(status.stderr)
    logout = kb("logout", env=env)
    assert logout.returncode == 0, logout.stderr
    assert not cred.exists()


def _held_then_released(proc: subprocess.Popen[str], lock: FlockLock, path: Path) -> bool:
    """Hold ``lock`` for a moment while ``proc`` runs: whether ``path`` existed meanwhile
    (``proc`` still waiting); then release and let ``proc`` finish."""
    try:
        time.sleep(1.0)  # long enough for an unlocked CLI to have finished its write
        assert proc.poll() is None, "the command did not wait for the lock"
        existed = path.exists()
    finally:
        lock.release()
    proc.communicate(timeout=60)
    return existed


def test_login_and_logout_wait_for_a_refresh_in_flight(kimi_emulator: EmulatorHandle) -> None:
    """A running gateway refreshes under the store's lock; logout (and a new login) wait for it,
    so a refresh finishing late cannot write the old login back over the user's choice."""
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator)
    assert kb("login", "--api-key-stdin", env=env, input=GOOD_KEY).returncode == 0
    store = CredentialStore(paths(env).credentials_file)

    lock = store.lock()
    lock.acquire(threading.Event())
    logout = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "logout"], env=env, text=True, stdout=subprocess.PIPE
    )
    assert _held_then_released(logout, lock, store.path)  # still there while locked
    assert logout.returncode == 0 and not store.path.exists()

    lock.acquire(threading.Event())
    login = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "login", "--api-key-stdin"],
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert login.stdin is not None
    login.stdin.write(GOOD_KEY)
    login.stdin.close()
    login.stdin = None  # communicate() must not write again
    assert not _held_then_released(login, lock, store.path)  # not written while locked
    assert login.returncode == 0
    stored = store.load()
    assert stored is not None and stored.api_key == GOOD_KEY
