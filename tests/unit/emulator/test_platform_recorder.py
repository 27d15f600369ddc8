"""Recorder: what tests read, and that secrets never show in repr or redacted views."""

from __future__ import annotations

import json

from kimibridge.emulator.recorder import REDACTED, Recorder

SECRET = "kat_super_secret_value"
REFRESH = "krt_refresh_secret"


def test_json_body_and_case_insensitive_headers() -> None:
    rec = Recorder()
    item = rec.record(
        "POST",
        "/coding/v1/chat/completions",
        [("beta", "true")],
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        b'{"model": "kimi-for-coding"}',
    )
    assert item.headers["authorization"] == f"Bearer {SECRET}"  # raw stays for assertions
    assert item.json() == {"model": "kimi-for-coding"}
    assert item.query == {"beta": "true"}
    assert rec.all() == [item]
    rec.clear()
    assert len(rec) == 0


def test_redaction_of_headers_and_bodies() -> None:
    rec = Recorder()
    form = rec.record(
        "POST",
        "/api/oauth/token",
        [],
        {"Content-Type": "application/x-www-form-urlencoded", "X-Api-Key": SECRET},
        f"client_id=c&grant_type=refresh_token&refresh_token={REFRESH}".encode(),
    )
    body = {"refresh_token": REFRESH, "nested": [{"access_token": SECRET, "keep": 1}]}
    js = rec.record(
        "POST",
        "/x",
        [],
        {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        json.dumps(body).encode(),
    )
    for item in (form, js):
        shown = json.dumps(item.redacted()) + repr(item) + repr(rec)
        assert SECRET not in shown
        assert REFRESH not in shown
    assert form.redacted()["body"]["refresh_token"] == REDACTED
    assert form.redacted()["body"]["grant_type"] == "refresh_token"
    assert js.redacted()["headers"]["Authorization"] == f"Bearer {REDACTED}"
    assert js.redacted()["body"]["nested"][0] == {"access_token": REDACTED, "keep": 1}


def test_binary_body_is_summarised() -> None:
    item = Recorder().record(
        "POST", "/coding/v1/files", [], {"Content-Type": "multipart/form-data; b=x"}, b"\x00" * 10
    )
    assert item.redacted()["body"] == "<10 bytes multipart/form-data>"
