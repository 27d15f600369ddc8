"""The seam between sign-in (auth, credentials) and the upstream client.

The upstream client only knows a ``TokenSource``: it asks for a credential before each request
and, after a 401, for a refreshed one. Everything about files, locks, rotation and regions stays
behind this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Credential", "SignInMethod", "TokenSource"]

SignInMethod = Literal["api_key", "oauth"]


@dataclass(frozen=True, slots=True)
class Credential:
    """What goes into ``Authorization: Bearer``; ``repr`` never shows the token."""

    token: str
    method: SignInMethod
    region: str  # "mainland" or "global" (see kimi.endpoints)
    expires_at: float | None = None  # epoch seconds; None for API keys

    def __repr__(self) -> str:
        return f"Credential(method={self.method!r}, region={self.region!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


@runtime_checkable
class TokenSource(Protocol):
    async def current(self) -> Credential:
        """A credential fit to send now (refreshed proactively when close to expiry)."""
        ...

    async def after_unauthorized(self, rejected: Credential) -> Credential:
        """A credential to retry with after ``rejected`` got a 401.

        Forces a refresh unless a peer already rotated the token; raises ``NeedsLogin`` when
        the credential cannot be renewed (API keys, invalid_grant, 401/403 on refresh).
        """
        ...
