"""Everything about talking to Kimi: endpoints, sign-in, credentials, identity, upstream.

Other layers import from here only. A module exports a name by adding it to the
``TYPE_CHECKING`` imports, ``_WHERE`` and ``__all__`` below (a unit test keeps them in step).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kimibridge.kimi.auth import (
        CodeExpired,
        DeviceCode,
        DeviceFlowEvent,
        LoginDenied,
        LoginSucceeded,
        LoginTimedOut,
        OAuthClient,
        OAuthServerError,
        VerificationCode,
        Waiting,
        device_login,
    )
    from kimibridge.kimi.catalog import (
        KimiModel,
        ModelCatalog,
        ThinkEfforts,
        fetch_catalog,
        load_catalog,
        save_catalog,
    )
    from kimibridge.kimi.credentials import (
        CredentialStore,
        SharedLogin,
        SharingMode,
        StoredLogin,
        detect_shared_logins,
    )
    from kimibridge.kimi.endpoints import (
        CLIENT_ID,
        REGIONS,
        Endpoints,
        Region,
        RegionMismatch,
        check_region,
        parse_region,
        resolve_endpoints,
    )
    from kimibridge.kimi.identity import (
        PRESETS,
        Identity,
        IdentityDescription,
        PlatformFacts,
        PresetName,
        RequestKind,
        build_identity,
    )
    from kimibridge.kimi.kimicli_files import KimiCliPaths, TokenRecord, kimicli_paths
    from kimibridge.kimi.sources import (
        ApiKeyRejected,
        ApiKeyTokenSource,
        LoginExpired,
        OAuthTokenSource,
        load_token_source,
        open_token_source,
    )
    from kimibridge.kimi.tokens import Credential, SignInMethod, TokenSource
    from kimibridge.kimi.upstream import (
        TOOL_TIMEOUTS,
        KimiUpstream,
        Timeouts,
        UpstreamReply,
        UpstreamStream,
    )
    from kimibridge.kimi.versions import Versions, resolve_versions

# Name -> the module that defines it, imported on first use (PEP 562): a CLI command that
# needs one small module (endpoints, credentials, local keys) does not pay for aiohttp.
_WHERE: dict[str, str] = {
    "ApiKeyRejected": "kimibridge.kimi.sources",
    "ApiKeyTokenSource": "kimibridge.kimi.sources",
    "CLIENT_ID": "kimibridge.kimi.endpoints",
    "CodeExpired": "kimibridge.kimi.auth",
    "Credential": "kimibridge.kimi.tokens",
    "CredentialStore": "kimibridge.kimi.credentials",
    "DeviceCode": "kimibridge.kimi.auth",
    "DeviceFlowEvent": "kimibridge.kimi.auth",
    "Endpoints": "kimibridge.kimi.endpoints",
    "Identity": "kimibridge.kimi.identity",
    "IdentityDescription": "kimibridge.kimi.identity",
    "KimiCliPaths": "kimibridge.kimi.kimicli_files",
    "KimiModel": "kimibridge.kimi.catalog",
    "KimiUpstream": "kimibridge.kimi.upstream",
    "LoginDenied": "kimibridge.kimi.auth",
    "LoginExpired": "kimibridge.kimi.sources",
    "LoginSucceeded": "kimibridge.kimi.auth",
    "LoginTimedOut": "kimibridge.kimi.auth",
    "ModelCatalog": "kimibridge.kimi.catalog",
    "OAuthClient": "kimibridge.kimi.auth",
    "OAuthServerError": "kimibridge.kimi.auth",
    "OAuthTokenSource": "kimibridge.kimi.sources",
    "PRESETS": "kimibridge.kimi.identity",
    "PlatformFacts": "kimibridge.kimi.identity",
    "PresetName": "kimibridge.kimi.identity",
    "REGIONS": "kimibridge.kimi.endpoints",
    "Region": "kimibridge.kimi.endpoints",
    "RegionMismatch": "kimibridge.kimi.endpoints",
    "RequestKind": "kimibridge.kimi.identity",
    "SharedLogin": "kimibridge.kimi.credentials",
    "SharingMode": "kimibridge.kimi.credentials",
    "SignInMethod": "kimibridge.kimi.tokens",
    "StoredLogin": "kimibridge.kimi.credentials",
    "TOOL_TIMEOUTS": "kimibridge.kimi.upstream",
    "ThinkEfforts": "kimibridge.kimi.catalog",
    "Timeouts": "kimibridge.kimi.upstream",
    "TokenRecord": "kimibridge.kimi.kimicli_files",
    "TokenSource": "kimibridge.kimi.tokens",
    "UpstreamReply": "kimibridge.kimi.upstream",
    "UpstreamStream": "kimibridge.kimi.upstream",
    "VerificationCode": "kimibridge.kimi.auth",
    "Versions": "kimibridge.kimi.versions",
    "Waiting": "kimibridge.kimi.auth",
    "build_identity": "kimibridge.kimi.identity",
    "check_region": "kimibridge.kimi.endpoints",
    "detect_shared_logins": "kimibridge.kimi.credentials",
    "device_login": "kimibridge.kimi.auth",
    "fetch_catalog": "kimibridge.kimi.catalog",
    "kimicli_paths": "kimibridge.kimi.kimicli_files",
    "load_catalog": "kimibridge.kimi.catalog",
    "load_token_source": "kimibridge.kimi.sources",
    "open_token_source": "kimibridge.kimi.sources",
    "parse_region": "kimibridge.kimi.endpoints",
    "resolve_endpoints": "kimibridge.kimi.endpoints",
    "resolve_versions": "kimibridge.kimi.versions",
    "save_catalog": "kimibridge.kimi.catalog",
}

__all__ = [
    "CLIENT_ID",
    "PRESETS",
    "REGIONS",
    "TOOL_TIMEOUTS",
    "ApiKeyRejected",
    "ApiKeyTokenSource",
    "CodeExpired",
    "Credential",
    "CredentialStore",
    "DeviceCode",
    "DeviceFlowEvent",
    "Endpoints",
    "Identity",
    "IdentityDescription",
    "KimiCliPaths",
    "KimiModel",
    "KimiUpstream",
    "LoginDenied",
    "LoginExpired",
    "LoginSucceeded",
    "LoginTimedOut",
    "ModelCatalog",
    "OAuthClient",
    "OAuthServerError",
    "OAuthTokenSource",
    "PlatformFacts",
    "PresetName",
    "Region",
    "RegionMismatch",
    "RequestKind",
    "SharedLogin",
    "SharingMode",
    "SignInMethod",
    "StoredLogin",
    "ThinkEfforts",
    "Timeouts",
    "TokenRecord",
    "TokenSource",
    "UpstreamReply",
    "UpstreamStream",
    "VerificationCode",
    "Versions",
    "Waiting",
    "build_identity",
    "check_region",
    "detect_shared_logins",
    "device_login",
    "fetch_catalog",
    "kimicli_paths",
    "load_catalog",
    "load_token_source",
    "open_token_source",
    "parse_region",
    "resolve_endpoints",
    "resolve_versions",
    "save_catalog",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
