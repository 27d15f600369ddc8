"""kimi-cli's own files: where they are and their exact byte formats (pure functions).

Facts from reference/kimi-cli-wire.md §2 (and the 1.52 wheel, ``kimi_cli/auth/oauth.py``):

Legacy Python kimi-cli — share dir ``$KIMI_SHARE_DIR`` or ``~/.kimi``:
- token file ``<share>/credentials/kimi-code.json``: ``json.dumps`` default separators, no
  trailing newline, key order ``access_token, refresh_token, expires_at, scope, token_type,
  expires_in``, ``expires_at``/``expires_in`` floats; written via ``mkstemp(dir=credentials,
  suffix=".tmp")`` + fsync + chmod 0600 + ``os.replace`` (the directory is not chmod'ed);
- lock ``<share>/credentials/kimi-code.lock``: an empty 0600 file held with ``fcntl.flock``;
- device id ``<share>/device_id``: ``uuid4().hex`` (32 lowercase hex), no newline, 0600.

New Kimi Code — home ``$KIMI_CODE_HOME`` or ``~/.kimi-code``:
- token file ``<home>/credentials/<name>.json``: 2-space indent + trailing newline, integer
  ``expires_at``; directory 0700, file 0600; temp file ``<target>.tmp.<pid>.<8 hex>`` + rename.
  ``<name>`` is ``kimi-code`` for the default hosts (auth.kimi.com + api.kimi.com/coding/v1) and
  ``kimi-code-env-<16 hex of sha256(JSON {oauthHost, baseUrl})>`` for any other pair — the global
  region and env-overridden hosts included (``kimi_code_token_name``);
- refresh lock: proper-lockfile on the empty sentinel ``<home>/oauth/<name>``, i.e. the lock
  DIRECTORY ``<home>/oauth/<name>.lock`` (stale after 5 s, mtime refreshed while held);
  newer builds also guard each load/save with ``<home>/credentials/<name>.lock-target.lock``;
- a record whose ``access_token`` is empty is a tombstone: the login was rejected;
- device id ``<home>/device_id``: a dashed UUID (36 chars), no newline, 0600;
- region marker ``<home>/region``: one line, ``mainland-cn`` or ``global``.

C2 (``kimi.identity``) reads the device-id paths from ``KimiCliPaths``; nothing here creates a
device id.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from kimibridge.kimi.endpoints import (
    ENV_BASE_URL,
    ENV_CODE_HOME,
    ENV_OAUTH_HOST,
    ENV_OAUTH_HOST_LEGACY,
    ENV_SHARE_DIR,
    REGIONS,
    Region,
    parse_region,
)

__all__ = [
    "KimiCliPaths",
    "SharedFormat",
    "TokenRecord",
    "decode_token_record",
    "encode_kimi_code",
    "encode_legacy",
    "kimi_code_token_name",
    "kimicli_paths",
    "read_region_marker",
]

SharedFormat = Literal["kimi-cli", "kimi-code"]

TOKEN_NAME: Final = "kimi-code"  # from kimi-cli's key "oauth/kimi-code"


def _endpoint(value: str) -> str:
    return value.strip().rstrip("/")


def kimi_code_token_name(auth_host: str, api_base: str) -> str:
    """Kimi Code's credential slot for an (OAuth host, API base) pair (``resolveKimiCodeOAuthKey``)."""
    oauth, base = _endpoint(auth_host), api_base.rstrip("/")
    default = REGIONS["mainland"]
    if oauth == default.auth_host and base == default.api_base:
        return TOKEN_NAME
    key = json.dumps(
        {"oauthHost": oauth, "baseUrl": base}, separators=(",", ":"), ensure_ascii=False
    )
    return f"{TOKEN_NAME}-env-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class KimiCliPaths:
    """Every kimi-cli / Kimi Code path kimibridge reads or writes."""

    share_dir: Path  # legacy kimi-cli
    code_home: Path  # new Kimi Code
    code_token_name: str = TOKEN_NAME  # Kimi Code's slot for the hosts in use

    @property
    def legacy_credentials(self) -> Path:
        return self.share_dir / "credentials" / f"{TOKEN_NAME}.json"

    @property
    def legacy_lock(self) -> Path:
        return self.share_dir / "credentials" / f"{TOKEN_NAME}.lock"

    @property
    def legacy_device_id(self) -> Path:
        return self.share_dir / "device_id"

    @property
    def code_credentials(self) -> Path:
        return self.code_home / "credentials" / f"{self.code_token_name}.json"

    @property
    def code_lock_target(self) -> Path:
        """The empty sentinel file proper-lockfile locks; the lock itself is ``<this>.lock``."""
        return self.code_home / "oauth" / self.code_token_name

    @property
    def code_lock_dir(self) -> Path:
        return self.code_home / "oauth" / f"{self.code_token_name}.lock"

    @property
    def code_storage_lock_dir(self) -> Path:
        """Newer Kimi Code builds also lock each load/save of the token file with this."""
        return self.code_home / "credentials" / f"{self.code_token_name}.lock-target.lock"

    @property
    def code_device_id(self) -> Path:
        return self.code_home / "device_id"

    @property
    def code_region_marker(self) -> Path:
        return self.code_home / "region"

    def credentials(self, fmt: SharedFormat) -> Path:
        return self.legacy_credentials if fmt == "kimi-cli" else self.code_credentials


def kimicli_paths(environ: Mapping[str, str] | None = None) -> KimiCliPaths:
    """kimi-cli's directories, honouring ``KIMI_SHARE_DIR`` and ``KIMI_CODE_HOME``.

    Kimi Code's slot follows the env host overrides as Kimi Code's own does (a missing one
    falls back to the mainland default); legacy kimi-cli always uses ``kimi-code.json``.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    share = env.get(ENV_SHARE_DIR)
    code = env.get(ENV_CODE_HOME)
    oauth = env.get(ENV_OAUTH_HOST) or env.get(ENV_OAUTH_HOST_LEGACY)
    base = env.get(ENV_BASE_URL)
    name = TOKEN_NAME
    if oauth or base:
        default = REGIONS["mainland"]
        name = kimi_code_token_name(oauth or default.auth_host, base or default.api_base)
    return KimiCliPaths(
        share_dir=Path(share).expanduser() if share else home / ".kimi",
        code_home=Path(code).expanduser() if code else home / ".kimi-code",
        code_token_name=name,
    )


def read_region_marker(paths: KimiCliPaths) -> Region | None:
    """Kimi Code's install-channel region marker, if present and valid."""
    try:
        raw = paths.code_region_marker.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if raw not in ("mainland-cn", "global"):
        return None
    return parse_region(raw)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One OAuth token set as kimi-cli stores it; ``repr`` never shows a token."""

    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds; 0 means unknown
    expires_in: float
    scope: str = ""
    token_type: str = "Bearer"

    @property
    def is_tombstone(self) -> bool:
        """Kimi Code writes an empty record after its refresh token was rejected."""
        return not self.access_token

    def __repr__(self) -> str:
        return (
            f"TokenRecord(expires_at={self.expires_at!r}, expires_in={self.expires_in!r}, "
            f"scope={self.scope!r}, token_type={self.token_type!r})"
        )

    __str__ = __repr__


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0.0
    try:
        number = float(value)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def decode_token_record(data: bytes | str) -> TokenRecord | None:
    """Parse either kimi-cli format (or kimibridge's token fields); None if unreadable.

    Lenient like kimi-cli's ``from_dict``: missing strings become "", numbers may be int,
    float or numeric strings.
    """
    try:
        payload = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    return record_from_mapping(payload)


def record_from_mapping(payload: Mapping[str, object]) -> TokenRecord:
    def text(key: str) -> str:
        value = payload.get(key)
        return value if isinstance(value, str) else ""

    return TokenRecord(
        access_token=text("access_token"),
        refresh_token=text("refresh_token"),
        expires_at=_number(payload.get("expires_at")),
        expires_in=_number(payload.get("expires_in")),
        scope=text("scope"),
        token_type=text("token_type") or "Bearer",
    )


def record_to_mapping(record: TokenRecord) -> dict[str, object]:
    """kimi-cli's key order: access_token, refresh_token, expires_at, scope, token_type, expires_in."""
    return {
        "access_token": record.access_token,
        "refresh_token": record.refresh_token,
        "expires_at": record.expires_at,
        "scope": record.scope,
        "token_type": record.token_type,
        "expires_in": record.expires_in,
    }


def encode_legacy(record: TokenRecord) -> bytes:
    """Legacy kimi-cli bytes: default separators, floats, no trailing newline."""
    payload = record_to_mapping(record)
    payload["expires_at"] = float(record.expires_at)
    payload["expires_in"] = float(record.expires_in)
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def encode_kimi_code(record: TokenRecord) -> bytes:
    """Kimi Code bytes: 2-space indent, trailing newline, integer ``expires_at``."""
    payload = record_to_mapping(record)
    payload["expires_at"] = math.floor(record.expires_at)
    expires_in = record.expires_in
    payload["expires_in"] = int(expires_in) if float(expires_in).is_integer() else expires_in
    return (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
