"""From settings to a Kimi account: the endpoints, the identity and the credential to use.

One place for what ``login``/``status`` (cli), ``serve`` (gateway) and ``mcp`` (tools) all need:

    account = open_account(paths, settings, environ)   # NeedsLogin when not signed in
    async with account.upstream() as upstream:
        await upstream.models()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kimibridge.config import Paths, Settings
from kimibridge.errors import NeedsLogin
from kimibridge.kimi.credentials import CredentialStore, StoredLogin
from kimibridge.kimi.endpoints import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_OAUTH_HOST,
    Endpoints,
    Region,
    resolve_endpoints,
)
from kimibridge.kimi.identity import Identity, RequestKind, build_identity
from kimibridge.kimi.tokens import TokenSource

if TYPE_CHECKING:  # the upstream pulls in aiohttp: `login --help` and `status --offline` don't
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["Account", "account_region", "endpoints_for", "identity_for", "open_account"]


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


def identity_for(
    settings: Settings, environ: Mapping[str, str], preset: str | None = None
) -> Identity:
    """The identity headers of ``preset`` (default: the configured one) with pinned versions."""
    from kimibridge.kimi.versions import resolve_versions

    versions = settings.identity.versions
    return build_identity(
        preset or settings.identity.preset,
        versions=resolve_versions(
            environ, kimi_cli=versions.get("kimi-cli"), kimi_code=versions.get("kimi-code")
        ),
        custom_headers=settings.identity.custom_headers,
        environ=environ,
    )


def account_region(settings: Settings, login: StoredLogin | None) -> Region:
    """The stored login's region unless the user chose one (file, env or flag)."""
    if login is not None and settings.sources()["region"].kind == "default":
        return login.region
    return settings.region


@dataclass(frozen=True, slots=True)
class Account:
    """The signed-in account: where Kimi is, who we say we are, and the credential."""

    endpoints: Endpoints
    identity: Identity
    source: TokenSource

    def upstream(self) -> KimiUpstream:
        from kimibridge.kimi.upstream import KimiUpstream

        return KimiUpstream(self.endpoints.api_base, self.source, self.identity)


def open_account(paths: Paths, settings: Settings, environ: Mapping[str, str]) -> Account:
    """``KIMI_API_KEY`` if set, else the stored login; ``NeedsLogin`` when there is neither."""
    from kimibridge.kimi.sources import ApiKeyTokenSource, open_token_source

    identity = identity_for(settings, environ)
    key = environ.get(ENV_API_KEY, "").strip()
    if key:
        endpoints = endpoints_for(settings, settings.region)
        source: TokenSource = ApiKeyTokenSource(
            key, region=endpoints.region, endpoints=endpoints, from_env=True
        )
        return Account(endpoints, identity, source)
    store = CredentialStore(paths.credentials_file)
    login = store.load()
    if login is None:
        raise NeedsLogin("not signed in to Kimi")
    endpoints = endpoints_for(settings, account_region(settings, login))
    source = open_token_source(
        login, store, endpoints, headers=identity.headers(RequestKind.ACCOUNT)
    )
    return Account(endpoints, identity, source)
