"""Server-sent events: an incremental parser and an encoder, no I/O.

The parser follows the WHATWG event-stream rules: lines end in ``\\n``, ``\\r\\n`` or ``\\r``;
``:`` starts a comment; ``data`` lines of one event are joined with ``\\n``; a blank line
dispatches. Bytes may be split anywhere (inside a line, a UTF-8 sequence or a ``\\r\\n`` pair).

One deliberate leniency: at :meth:`SSEParser.close`, a last event that lacks its blank line is
still dispatched, because some upstreams end with ``data: [DONE]\\n`` and nothing after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kimibridge.errors import TranslationError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "SSEEvent",
    "SSEParser",
    "encode_comment",
    "encode_event",
    "encode_json_event",
]

# A line or event larger than this without a terminator is a broken or hostile upstream, not a
# slow one: Kimi's largest real events (a tool-argument fragment, an error body) are a few KiB.
DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024

_BOM = "\ufeff"
_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``event`` is ``None`` when the stream gave no ``event:`` line."""

    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> Any:
        """The data parsed as JSON; a malformed body is an upstream protocol error (502)."""
        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise TranslationError(
                f"upstream sent an SSE event whose data is not JSON: {self.data[:80]!r}",
                status_hint=502,
            ) from exc


class SSEParser:
    """Incremental event-stream parser: ``feed(bytes) -> list[SSEEvent]``, then ``close()``.

    After a :class:`TranslationError` (an over-long line or event) the parser is in ``ERROR``
    and every later call raises again: half a stream cannot be resynchronised safely.
    """

    __slots__ = ("_buf", "_data", "_error", "_event", "_id", "_max", "_started")

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._max = max_event_size
        self._buf = bytearray()
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._started = False  # a leading BOM is skipped once
        self._error: TranslationError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back because their line is not terminated yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[SSEEvent]:
        if self._error is not None:
            raise self._error
        out: list[SSEEvent] = []
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        if b"\r" in data:
            buf += data
            self._feed_any_line_ends(buf, out)
        else:
            # The common case (Kimi ends lines with \n only): decode every complete line at once.
            # A \n byte never occurs inside a UTF-8 sequence, so this decodes exactly as line by
            # line would.
            last = data.rfind(b"\n")
            if last >= 0:
                for line in data[:last].decode("utf-8", errors="replace").split("\n"):
                    self._text_line(line, out)
            buf += data[last + 1 :]
        if len(buf) > self._max:
            self._fail(f"upstream SSE line longer than {self._max} bytes without a terminator")
        return out

    def _feed_any_line_ends(self, buf: bytearray, out: list[SSEEvent]) -> None:
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, nl if nl >= 0 else n)
            if cr >= 0:
                if cr == n - 1:
                    break  # a lone \r at the end may be the first half of \r\n
                end, nxt = cr, cr + 2 if buf[cr + 1] == 0x0A else cr + 1
            elif nl >= 0:
                end, nxt = nl, nl + 1
            else:
                break
            self._line(bytes(buf[start:end]), out)
            start = nxt
        if start:
            del buf[:start]

    def close(self) -> list[SSEEvent]:
        """End of input: flush a final unterminated line and dispatch a pending event."""
        if self._error is not None:
            raise self._error
        out: list[SSEEvent] = []
        if self._buf:
            line = bytes(self._buf.rstrip(b"\r"))
            self._buf.clear()
            self._line(line, out)
        self._dispatch(out)
        return out

    def _fail(self, message: str) -> None:
        self._error = TranslationError(message, status_hint=502)
        raise self._error

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        self._text_line(raw.decode("utf-8", errors="replace"), out)

    def _text_line(self, line: str, out: list[SSEEvent]) -> None:
        if not self._started:
            self._started = True
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            self._dispatch(out)
            return
        if line[0] == ":":
            return  # comment / keep-alive
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            if sum(map(len, self._data)) > self._max:
                self._fail(f"upstream SSE event larger than {self._max} bytes")
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry":
            # Retry hints are a browser reconnection concern; parsed only so they do not leak into data.
            pass
        # Any other field name is ignored, as the spec requires.

    def _dispatch(self, out: list[SSEEvent]) -> None:
        if self._data:
            out.append(SSEEvent("\n".join(self._data), self._event, self._id))
        self._data = []
        self._event = None


def encode_event(data: str, event: str | None = None) -> bytes:
    """One event in wire form; multi-line data becomes several ``data:`` lines."""
    head = f"event: {event}\n" if event is not None else ""
    if "\n" in data or "\r" in data:
        # Only SSE's own line ends split (str.splitlines would also split on U+2028 etc.).
        body = "".join(f"data: {line}\n" for line in _EOL.split(data))
    else:
        body = f"data: {data}\n"
    return f"{head}{body}\n".encode()


def encode_json_event(obj: Any, event: str | None = None) -> bytes:
    """``obj`` as compact JSON in one ``data:`` line (JSON never contains a raw newline)."""
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {data}\n\n".encode()


def encode_comment(text: str = "") -> bytes:
    """A comment line: a keep-alive every client ignores."""
    return f": {text}\n\n".encode() if text else b":\n\n"
