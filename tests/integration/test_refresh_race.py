"""16 OS processes force refreshes of one login at once: no refresh token is ever spent twice.

Run for kimibridge's own file (flock), kimi-cli's legacy file (its flock protocol) and Kimi
Code's file (its proper-lockfile lock directory), against the emulator's rotating refresh
tokens with a short access-token lifetime.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from kimibridge.kimi.credentials import (
    CredentialStore,
    KimiCodeSlot,
    LegacyKimiCliSlot,
    SharingMode,
    StoredLogin,
)
from kimibridge.kimi.kimicli_files import (
    TokenRecord,
    decode_token_record,
    encode_kimi_code,
    encode_legacy,
    kimicli_paths,
)
from kimibridge.testing import EmulatorHandle

pytestmark = pytest.mark.integration

PROCESSES = 16
ROUNDS = 25
TTL = 6.0

# Each worker: wait for the start signal, then ROUNDS times take the current token and force a
# refresh as if it had been refused (two callers at once, to exercise in-process single-flight
# as well), then check its final token with the emulator. Prints counts, never a token.
WORKER = """
import asyncio, json, sys
from pathlib import Path
import aiohttp
from kimibridge.kimi.credentials import CredentialStore
from kimibridge.kimi.endpoints import resolve_endpoints
from kimibridge.kimi.sources import open_token_source

async def main(cfg):
    env = {"KIMI_CODE_OAUTH_HOST": cfg["oauth_host"], "KIMI_CODE_BASE_URL": cfg["base_url"]}
    endpoints = resolve_endpoints("mainland", environ=env)
    store = CredentialStore(Path(cfg["store"]))
    source = open_token_source(store.load(), store, endpoints, min_threshold=0.0)
    Path(cfg["ready"]).touch()
    go = Path(cfg["go"])
    while not go.exists():
        await asyncio.sleep(0.002)
    for _ in range(cfg["rounds"]):
        cred = await source.current()
        await asyncio.gather(source.after_unauthorized(cred), source.after_unauthorized(cred))
    cred = await source.current()
    headers = {"Authorization": "Bearer " + cred.token, "User-Agent": "kimibridge/race-test"}
    async with aiohttp.ClientSession() as s, s.get(endpoints.api_url("me"), headers=headers) as r:
        status = r.status
    print(json.dumps({"status": status, "refreshes": source.refreshes, "adoptions": source.adoptions}))

asyncio.run(main(json.loads(sys.argv[1])))
"""


def seed(mode: SharingMode, home: Path, kimi: EmulatorHandle) -> tuple[CredentialStore, Path]:
    pair = kimi.issue_tokens()
    record = TokenRecord(
        pair.access_token, pair.refresh_token, time.time() + pair.expires_in, pair.expires_in
    )
    store = CredentialStore(home / ".kimibridge" / "credentials.json")
    paths = kimicli_paths()
    if mode == "own":
        store.save(StoredLogin.own_oauth(record, "mainland"))
        return store, store.path
    if mode == "kimi-cli":
        LegacyKimiCliSlot(paths.legacy_credentials).write(record)
        store.save(StoredLogin.shared_oauth("kimi-cli", paths.legacy_credentials, "mainland"))
        return store, paths.legacy_credentials
    KimiCodeSlot(paths.code_credentials).write(record)
    store.save(StoredLogin.shared_oauth("kimi-code", paths.code_credentials, "mainland"))
    return store, paths.code_credentials


async def me_status(kimi: EmulatorHandle, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "kimibridge/race-test"}
    async with aiohttp.ClientSession() as s, s.get(f"{kimi.base_url}/me", headers=headers) as r:
        return r.status


@pytest.mark.timeout(120)
@pytest.mark.kimi_emulator(token_ttl=TTL)
@pytest.mark.parametrize("mode", ["own", "kimi-cli", "kimi-code"])
def test_sixteen_processes_never_spend_a_refresh_token_twice(
    mode: SharingMode, kimi_emulator: EmulatorHandle, isolated_home: Path, tmp_path: Path
) -> None:
    kimi = kimi_emulator
    store, token_file = seed(mode, isolated_home, kimi)
    go = tmp_path / "go"
    workers = []
    for n in range(PROCESSES):
        cfg = {
            "oauth_host": kimi.oauth_host,
            "base_url": kimi.base_url,
            "store": str(store.path),
            "ready": str(tmp_path / f"ready-{n}"),
            "go": str(go),
            "rounds": ROUNDS,
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(cfg)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES:
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), "a worker died before the start"
        time.sleep(0.01)
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
        for line in (out + err).splitlines():
            assert "kat_" not in line and "krt_" not in line  # no token in any output

    assert kimi.refresh_reuse_count == 0
    assert [r["status"] for r in results] == [200] * PROCESSES  # every process ends valid
    spent = sum(r["refreshes"] for r in results)
    assert spent == kimi.emulator.platform.oauth.stats.refresh_count  # each refresh persisted
    assert spent >= ROUNDS  # the processes did refresh, many times
    assert sum(r["adoptions"] for r in results) > 0  # and adopted each other's tokens

    final = decode_token_record(token_file.read_bytes())
    if mode == "kimi-cli":
        assert final is not None and token_file.read_bytes() == encode_legacy(final)
    elif mode == "kimi-code":
        assert final is not None and token_file.read_bytes() == encode_kimi_code(final)
        assert not kimicli_paths().code_lock_dir.exists()
    else:
        login = store.load()
        final = login.token if login else None
    assert final is not None and asyncio.run(me_status(kimi, final.access_token)) == 200
