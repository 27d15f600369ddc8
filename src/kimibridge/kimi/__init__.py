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

__all__ = [
    "CLIENT_ID",
    "REGIONS",
    "ApiKeyRejected",
    "ApiKeyTokenSource",
    "CodeExpired",
    "Credential",
    "CredentialStore",
    "DeviceCode",
    "DeviceFlowEvent",
    "Endpoints",
    "KimiCliPaths",
    "LoginDenied",
    "LoginExpired",
    "LoginSucceeded",
    "LoginTimedOut",
    "OAuthClient",
    "OAuthServerError",
    "OAuthTokenSource",
    "Region",
    "RegionMismatch",
    "SharedLogin",
    "SharingMode",
    "SignInMethod",
    "StoredLogin",
    "TokenRecord",
    "TokenSource",
    "VerificationCode",
    "Waiting",
    "check_region",
    "detect_shared_logins",
    "device_login",
    "kimicli_paths",
    "load_token_source",
    "open_token_source",
    "parse_region",
    "resolve_endpoints",
]
