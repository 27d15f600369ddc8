"""Gatekeeper: which credentials and User-Agents pass; FaultQueue matching."""

from __future__ import annotations

from kimibridge.emulator.app import EmulatorConfig
from kimibridge.emulator.auth import DEFAULT_USER_AGENT_PREFIXES, Gatekeeper, credential_from
from kimibridge.emulator.faults import Fault, FaultKind
from kimibridge.emulator.oauth import OAuthState
from kimibridge.emulator.platform import FaultQueue


def gate(**overrides: object) -> Gatekeeper:
    config = EmulatorConfig(**overrides)  # type: ignore[arg-type]
    return Gatekeeper(config, OAuthState(config))


def test_registered_keys_only_by_default() -> None:
    g = gate(static_keys=("sk-kimi-known",))
    assert g.decide("sk-kimi-known", "KimiCLI/1.52.0", True).status == 200
    unknown = g.decide("sk-kimi-other", "KimiCLI/1.52.0", True)
    assert (unknown.status, unknown.reason) == (401, "unknown_token")
    g.add_key("sk-kimi-other")
    assert g.decide("sk-kimi-other", "KimiCLI/1.52.0", True).auth == "api_key"


def test_accept_any_sk_kimi_key_flag() -> None:
    g = gate(accept_any_static_key=True)
    assert g.decide("sk-kimi-anything", "claude-cli/2.1.330", True).status == 200
    assert g.decide("sk-other", "claude-cli/2.1.330", True).status == 401


def test_oauth_tokens_and_expiry() -> None:
    g = gate()
    pair = g.oauth.issue()
    assert g.decide(pair.access_token, "opencode/1.18.33", True).auth == "oauth"
    g.oauth.expire_all()
    expired = g.decide(pair.access_token, "opencode/1.18.33", True)
    assert (expired.status, expired.reason) == (401, "expired_token")
    missing = g.decide(None, "opencode/1.18.33", True)
    assert (missing.status, missing.reason) == (401, "missing_credential")


def test_user_agent_gate_after_credential() -> None:
    g = gate(static_keys=("k",))
    refused = g.decide("k", "OpenAI/Python 2.14.0", True)
    assert (refused.status, refused.reason, refused.auth) == (403, "user_agent", "api_key")
    assert g.decide("k", "OpenAI/Python 2.14.0", False).status == 200  # exempt path
    assert g.decide("bad", "OpenAI/Python 2.14.0", True).status == 401  # 401 wins
    for prefix in DEFAULT_USER_AGENT_PREFIXES:
        assert g.decide("k", prefix + "1.0", True).status == 200
    g.set_user_agent_prefixes(["mine/"])
    assert g.decide("k", "KimiCLI/1.52.0", True).status == 403


def test_custom_allowlist_from_config() -> None:
    g = gate(static_keys=("k",), user_agent_allowlist=("agent/",))
    assert g.decide("k", "agent/1", True).status == 200
    assert g.decide("k", "KimiCLI/1", True).status == 403


def test_credential_from_headers() -> None:
    assert credential_from("Bearer abc", None) == "abc"
    assert credential_from("bearer  abc ", None) == "abc"
    assert credential_from("Basic abc", "key") is None
    assert credential_from(None, "key") == "key"
    assert credential_from(None, None) is None


def test_fault_queue_matching() -> None:
    q = FaultQueue()
    q.push(Fault(FaultKind.SERVER_ERROR, route="/search"))
    q.push(Fault(FaultKind.RATE_LIMIT))
    # No route: model routes only.
    assert q.take("/coding/v1/models") is None
    taken = q.take("/coding/v1/messages")
    assert taken is not None and taken.kind is FaultKind.RATE_LIMIT
    assert q.take("/coding/v1/chat/completions") is None
    search = q.take("/coding/v1/search")
    assert search is not None and search.kind is FaultKind.SERVER_ERROR
    assert q.pending() == []
    # "/messages" targets the messages route, not count_tokens.
    q.push(Fault(FaultKind.QUOTA, route="/messages"))
    assert q.take("/coding/v1/messages/count_tokens") is None
    assert q.take("/coding/v1/messages") is not None
