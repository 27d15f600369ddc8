"""Everything about talking to Kimi: endpoints, sign-in, credentials, identity, upstream.

Other layers import from here only. Each module appends its names below.
"""

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
