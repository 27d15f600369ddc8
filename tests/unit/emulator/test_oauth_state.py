"""OAuthState: the device flow and refresh rotation as pure state, driven by a fake clock."""

from __future__ import annotations

import pytest

from kimibridge.emulator.app import EmulatorConfig
from kimibridge.emulator.oauth import OAuthError, OAuthState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(**overrides: object) -> tuple[OAuthState, FakeClock]:
    clock = FakeClock()
    return OAuthState(EmulatorConfig(**overrides), clock), clock  # type: ignore[arg-type]


def poll_error(state: OAuthState, device_code: str) -> str:
    with pytest.raises(OAuthError) as info:
        state.poll(device_code)
    assert info.value.status == 400
    return info.value.error


def test_pending_then_tokens_after_n_polls() -> None:
    state, clock = make(approve_after_polls=2, poll_interval=5)
    device = state.new_device_code()
    assert poll_error(state, device.device_code) == "authorization_pending"
    clock.advance(5)
    assert poll_error(state, device.device_code) == "authorization_pending"
    clock.advance(5)
    pair = state.poll(device.device_code)
    assert pair.access_token and pair.refresh_token and pair.expires_in == 900
    assert state.check_access(pair.access_token) == "ok"
    # A device code is good for one login only.
    clock.advance(5)
    assert poll_error(state, device.device_code) == "invalid_grant"


def test_slow_down_when_polled_faster_than_interval() -> None:
    state, clock = make(approve_after_polls=None, poll_interval=5)
    device = state.new_device_code()
    assert poll_error(state, device.device_code) == "authorization_pending"
    clock.advance(1)
    assert poll_error(state, device.device_code) == "slow_down"
    clock.advance(5)
    assert poll_error(state, device.device_code) == "authorization_pending"
    assert state.stats.slow_downs == 1
    # slow_down polls do not count towards approve-after-N.
    assert device.polls == 2


def test_expired_device_code() -> None:
    state, clock = make(device_code_ttl=30)
    device = state.new_device_code()
    clock.advance(30)
    assert poll_error(state, device.device_code) == "expired_token"


def test_denied_and_manual_approval() -> None:
    state, clock = make(approve_after_polls=None)
    first, second = state.new_device_code(), state.new_device_code()
    assert state.deny(first.user_code.lower()) == [first.user_code]
    assert poll_error(state, first.device_code) == "access_denied"
    assert poll_error(state, second.device_code) == "authorization_pending"
    assert state.approve() == [second.user_code]  # all pending
    clock.advance(5)
    assert state.poll(second.device_code).access_token


def test_unknown_device_code() -> None:
    state, _ = make()
    assert poll_error(state, "nope") == "invalid_grant"


def test_refresh_rotates_and_reuse_is_counted() -> None:
    state, _ = make()
    first = state.issue()
    second = state.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    with pytest.raises(OAuthError) as info:
        state.refresh(first.refresh_token)
    assert info.value.error == "invalid_grant"
    assert state.stats.refresh_reuse_count == 1
    assert state.stats.refresh_count == 1
    third = state.refresh(second.refresh_token)
    assert state.check_access(third.access_token) == "ok"
    with pytest.raises(OAuthError):
        state.refresh("krt_unknown")
    assert state.stats.refresh_reuse_count == 1  # unknown tokens are not "reuse"
    assert state.stats.refresh_unknown_count == 1


def test_access_token_expiry_follows_ttl_at_issue_time() -> None:
    state, clock = make(token_ttl=60)
    pair = state.issue()
    short = state.issue(ttl=10)
    assert short.expires_in == 10
    clock.advance(10)
    assert state.check_access(short.access_token) == "expired"
    assert state.check_access(pair.access_token) == "ok"
    clock.advance(50)
    assert state.check_access(pair.access_token) == "expired"
    assert state.check_access("kat_unknown") == "unknown"


def test_expire_all_and_refresh_token_ttl() -> None:
    state, clock = make(refresh_token_ttl=100)
    pair = state.issue()
    state.expire_all()
    assert state.check_access(pair.access_token) == "expired"
    clock.advance(100)
    with pytest.raises(OAuthError) as info:
        state.refresh(pair.refresh_token)
    assert info.value.error == "invalid_grant"
    assert state.stats.refresh_reuse_count == 0


def test_token_wire_shape() -> None:
    state, _ = make(token_ttl=900)
    wire = state.issue().to_wire()
    assert set(wire) == {"access_token", "refresh_token", "expires_in", "scope", "token_type"}
    assert wire["expires_in"] == 900 and isinstance(wire["expires_in"], int)
    assert wire["token_type"] == "Bearer"
