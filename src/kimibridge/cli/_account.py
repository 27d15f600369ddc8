"""What `login`, `logout` and `status` share: resolving settings, endpoints, store and identity.

Kept free of Rich so the commands stay thin; printing lives in each command module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from kimibridge.config import Paths, Settings
from kimibridge.kimi.credentials import CredentialStore, StoredLogin
from kimibridge.kimi.endpoints import (
    ENV_BASE_URL,
    ENV_OAUTH_HOST,
    Endpoints,
    Region,
    resolve_endpoints,
)
from kimibridge.kimi.identity import Identity, build_identity

__all__ = [
    "RISK_SENTENCE",
    "AccountContext",
    "account_context",
    "endpoints_for",
    "identity_for",
    "stdin_is_interactive",
]

# The one plain sentence on the OAuth risk (DESIGN.md "Identity and account safety").
RISK_SENTENCE = (
    "Kimi's rules reserve this login for Kimi's own clients, and an account has been "
    "suspended for a third-party tool presenting Kimi CLI's identity: use it at your own risk "
    "(docs/account-safety.md)."
)


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def endpoints_for(settings: Settings, region: Region) -> Endpoints:
    """The hosts for ``region``, with the settings' overrides (file < env < flags) applied.

    ``kimi.endpoints`` resolves its overrides from an environment mapping; ``Settings`` has
    already merged file, environment and flags, so its values are passed as that mapping.
    """
    overrides: dict[str, str] = {}
    if settings.api_base_url:
        overrides[ENV_BASE_URL] = settings.api_base_url
    if settings.oauth_host:
        overrides[ENV_OAUTH_HOST] = settings.oauth_host
    return resolve_endpoints(region, environ=overrides)


def identity_for(settings: Settings, environ: Mapping[str, str], preset: str) -> Identity:
    versions = settings.identity.versions
    from kimibridge.kimi.versions import resolve_versions

    return build_identity(
        preset,
        versions=resolve_versions(
            environ, kimi_cli=versions.get("kimi-cli"), kimi_code=versions.get("kimi-code")
        ),
        custom_headers=settings.identity.custom_headers,
        environ=environ,
    )


@dataclass(frozen=True, slots=True)
class AccountContext:
    paths: Paths
    settings: Settings
    environ: Mapping[str, str]
    store: CredentialStore
    login: StoredLogin | None

    @property
    def region(self) -> Region:
        """The stored login's region unless the user chose one (file, env or flag)."""
        if self.login is not None and self.settings.sources()["region"].kind == "default":
            return self.login.region
        return self.settings.region

    @property
    def endpoints(self) -> Endpoints:
        return endpoints_for(self.settings, self.region)

    def identity(self) -> Identity:
        return identity_for(self.settings, self.environ, self.settings.identity.preset)


def account_context(
    flags: Mapping[str, object] | None = None, *, load_login: bool = True
) -> AccountContext:
    """Settings for this process (its environment plus ``flags``) and the stored login.

    A broken credential file raises ``ConfigError`` unless ``load_login`` is False.
    """
    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ, flags=flags or {})
    store = CredentialStore(paths.credentials_file)
    return AccountContext(paths, settings, environ, store, store.load() if load_login else None)
