"""The credential store: kimibridge's own file, and the kimi-cli files it can share.

kimibridge's file (``Paths.credentials_file``, JSON, 0600 in a 0700 directory, written
atomically) always says how kimibridge signs in:

    {"version": 1, "method": "oauth" | "api_key", "region": "mainland" | "global",
     "sharing": "own" | "kimi-cli" | "kimi-code", "shared_path": <path> | null,
     "api_key": <key> | null,
     "access_token", "refresh_token", "expires_at", "expires_in", "scope", "token_type",
     "saved_at": <epoch s>}

Token fields are kept only in ``own`` mode, an independent refresh chain. In the shared modes
the tokens live in kimi-cli's file, read and written in that file's own format and under its
own lock protocol (``TokenSlot``), so kimi-cli and kimibridge can run at the same time and a
refresh token is never spent twice. ``logout`` removes only kimibridge's own file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol, get_args

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.errors import ConfigError
from kimibridge.kimi._locks import DirLock, FlockLock, SyncLock
from kimibridge.kimi.endpoints import (
    ENV_BASE_URL,
    ENV_OAUTH_HOST,
    ENV_OAUTH_HOST_LEGACY,
    REGIONS,
    Region,
    parse_region,
    region_of_url,
)
from kimibridge.kimi.kimicli_files import (
    KimiCliPaths,
    SharedFormat,
    TokenRecord,
    decode_token_record,
    encode_kimi_code,
    encode_legacy,
    kimi_code_token_name,
    kimicli_paths,
    read_region_marker,
    record_from_mapping,
    record_to_mapping,
)
from kimibridge.kimi.tokens import SignInMethod

__all__ = [
    "CredentialStore",
    "SharedLogin",
    "SharingMode",
    "StoredLogin",
    "TokenSlot",
    "detect_shared_logins",
    "open_slot",
]

SharingMode = Literal["own", "kimi-cli", "kimi-code"]

FORMAT_VERSION: Final = 1
LOCK_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class StoredLogin:
    """What kimibridge's credential file holds; ``repr`` never shows a secret."""

    method: SignInMethod
    region: Region
    sharing: SharingMode = "own"
    shared_path: Path | None = None
    api_key: str | None = field(default=None, repr=False)
    token: TokenRecord | None = field(default=None, repr=False)  # own mode only
    saved_at: float = 0.0

    def __post_init__(self) -> None:
        if self.method == "api_key" and not self.api_key:
            raise ValueError("an api_key login needs the key")
        if self.sharing != "own" and self.shared_path is None:
            raise ValueError("a shared login needs the shared file's path")

    @classmethod
    def api_key_login(cls, key: str, region: Region) -> StoredLogin:
        return cls(method="api_key", region=region, api_key=key)

    @classmethod
    def own_oauth(cls, token: TokenRecord, region: Region) -> StoredLogin:
        return cls(method="oauth", region=region, token=token)

    @classmethod
    def shared_oauth(cls, sharing: SharedFormat, path: Path, region: Region) -> StoredLogin:
        return cls(method="oauth", region=region, sharing=sharing, shared_path=path)


def _encode_login(login: StoredLogin) -> bytes:
    payload: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "method": login.method,
        "region": login.region,
        "sharing": login.sharing,
        "shared_path": str(login.shared_path) if login.shared_path else None,
        "api_key": login.api_key,
    }
    if login.sharing == "own" and login.token is not None:
        payload.update(record_to_mapping(login.token))
    payload["saved_at"] = login.saved_at or time.time()
    return (json.dumps(payload, indent=2) + "\n").encode("utf-8")


def _decode_login(data: bytes, path: Path) -> StoredLogin:
    broken = ConfigError(
        f"the credential file {path} is unreadable; run `kimibridge logout` then `kimibridge login`"
    )
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise broken from None
    if not isinstance(payload, dict):
        raise broken
    method, sharing = payload.get("method"), payload.get("sharing", "own")
    if method not in ("api_key", "oauth") or sharing not in get_args(SharingMode):
        raise broken
    try:
        region = parse_region(str(payload.get("region") or "mainland"))
        shared = payload.get("shared_path")
        token = record_from_mapping(payload) if method == "oauth" and sharing == "own" else None
        api_key = payload.get("api_key")
        return StoredLogin(
            method=method,
            region=region,
            sharing=sharing,
            shared_path=Path(shared) if isinstance(shared, str) and shared else None,
            api_key=api_key if isinstance(api_key, str) and api_key else None,
            token=token,
            saved_at=float(payload.get("saved_at") or 0.0),
        )
    except (ValueError, TypeError, ConfigError):
        raise broken from None


class CredentialStore:
    """kimibridge's own credential file (``Paths.credentials_file``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def lock(self, *, timeout: float = LOCK_TIMEOUT_S) -> FlockLock:
        return FlockLock(self.lock_path, timeout=timeout)

    def load(self) -> StoredLogin | None:
        """The stored login, or None when there is none; ``ConfigError`` if the file is broken."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return _decode_login(data, self.path)

    def save(self, login: StoredLogin) -> None:
        """Write atomically: 0600 file in a 0700 directory.

        Not locked: ``login``/``logout`` should use ``replace_login``/``remove_login``, which
        wait for a refresh another process (a running gateway) may be making.
        """
        ensure_private_dir(self.path.parent)
        os.chmod(self.path.parent, 0o700)
        atomic_write(self.path, _encode_login(login), mode=0o600)

    def delete(self) -> bool:
        """Remove kimibridge's own credential (never kimi-cli's file); True if one existed."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def replace_login(self, login: StoredLogin) -> None:
        """``save`` under the refresh lock, so no refresh of the old login overwrites it."""
        lock = self.lock()
        lock.acquire(threading.Event())
        try:
            self.save(login)
        finally:
            lock.release()

    def remove_login(self) -> bool:
        """``delete`` under the refresh lock."""
        lock = self.lock()
        lock.acquire(threading.Event())
        try:
            return self.delete()
        finally:
            lock.release()


# -- token slots: where an OAuth token set lives, and how to lock it --------------------------


class TokenSlot(Protocol):
    """One place an OAuth token set lives. Blocking methods: call them from a worker thread."""

    sharing: SharingMode
    path: Path
    relogin_hint: str  # what the user runs when this login can no longer be renewed

    def read(self) -> TokenRecord | None: ...

    def write(self, record: TokenRecord) -> None: ...

    def lock(self) -> SyncLock: ...


class OwnSlot:
    """Tokens in kimibridge's own file (``own`` mode): an independent refresh chain."""

    sharing: SharingMode = "own"
    relogin_hint = "run `kimibridge login --oauth` to sign in again"

    def __init__(self, store: CredentialStore) -> None:
        self.store = store
        self.path = store.path

    def read(self) -> TokenRecord | None:
        login = self.store.load()
        if login is None or login.method != "oauth" or login.sharing != "own":
            return None
        return login.token

    def write(self, record: TokenRecord) -> None:
        login = self.store.load()
        if login is None or login.method != "oauth" or login.sharing != "own":
            # Logged out (or switched) meanwhile: do not resurrect the old login.
            return
        self.store.save(replace(login, token=record, saved_at=time.time()))

    def lock(self) -> SyncLock:
        return self.store.lock()


def _read_record(path: Path) -> TokenRecord | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return decode_token_record(data)


def _replace_file(path: Path, data: bytes, *, tmp_name: str | None = None) -> None:
    """mkstemp-or-named temp in the same directory, fsync, chmod 0600, rename."""
    if tmp_name is None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    else:
        tmp = str(path.parent / tmp_name)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LegacyKimiCliSlot:
    """Legacy kimi-cli's ``<share>/credentials/kimi-code.json`` under its ``flock``."""

    sharing: SharingMode = "kimi-cli"
    relogin_hint = (
        "sign in again in kimi-cli (`/login` in its shell), or run `kimibridge login --oauth` "
        "for a login of kimibridge's own"
    )

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> TokenRecord | None:
        return _read_record(self.path)

    def write(self, record: TokenRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(self.path, encode_legacy(record))

    def lock(self) -> SyncLock:
        return FlockLock(self.path.with_suffix(".lock"), timeout=LOCK_TIMEOUT_S)


class KimiCodeSlot:
    """Kimi Code's ``<home>/credentials/kimi-code.json`` under its lock directory."""

    sharing: SharingMode = "kimi-code"
    relogin_hint = (
        "sign in again in Kimi Code (`kimi login`), or run `kimibridge login --oauth` for a "
        "login of kimibridge's own"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        home = path.parent.parent
        self.paths = KimiCliPaths(share_dir=home, code_home=home, code_token_name=path.stem)

    def read(self) -> TokenRecord | None:
        return _read_record(self.path)

    def write(self, record: TokenRecord) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        storage_lock = DirLock(self.paths.code_storage_lock_dir, stale=5.0, timeout=LOCK_TIMEOUT_S)
        storage_lock.acquire(threading.Event())
        try:
            tmp = f"{self.path.name}.tmp.{os.getpid()}.{os.urandom(4).hex()}"
            _replace_file(self.path, encode_kimi_code(record), tmp_name=tmp)
        finally:
            storage_lock.release()

    def lock(self) -> SyncLock:
        return DirLock(
            self.paths.code_lock_dir,
            stale=5.0,
            timeout=LOCK_TIMEOUT_S,
            sentinel=self.paths.code_lock_target,
        )


def open_slot(login: StoredLogin, store: CredentialStore) -> TokenSlot:
    """Where ``login``'s tokens live."""
    if login.method != "oauth":
        raise ValueError("only OAuth logins have a token slot")
    if login.sharing == "own":
        return OwnSlot(store)
    assert login.shared_path is not None
    if login.sharing == "kimi-cli":
        return LegacyKimiCliSlot(login.shared_path)
    return KimiCodeSlot(login.shared_path)


def shared_slot(fmt: SharedFormat, environ: Mapping[str, str] | None = None) -> TokenSlot:
    """The slot of kimi-cli's (``kimi-cli``) or Kimi Code's (``kimi-code``) default login."""
    paths = kimicli_paths(environ)
    if fmt == "kimi-cli":
        return LegacyKimiCliSlot(paths.legacy_credentials)
    return KimiCodeSlot(paths.code_credentials)


# -- detecting a kimi-cli login to offer for reuse --------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedLogin:
    """An existing kimi-cli / Kimi Code login ``kimibridge login`` can offer to reuse."""

    sharing: SharedFormat
    path: Path
    region: Region
    expires_at: float
    renewable: bool  # has a refresh token and is not a tombstone

    @property
    def label(self) -> str:
        return "kimi-cli" if self.sharing == "kimi-cli" else "Kimi Code"

    def to_login(self) -> StoredLogin:
        return StoredLogin.shared_oauth(self.sharing, self.path, self.region)


def _env_region(environ: Mapping[str, str]) -> Region | None:
    host = environ.get(ENV_OAUTH_HOST) or environ.get(ENV_OAUTH_HOST_LEGACY)
    return region_of_url(host) if host else None


def _has_env_hosts(environ: Mapping[str, str]) -> bool:
    return any(environ.get(n) for n in (ENV_OAUTH_HOST, ENV_OAUTH_HOST_LEGACY, ENV_BASE_URL))


def _kimi_code_candidates(
    paths: KimiCliPaths, environ: Mapping[str, str]
) -> list[tuple[Path, Region]]:
    """Kimi Code's slots to look at, with the region each one means.

    With env host overrides, the one slot Kimi Code itself uses for them (region: the env
    host's, else the ``<home>/region`` marker, else mainland). Without: the default slot (a
    mainland login, as Kimi Code reads it) and the global region's slot.
    """
    if _has_env_hosts(environ):
        region = _env_region(environ) or read_region_marker(paths) or "mainland"
        return [(paths.code_credentials, region)]
    world = REGIONS["global"]
    global_name = kimi_code_token_name(world.auth_host, world.api_base)
    return [
        (paths.code_credentials, "mainland"),
        (paths.code_home / "credentials" / f"{global_name}.json", "global"),
    ]


def detect_shared_logins(environ: Mapping[str, str] | None = None) -> list[SharedLogin]:
    """kimi-cli logins on this machine, newest client first (Kimi Code, then legacy kimi-cli).

    Legacy kimi-cli knows only one slot; its region is the env OAuth host's, else mainland.
    """
    env = os.environ if environ is None else environ
    paths = kimicli_paths(env)
    candidates: list[tuple[SharedFormat, Path, Region]] = [
        ("kimi-code", path, region) for path, region in _kimi_code_candidates(paths, env)
    ]
    candidates.append(("kimi-cli", paths.legacy_credentials, _env_region(env) or "mainland"))
    found: list[SharedLogin] = []
    for fmt, path, region in candidates:
        record = _read_record(path)
        if record is None:
            continue
        found.append(
            SharedLogin(
                sharing=fmt,
                path=path,
                region=region,
                expires_at=record.expires_at,
                renewable=bool(record.refresh_token) and not record.is_tombstone,
            )
        )
    return found
