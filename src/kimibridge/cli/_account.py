"""What `login`, `logout` and `status` share: resolving settings, endpoints, store and identity.

Kept free of Rich so the commands stay thin; printing lives in each command module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from kimibridge.config import Paths, Settings
from kimibridge.kimi.account import account_region, endpoints_for, identity_for
from kimibridge.kimi.credentials import CredentialStore, StoredLogin
from kimibridge.kimi.endpoints import Endpoints, Region
from kimibridge.kimi.identity import Identity

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


@dataclass(frozen=True, slots=True)
class AccountContext:
    paths: Paths
    settings: Settings
    environ: Mapping[str, str]
    store: CredentialStore
    login: StoredLogin | None

    @property
    def region(self) -> Region:
        return account_region(self.settings, self.login)

    @property
    def endpoints(self) -> Endpoints:
        return endpoints_for(self.settings, self.region)

    def identity(self) -> Identity:
        return identity_for(self.settings, self.environ)


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
