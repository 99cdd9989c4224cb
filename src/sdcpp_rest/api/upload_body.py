"""A multipart/form-data body read as it streams in (POST /api/models/upload): the file part's bytes
are handed on chunk by chunk and never collected, so a 7 GB upload costs the server a few MiB.

Starlette's own form parser would spool the file to a temporary file first (a second full write of
it, outside the models folder); python_multipart's push parser gives the parts' bytes as they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from sdcpp_rest.errors import InvalidParameters, UnsupportedMediaType

MAX_FIELD_BYTES = 2048  # the form's text fields are a type and a file name


@dataclass(frozen=True)
class FormEvent:
    kind: Literal["field", "file_begin", "file_data", "file_end"]
    name: str = ""
    value: str = ""  # a field's text, or the file part's file name
    data: bytes = b""


class StreamingForm:
    """Feed it the body's chunks; it returns what each chunk completed."""

    def __init__(self, content_type: str) -> None:
        media, options = parse_options_header(content_type)
        if media != b"multipart/form-data":
            raise UnsupportedMediaType("the upload must be multipart/form-data with the model in a file part")
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidParameters("the multipart/form-data content type has no boundary")
        self._events: list[FormEvent] = []
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._file: str | None = None
        self._field = bytearray()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
            },
        )

    def feed(self, chunk: bytes) -> list[FormEvent]:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise InvalidParameters(f"malformed multipart body: {exc}") from None
        events, self._events = self._events, []
        return events

    def finish(self) -> list[FormEvent]:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise InvalidParameters(f"malformed multipart body: {exc}") from None
        events, self._events = self._events, []
        return events

    # --- python_multipart's callbacks ---
    def _part_begin(self) -> None:
        self._disposition, self._name, self._file = b"", "", None
        self._field.clear()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode(errors="replace")
        if b"filename" in options:
            # Only the last component: a client's folder names mean nothing here.
            raw = options[b"filename"].decode(errors="replace").replace("\\", "/")
            self._file = PurePosixPath(raw).name
            self._events.append(FormEvent("file_begin", self._name, self._file))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._events.append(FormEvent("file_data", self._name, data=bytes(data[start:end])))
            return
        self._field += data[start:end]
        if len(self._field) > MAX_FIELD_BYTES:
            raise InvalidParameters(f"form field '{self._name}' is longer than {MAX_FIELD_BYTES} bytes")

    def _part_end(self) -> None:
        if self._file is not None:
            self._events.append(FormEvent("file_end", self._name, self._file))
        else:
            self._events.append(FormEvent("field", self._name, self._field.decode(errors="replace")))
