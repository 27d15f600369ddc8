"""The one place for the client versions kimibridge names on the wire.

``kimi-cli`` 1.52.0 is the last release of the legacy Python CLI (reference/kimi-cli-wire.md §0);
its ``User-Agent`` is ``KimiCLI/<installed version>``, so this pin must equal the version a real
kimi-cli on the same machine reports. ``kimi-code`` 2.1.0 is the new TypeScript CLI that was
captured live (§3). Both can be overridden, by config and then by the environment (env wins, as
in ``config.py``'s precedence), without touching code when Kimi moves on.

Nothing here reads ``os.environ``: callers pass the environment mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from kimibridge._version import __version__
from kimibridge.errors import ConfigError

__all__ = [
    "ENV_KIMI_CLI_VERSION",
    "ENV_KIMI_CODE_VERSION",
    "KIMIBRIDGE_VERSION",
    "KIMI_CLI_VERSION",
    "KIMI_CODE_VERSION",
    "Versions",
    "resolve_versions",
]

KIMI_CLI_VERSION: Final = "1.52.0"
KIMI_CODE_VERSION: Final = "2.1.0"
KIMIBRIDGE_VERSION: Final = __version__

ENV_KIMI_CLI_VERSION: Final = "KIMIBRIDGE_KIMI_CLI_VERSION"
ENV_KIMI_CODE_VERSION: Final = "KIMIBRIDGE_KIMI_CODE_VERSION"

# A version goes into a User-Agent product token and an X-Msh-Version value: keep it a token.
_VERSION_RE: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Versions:
    """Versions used to build identity headers; ``*_source`` says where each came from."""

    kimi_cli: str = KIMI_CLI_VERSION
    kimi_code: str = KIMI_CODE_VERSION
    kimibridge: str = KIMIBRIDGE_VERSION
    kimi_cli_source: str = "default"
    kimi_code_source: str = "default"


def _checked(value: str, origin: str) -> str:
    cleaned = value.strip()
    if not _VERSION_RE.fullmatch(cleaned):
        raise ConfigError(f"{origin} must be a version such as {KIMI_CLI_VERSION!r}, got {value!r}")
    return cleaned


def _pick(
    default: str,
    config_value: str | None,
    config_name: str,
    environ: Mapping[str, str],
    env_name: str,
) -> tuple[str, str]:
    env_value = environ.get(env_name, "").strip()
    if env_value:
        return _checked(env_value, env_name), "env"
    if config_value is not None and config_value.strip():
        return _checked(config_value, f"config {config_name}"), "config"
    return default, "default"


def resolve_versions(
    environ: Mapping[str, str] | None = None,
    *,
    kimi_cli: str | None = None,
    kimi_code: str | None = None,
) -> Versions:
    """Pinned versions with overrides: defaults < config (``kimi_cli=``/``kimi_code=``) < env.

    Raises ``ConfigError`` for a value that is not a plain version token.
    """
    env: Mapping[str, str] = environ if environ is not None else {}
    cli, cli_source = _pick(
        KIMI_CLI_VERSION, kimi_cli, "kimi_cli_version", env, ENV_KIMI_CLI_VERSION
    )
    code, code_source = _pick(
        KIMI_CODE_VERSION, kimi_code, "kimi_code_version", env, ENV_KIMI_CODE_VERSION
    )
    return Versions(
        kimi_cli=cli, kimi_code=code, kimi_cli_source=cli_source, kimi_code_source=code_source
    )
