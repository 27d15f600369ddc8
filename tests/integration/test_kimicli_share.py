"""The real kimi-cli and kimibridge share one login while its tokens rotate underneath.

kimi-cli 1.52 (``python -m kimi_cli.cli``, never the bare ``kimi`` stub) runs print-mode turns
with its managed OAuth provider reading ``<share>/credentials/kimi-code.json``; at the same time
kimibridge runs chat turns through ``KimiUpstream`` with a token source in ``kimi-cli`` sharing
mode on the same file. Access tokens live a few seconds, so both refresh again and again — each
under kimi-cli's own ``flock`` — and the emulator must never see a refresh token spent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kimibridge.kimi.credentials import CredentialStore, LegacyKimiCliSlot, StoredLogin
from kimibridge.kimi.endpoints import resolve_endpoints
from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.kimicli_files import (
    TokenRecord,
    decode_token_record,
    encode_legacy,
    kimicli_paths,
)
from kimibridge.kimi.sources import OAuthTokenSource, open_token_source
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.testing import EmulatorHandle
from tests.clients import kimi_cli_python

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TTL = 4.0
KIMI_RUNS = 2


def kimi_cli_config(base_url: str) -> str:
    return (
        'default_model = "kimi-code/kimi-for-coding"\n'
        "telemetry = false\n\n"
        '[providers."managed:kimi-code"]\n'
        'type = "kimi"\n'
        f"base_url = {json.dumps(base_url)}\n"
        'api_key = ""\n'
        'oauth = { storage = "file", key = "oauth/kimi-code" }\n\n'
        '[models."kimi-code/kimi-for-coding"]\n'
        'provider = "managed:kimi-code"\n'
        'model = "kimi-for-coding"\n'
        "max_context_size = 262144\n"
    )


async def run_kimi_cli(
    python: Path, env: dict[str, str], cwd: Path, prompt: str
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(python),
        "-m",
        "kimi_cli.cli",
        "--print",
        "--output-format",
        "stream-json",
        "-p",
        prompt,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.timeout(400)
@pytest.mark.kimi_emulator(token_ttl=TTL)
async def test_kimi_cli_and_kimibridge_share_one_rotating_login(
    kimi_emulator: EmulatorHandle, isolated_home: Path, tmp_path: Path
) -> None:
    python = kimi_cli_python()
    kimi = kimi_emulator
    share = isolated_home / ".kimi"
    work = tmp_path / "work"
    work.mkdir()
    (share).mkdir(parents=True, exist_ok=True)
    (share / "config.toml").write_text(kimi_cli_config(kimi.base_url))

    # One login, in kimi-cli's own file and format (as `kimi login` would leave it).
    pair = kimi.issue_tokens()
    credentials = share / "credentials" / "kimi-code.json"
    LegacyKimiCliSlot(credentials).write(
        TokenRecord(
            pair.access_token,
            pair.refresh_token,
            time.time() + pair.expires_in,
            pair.expires_in,
            pair.scope,
            pair.token_type,
        )
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated_home),
        "TERM": "dumb",
        "KIMI_SHARE_DIR": str(share),
        "KIMI_CLI_NO_AUTO_UPDATE": "1",
        "KIMI_DISABLE_TELEMETRY": "1",
        "KIMI_CODE_OAUTH_HOST": kimi.oauth_host,
        "KIMI_CODE_BASE_URL": kimi.base_url,
    }

    # kimibridge shares that login (sharing mode "kimi-cli").
    store = CredentialStore(isolated_home / ".kimibridge" / "credentials.json")
    store.save(StoredLogin.shared_oauth("kimi-cli", credentials, "mainland"))
    login = store.load()
    assert login is not None
    endpoints = resolve_endpoints("mainland", environ=env)
    source = open_token_source(login, store, endpoints)
    assert isinstance(source, OAuthTokenSource)
    identity = build_identity("kimibridge", environ=env)

    kimi_done = asyncio.Event()
    kimibridge_turns: list[str] = []

    async def kimibridge_chat() -> None:
        async with KimiUpstream(endpoints.api_base, source, identity) as upstream:
            n = 0
            while not kimi_done.is_set() or n < 3:
                n += 1
                body = {
                    "model": "kimi-for-coding",
                    "messages": [{"role": "user", "content": f"kimibridge turn {n}"}],
                    "stream": False,
                }
                reply = await upstream.chat_completions(body, stream=False)
                kimibridge_turns.append(reply.json()["choices"][0]["message"]["content"])
                await asyncio.sleep(0.3)

    chat_task = asyncio.create_task(kimibridge_chat())
    results = []
    try:
        for n in range(KIMI_RUNS):
            results.append(await run_kimi_cli(python, env, work, f"kimi-cli turn {n}"))
            # Leave the token to age past kimi-cli's refresh threshold before its next start.
            await asyncio.sleep(0.5)
    finally:
        kimi_done.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(chat_task, 120)

    for code, out, err in results:
        assert code == 0, f"kimi-cli exited {code}: {err[-2000:]}"
        replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert any(
            r.get("role") == "assistant" and "kimi-cli turn" in str(r.get("content"))
            for r in replies
        ), out
        assert pair.access_token not in out + err
    assert len(kimibridge_turns) >= 3
    assert all("kimibridge turn" in t for t in kimibridge_turns)

    # Both clients refreshed the shared login, many times, and never spent a token twice.
    refreshes = [
        r
        for r in kimi.requests
        if r.path == "/api/oauth/token" and "grant_type=refresh_token" in r.body.decode()
    ]
    by_kimibridge = [
        r for r in refreshes if r.headers.get("User-Agent", "").startswith("kimibridge/")
    ]
    by_kimi_cli = [r for r in refreshes if "aiohttp" in r.headers.get("User-Agent", "")]
    assert by_kimibridge and by_kimi_cli, [r.headers.get("User-Agent") for r in refreshes]
    assert source.refreshes == len(by_kimibridge)
    assert kimi.refresh_reuse_count == 0
    chats = [r for r in kimi.requests if r.path == "/coding/v1/chat/completions"]
    assert {r.status for r in chats} <= {200, 401}  # a 401 only as the prelude to a refresh
    # The file is still kimi-cli's, byte for byte.
    final = decode_token_record(credentials.read_bytes())
    assert final is not None and credentials.read_bytes() == encode_legacy(final)


KIMI_CLI_FILE_PROBE = """
import json, os
from kimi_cli.auth.oauth import OAuthToken, _CrossProcessLock, load_tokens, save_tokens
from kimi_cli.config import OAuthRef
ref = OAuthRef(storage="file", key="oauth/kimi-code")
token = load_tokens(ref)
lock = _CrossProcessLock(ref.key)
held_elsewhere = not lock._acquire()
print(json.dumps({
    "read": [token.access_token, token.refresh_token, token.expires_at, token.expires_in],
    "lock_path": str(lock._path),
    "blocked_by_kimibridge": held_elsewhere,
}))
save_tokens(ref, OAuthToken("at-2", "rt-2", 1700000100.5, "kimi-code", "Bearer", 900.0))
"""


def test_kimi_cli_reads_our_file_writes_the_same_bytes_and_honours_our_lock(
    isolated_home: Path, tmp_path: Path
) -> None:
    python = kimi_cli_python()
    paths = kimicli_paths()
    LegacyKimiCliSlot(paths.legacy_credentials).write(
        TokenRecord("at-1", "rt-1", 1700000000.25, 900.0, "kimi-code", "Bearer")
    )
    slot = LegacyKimiCliSlot(paths.legacy_credentials)
    held = slot.lock()
    held.acquire(threading.Event())
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": os.environ["HOME"],
            "KIMI_SHARE_DIR": str(paths.share_dir),
            "KIMI_DISABLE_TELEMETRY": "1",
            "KIMI_CLI_NO_AUTO_UPDATE": "1",
        }
        done = subprocess.run(
            [str(python), "-c", KIMI_CLI_FILE_PROBE],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        held.release()
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["read"] == ["at-1", "rt-1", 1700000000.25, 900.0]
    assert probe["lock_path"] == str(paths.legacy_lock)
    assert probe["blocked_by_kimibridge"] is True
    written = TokenRecord("at-2", "rt-2", 1700000100.5, 900.0, "kimi-code", "Bearer")
    assert paths.legacy_credentials.read_bytes() == encode_legacy(written)
