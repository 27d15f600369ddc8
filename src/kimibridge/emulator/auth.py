"""Who may call ``/coding/v1/*``: a live bearer (OAuth access token or API key) from a known agent.

Kimi answers 401 ``invalid_authentication_error`` for a missing, unknown or expired credential
and 403 ``access_terminated_error`` for clients it does not take for a coding agent
(reference/kimi-cli-wire.md §5, §9). Kimi gates on a ``User-Agent`` prefix (kimi-plugins.md §5,
MoonshotAI/kimi-code#2185); which prefixes it admits today is unverified, so the list is data.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kimibridge.emulator.app import EmulatorConfig
from kimibridge.emulator.oauth import OAuthState

__all__ = [
    "DEFAULT_USER_AGENT_PREFIXES",
    "STATIC_KEY_PREFIX",
    "AuthDecision",
    "Gatekeeper",
    "credential_from",
]

STATIC_KEY_PREFIX = "sk-kimi-"

# Each prefix and where it comes from (docs/emulator.md repeats this list).
DEFAULT_USER_AGENT_PREFIXES: tuple[str, ...] = (
    "KimiCLI/",  # legacy kimi-cli (kimi-cli-wire §3)
    "kimi-code-cli/",  # new Kimi Code CLI (kimi-cli-wire §3)
    "kimi-datasource/",  # Kimi Code's datasource plugin on /tools (kimi-cli-wire §3)
    "claude-cli/",  # Claude Code's real UA (real-clients.md §1)
    "claude-code/",  # UA users report passing (kimi-plugins §6)
    "opencode/",  # opencode (real-clients.md)
    "pi/",  # pi, whitelisted on request (MoonshotAI/kimi-code#2185)
    "RooCode/",  # named in Kimi's 403 message; exact UA unverified
    "Kilo-Code/",  # named in Kimi's 403 message; exact UA unverified
    "kimibridge/",  # kimibridge's honest identity preset
)


@dataclass(frozen=True, slots=True)
class AuthDecision:
    """``reason`` is None when the request may pass; else why it was refused."""

    status: int  # 200 when admitted, else 401 or 403
    reason: str | None  # missing_credential | unknown_token | expired_token | user_agent
    auth: str | None  # "oauth" | "api_key" when a credential was accepted


class Gatekeeper:
    def __init__(self, config: EmulatorConfig, oauth: OAuthState) -> None:
        self.config = config
        self.oauth = oauth
        self._lock = threading.Lock()
        self._keys: set[str] = set(config.static_keys)
        prefixes = config.user_agent_allowlist
        self.user_agent_prefixes: tuple[str, ...] = (
            DEFAULT_USER_AGENT_PREFIXES if prefixes is None else tuple(prefixes)
        )
        self.accept_any_static_key = config.accept_any_static_key

    def add_key(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def remove_key(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._keys)

    def set_user_agent_prefixes(self, prefixes: Iterable[str]) -> None:
        self.user_agent_prefixes = tuple(prefixes)

    def user_agent_admitted(self, user_agent: str) -> bool:
        return any(user_agent.startswith(p) for p in self.user_agent_prefixes)

    def credential_status(self, credential: str | None) -> AuthDecision:
        if not credential:
            return AuthDecision(401, "missing_credential", None)
        with self._lock:
            registered = credential in self._keys
        if registered or (self.accept_any_static_key and credential.startswith(STATIC_KEY_PREFIX)):
            return AuthDecision(200, None, "api_key")
        status = self.oauth.check_access(credential)
        if status == "ok":
            return AuthDecision(200, None, "oauth")
        return AuthDecision(401, f"{status}_token", None)

    def decide(
        self, credential: str | None, user_agent: str, gate_user_agent: bool
    ) -> AuthDecision:
        """Credential first (401), then the agent gate (403), as a token check precedes policy."""
        decision = self.credential_status(credential)
        if decision.reason is not None:
            return decision
        if gate_user_agent and not self.user_agent_admitted(user_agent):
            return AuthDecision(403, "user_agent", decision.auth)
        return decision


def credential_from(authorization: str | None, api_key: str | None) -> str | None:
    """The bearer token, else the ``x-api-key`` value (Claude Code sends keys there)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return api_key.strip() if api_key else None
