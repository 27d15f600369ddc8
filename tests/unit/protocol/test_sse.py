"""The SSE parser and encoder: line endings, splits anywhere, comments, caps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kimibridge.errors import TranslationError
from kimibridge.protocol import SSEEvent, SSEParser, encode_comment, encode_event, encode_json_event


def parse(pieces: list[bytes], **kwargs: int) -> list[SSEEvent]:
    parser = SSEParser(**kwargs)
    out: list[SSEEvent] = []
    for piece in pieces:
        out += parser.feed(piece)
    return out + parser.close()


def tr(data: bytes, expected: list[SSEEvent]) -> None:
    """h11's three ways: whole, one byte at a time, and with trailing data left buffered."""
    assert parse([data]) == expected
    assert parse([data[i : i + 1] for i in range(len(data))]) == expected
    parser = SSEParser()
    assert parser.feed(data + b"data: trailing") == expected
    assert parser.buffered == len(b"data: trailing")


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    data = eol.join([b"event: message_start", b'data: {"a":1}', b"", b"data: x", b"", b""])
    tr(data, [SSEEvent('{"a":1}', "message_start"), SSEEvent("x")])


def test_comments_multiline_data_and_unknown_fields() -> None:
    data = b": keep-alive\ndata: one\ndata:two\nfoo: bar\ndata\n\n"
    tr(data, [SSEEvent("one\ntwo\n")])


def test_event_name_does_not_leak_into_the_next_event() -> None:
    tr(b"event: ping\ndata: {}\n\ndata: {}\n\n", [SSEEvent("{}", "ping"), SSEEvent("{}")])


def test_id_persists_and_blank_events_are_not_dispatched() -> None:
    tr(b"id: 7\n\nevent: x\n\ndata: a\n\n", [SSEEvent("a", None, "7")])


def test_utf8_split_inside_a_character() -> None:
    data = "data: héllo 世界 🎉\n\n".encode()
    tr(data, [SSEEvent("héllo 世界 🎉")])


def test_bom_is_skipped_once() -> None:
    tr(b"\xef\xbb\xbfdata: a\n\n", [SSEEvent("a")])


def test_close_flushes_an_unterminated_last_event() -> None:
    # Some upstreams end with "data: [DONE]\n" or even no newline at all.
    assert parse([b"data: [DONE]\n"]) == [SSEEvent("[DONE]")]
    assert parse([b"data: [DONE]"]) == [SSEEvent("[DONE]")]
    assert parse([b"data: x\r"]) == [SSEEvent("x")]


def test_crlf_split_between_feeds_is_one_line_ending() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\n") == [SSEEvent("a")]


def test_unterminated_line_is_capped() -> None:
    parser = SSEParser(max_event_size=64)
    parser.feed(b"data: " + b"x" * 50)
    with pytest.raises(TranslationError) as info:
        parser.feed(b"x" * 50)
    assert info.value.status_hint == 502
    with pytest.raises(TranslationError):
        parser.feed(b"\n\n")  # stays in ERROR


def test_event_made_of_many_lines_is_capped() -> None:
    with pytest.raises(TranslationError):
        parse([b"data: " + b"y" * 40 + b"\n"] * 3, max_event_size=100)


def test_json_of_a_bad_event_is_a_translation_error() -> None:
    with pytest.raises(TranslationError):
        SSEEvent("{nope").json()
    assert SSEEvent('{"a": [1]}').json() == {"a": [1]}


def test_encoders_round_trip() -> None:
    wire = (
        encode_json_event({"type": "ping", "t": "é"}, "ping")
        + encode_event("line1\nline2")
        + encode_comment("hi")
        + encode_comment()
    )
    assert parse([wire]) == [SSEEvent('{"type":"ping","t":"é"}', "ping"), SSEEvent("line1\nline2")]


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["message_start", "ping", "content_block_delta"])),
            st.text(alphabet=st.characters(codec="utf-8"), min_size=1),
        ),
        max_size=6,
    ),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    data=st.data(),
)
def test_any_split_of_any_encoded_stream_parses_back(
    events: list[tuple[str | None, str]], eol: str, data: st.DataObject
) -> None:
    wire = b"".join(encode_event(text, name) for name, text in events).replace(b"\n", eol.encode())
    expected = [SSEEvent("\n".join(re.split(r"\r\n|\r|\n", text)), name) for name, text in events]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    assert parse(pieces) == parse([wire]) == expected
