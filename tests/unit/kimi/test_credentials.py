"""kimibridge's credential file, kimi-cli's file formats and detection (kimi.credentials)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.errors import ConfigError
from kimibridge.kimi.credentials import (
    CredentialStore,
    KimiCodeSlot,
    LegacyKimiCliSlot,
    OwnSlot,
    StoredLogin,
    detect_shared_logins,
    open_slot,
)
from kimibridge.kimi.kimicli_files import (
    TokenRecord,
    decode_token_record,
    encode_kimi_code,
    encode_legacy,
    kimi_code_token_name,
    kimicli_paths,
)

SECRET_AT = "at-secret-0123456789"
SECRET_RT = "rt-secret-9876543210"
RECORD = TokenRecord(SECRET_AT, SECRET_RT, 1700000000.5, 900.0, "kimi-code", "Bearer")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_legacy_bytes_match_kimi_cli_exactly() -> None:
    assert encode_legacy(RECORD) == (
        b'{"access_token": "at-secret-0123456789", "refresh_token": "rt-secret-9876543210", '
        b'"expires_at": 1700000000.5, "scope": "kimi-code", "token_type": "Bearer", "expires_in": 900.0}'
    )


def test_legacy_writes_floats_even_for_whole_numbers() -> None:
    record = TokenRecord("a", "r", 1700000000, 900, "", "Bearer")
    assert b'"expires_at": 1700000000.0' in encode_legacy(record)
    assert encode_legacy(record).endswith(b'"expires_in": 900.0}')


def test_kimi_code_bytes_are_indented_with_integer_expiry() -> None:
    data = encode_kimi_code(RECORD).decode()
    assert data.endswith("}\n") and not data.endswith("}\n\n")
    assert data.startswith('{\n  "access_token": ')
    payload = json.loads(data)
    assert payload["expires_at"] == 1700000000 and isinstance(payload["expires_at"], int)
    assert payload["expires_in"] == 900 and isinstance(payload["expires_in"], int)
    assert list(payload) == [
        "access_token",
        "refresh_token",
        "expires_at",
        "scope",
        "token_type",
        "expires_in",
    ]


@pytest.mark.parametrize("encode", [encode_legacy, encode_kimi_code])
def test_formats_round_trip(encode) -> None:
    decoded = decode_token_record(encode(RECORD))
    assert decoded is not None
    assert decoded.access_token == SECRET_AT and decoded.refresh_token == SECRET_RT
    assert decoded.expires_in == 900


def test_decode_is_lenient_like_kimi_cli() -> None:
    rec = decode_token_record(b'{"access_token": "a", "expires_at": "12.5"}')
    assert rec is not None
    assert (rec.refresh_token, rec.expires_at, rec.expires_in, rec.token_type) == (
        "",
        12.5,
        0.0,
        "Bearer",
    )
    assert decode_token_record(b"not json") is None
    assert decode_token_record(b"[1]") is None
    tomb = decode_token_record(b'{"access_token": "", "refresh_token": "", "expires_at": 0}')
    assert tomb is not None and tomb.is_tombstone


def test_reprs_never_show_tokens() -> None:
    login = StoredLogin.own_oauth(RECORD, "mainland")
    key_login = StoredLogin.api_key_login("sk-kimi-secret-key", "global")
    for obj in (RECORD, login, key_login):
        text = repr(obj) + str(obj)
        assert SECRET_AT not in text and SECRET_RT not in text and "sk-kimi-secret-key" not in text


def test_store_round_trip_and_permissions(isolated_home: Path) -> None:
    store = CredentialStore(Paths.from_env().credentials_file)
    assert store.load() is None
    store.save(StoredLogin.own_oauth(RECORD, "global"))
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    loaded = store.load()
    assert loaded is not None
    assert (loaded.method, loaded.region, loaded.sharing) == ("oauth", "global", "own")
    assert loaded.token is not None and loaded.token.refresh_token == SECRET_RT
    payload = json.loads(store.path.read_text())
    assert payload["version"] == 1 and payload["expires_at"] == RECORD.expires_at


def test_store_tightens_an_existing_loose_directory(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o755)
    store = CredentialStore(directory / "credentials.json")
    store.save(StoredLogin.api_key_login("sk-kimi-x", "mainland"))
    assert mode(directory) == 0o700 and mode(store.path) == 0o600


def test_shared_login_keeps_no_tokens(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "c" / "credentials.json")
    shared = tmp_path / ".kimi" / "credentials" / "kimi-code.json"
    store.save(StoredLogin.shared_oauth("kimi-cli", shared, "mainland"))
    payload = json.loads(store.path.read_text())
    assert payload["sharing"] == "kimi-cli" and payload["shared_path"] == str(shared)
    assert "access_token" not in payload and "refresh_token" not in payload
    loaded = store.load()
    assert loaded is not None and loaded.shared_path == shared and loaded.token is None
    assert isinstance(open_slot(loaded, store), LegacyKimiCliSlot)


def test_broken_store_file_says_what_to_run(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.path.write_text("{oops")
    with pytest.raises(ConfigError, match="kimibridge logout"):
        store.load()
    store.path.write_text(json.dumps({"method": "password"}))
    with pytest.raises(ConfigError):
        store.load()


def test_logout_removes_only_kimibridges_file(isolated_home: Path) -> None:
    paths = kimicli_paths()
    LegacyKimiCliSlot(paths.legacy_credentials).write(RECORD)
    store = CredentialStore(Paths.from_env().credentials_file)
    store.replace_login(StoredLogin.shared_oauth("kimi-cli", paths.legacy_credentials, "mainland"))
    assert store.remove_login() is True
    assert store.remove_login() is False
    assert paths.legacy_credentials.exists()


def test_legacy_slot_writes_kimi_cli_bytes_and_mode(isolated_home: Path) -> None:
    paths = kimicli_paths()
    slot = LegacyKimiCliSlot(paths.legacy_credentials)
    slot.write(RECORD)
    assert paths.legacy_credentials.read_bytes() == encode_legacy(RECORD)
    assert mode(paths.legacy_credentials) == 0o600
    assert slot.read() == RECORD
    assert slot.lock().path == paths.legacy_lock
    assert not list(paths.legacy_credentials.parent.glob("*.tmp"))


def test_kimi_code_slot_writes_its_format_under_its_locks(isolated_home: Path) -> None:
    paths = kimicli_paths()
    slot = KimiCodeSlot(paths.code_credentials)
    slot.write(RECORD)
    assert paths.code_credentials.read_bytes() == encode_kimi_code(RECORD)
    assert mode(paths.code_credentials) == 0o600
    assert mode(paths.code_credentials.parent) == 0o700
    assert not paths.code_storage_lock_dir.exists()  # released
    assert slot.lock().path == paths.code_home / "oauth" / "kimi-code.lock"


def test_own_slot_does_not_resurrect_a_logged_out_login(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    slot = OwnSlot(store)
    store.save(StoredLogin.own_oauth(RECORD, "mainland"))
    store.delete()
    slot.write(RECORD)
    assert not store.path.exists()


def test_detect_shared_logins(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert detect_shared_logins() == []
    paths = kimicli_paths()
    LegacyKimiCliSlot(paths.legacy_credentials).write(RECORD)
    KimiCodeSlot(paths.code_credentials).write(TokenRecord("", "", 0, 0))  # a tombstone
    found = detect_shared_logins()
    assert [(f.sharing, f.region, f.renewable) for f in found] == [
        ("kimi-code", "mainland", False),
        ("kimi-cli", "mainland", True),
    ]
    assert found[1].to_login().shared_path == paths.legacy_credentials
    monkeypatch.setenv("KIMI_CODE_OAUTH_HOST", "https://auth.kimi.ai")
    # Kimi Code keeps a global login in its own slot; legacy kimi-cli follows the env host.
    assert [(f.sharing, f.region) for f in detect_shared_logins()] == [("kimi-cli", "global")]


def test_detect_kimi_codes_global_slot(isolated_home: Path) -> None:
    paths = kimicli_paths()
    slot = paths.code_home / "credentials" / "kimi-code-env-0e4f99c69cc27850.json"
    KimiCodeSlot(slot).write(RECORD)
    (found,) = detect_shared_logins()
    assert (found.sharing, found.path, found.region, found.renewable) == (
        "kimi-code",
        slot,
        "global",
        True,
    )


def test_detect_kimi_code_slot_for_emulated_hosts_uses_the_region_marker(
    isolated_home: Path,
) -> None:
    env = {
        "HOME": str(isolated_home),
        "KIMI_CODE_HOME": str(isolated_home / ".kimi-code"),
        "KIMI_CODE_OAUTH_HOST": "http://127.0.0.1:8080",
        "KIMI_CODE_BASE_URL": "http://127.0.0.1:8080/coding/v1",
    }
    paths = kimicli_paths(env)
    assert paths.code_token_name == "kimi-code-env-5efbb6ba7feb42cd"
    assert (
        paths.code_lock_dir
        == isolated_home / ".kimi-code" / "oauth" / "kimi-code-env-5efbb6ba7feb42cd.lock"
    )
    KimiCodeSlot(paths.code_credentials).write(RECORD)
    paths.code_region_marker.write_text("global\n")
    (found,) = detect_shared_logins(env)
    assert (found.path, found.region) == (paths.code_credentials, "global")
    assert KimiCodeSlot(found.path).lock().path == paths.code_lock_dir


@pytest.mark.parametrize(
    ("oauth", "base", "name"),
    [
        ("https://auth.kimi.com", "https://api.kimi.com/coding/v1", "kimi-code"),
        ("https://auth.kimi.com/ ", "https://api.kimi.com/coding/v1/", "kimi-code"),
        # Digests computed with Node: sha256(JSON.stringify({oauthHost, baseUrl})).slice(0, 16)
        ("https://auth.kimi.ai", "https://api.kimi.ai/coding/v1", "kimi-code-env-0e4f99c69cc27850"),
        (
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/coding/v1",
            "kimi-code-env-5efbb6ba7feb42cd",
        ),
    ],
)
def test_kimi_code_token_name_matches_kimi_code(oauth: str, base: str, name: str) -> None:
    assert kimi_code_token_name(oauth, base) == name


def test_kimicli_paths_follow_env(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "KIMI_SHARE_DIR": str(tmp_path / "s")}
    paths = kimicli_paths(env)
    assert paths.legacy_credentials == tmp_path / "s" / "credentials" / "kimi-code.json"
    assert paths.legacy_device_id == tmp_path / "s" / "device_id"
    assert paths.code_home == tmp_path / ".kimi-code"
    assert paths.code_device_id == tmp_path / ".kimi-code" / "device_id"
