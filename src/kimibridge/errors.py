"""The one error tree of kimibridge.

    KimibridgeError
    ├── ConfigError                 bad config file, flag or environment value
    ├── AuthError                   anything about who we are upstream
    │   ├── NeedsLogin              no usable credential: the message says what to run
    │   ├── TokenExpired            the access token is expired and could not be refreshed
    │   └── AccessTerminated        403 access_terminated_error: identity not admitted or account suspended
    ├── UpstreamError               Kimi (or the emulator) did not answer as hoped
    │   ├── UpstreamTimeout
    │   ├── UpstreamConnectError
    │   └── UpstreamStatusError     carries .status, .error_type and .request_id
    │       ├── RateLimited         429 that will pass
    │       └── QuotaExceeded       429 exceeded_current_quota_error: do not retry
    ├── TranslationError            a request or stream one dialect cannot express in the other
    └── TeamError                   orchestrator failures (tmux, store, agents)

Every message is one line a user can act on. No message ever contains a token.
"""

from __future__ import annotations

__all__ = [
    "AccessTerminated",
    "AuthError",
    "ConfigError",
    "KimibridgeError",
    "NeedsLogin",
    "QuotaExceeded",
    "RateLimited",
    "TeamError",
    "TokenExpired",
    "TranslationError",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
]


class KimibridgeError(Exception):
    """Base class: its message is shown to the user as one line."""


class ConfigError(KimibridgeError):
    pass


class AuthError(KimibridgeError):
    pass


class NeedsLogin(AuthError):
    def __init__(self, reason: str = "not signed in") -> None:
        super().__init__(f"{reason}; run `kimibridge login` to sign in")


class TokenExpired(AuthError):
    pass


class UpstreamError(KimibridgeError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamStatusError(UpstreamError):
    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.request_id = request_id


class AccessTerminated(AuthError, UpstreamStatusError):
    """403 ``access_terminated_error``: never retried."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        UpstreamStatusError.__init__(
            self,
            message,
            status=403,
            error_type="access_terminated_error",
            request_id=request_id,
        )


class RateLimited(UpstreamStatusError):
    pass


class QuotaExceeded(UpstreamStatusError):
    pass


class TranslationError(KimibridgeError):
    """A request or stream that cannot be translated; ``status_hint`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class TeamError(KimibridgeError):
    pass
