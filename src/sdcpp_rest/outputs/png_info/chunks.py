"""The text chunks of a PNG (tEXt, zTXt, iTXt) and its size, read from the chunk structure alone: no
pixel is decoded, the size is checked against the caller's pixel limit (a decompression bomb's header
claims a huge one), and each text is bounded, compressed ones as they are inflated."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from sdcpp_rest.errors import InvalidParameters

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A ComfyUI workflow of a few hundred nodes is some hundreds of kB of JSON; a text past this is no
# generation metadata, and inflating it would only cost memory.
MAX_TEXT_BYTES = 4 * 1024 * 1024
# All texts of one PNG together (raw is echoed in the reply).
MAX_TOTAL_TEXT_BYTES = 8 * 1024 * 1024
# A real PNG has tens of chunks, or a few thousand IDAT chunks for a very large image; a file of
# millions of empty chunks is only there to keep the loop busy.
MAX_CHUNKS = 100_000
_CHUNK_HEAD = struct.Struct(">I4s")
_IHDR = struct.Struct(">II")


class PngUnreadable(InvalidParameters):
    """Not a PNG, or a corrupt one."""


class PngTooLarge(InvalidParameters):
    """More pixels, text or chunks than the limits allow."""


@dataclass(frozen=True)
class PngText:
    width: int
    height: int
    texts: dict[str, str] = field(default_factory=dict)  # keyword -> text, in file order


def read_png_text(data: bytes, max_pixels: int, field_name: str = "image", pixels_note: str = "") -> PngText:
    """The size and text chunks of the PNG `data`; PngUnreadable / PngTooLarge naming `field_name`
    (`pixels_note` is added to the message of one over `max_pixels`)."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngUnreadable(f"{field_name}: not a PNG image", field=field_name)
    width = height = 0
    texts: dict[str, str] = {}
    total = 0
    offset = len(PNG_SIGNATURE)
    for index in range(MAX_CHUNKS):
        if offset + _CHUNK_HEAD.size > len(data):
            raise PngUnreadable(f"{field_name}: the PNG ends before its IEND chunk", field=field_name)
        length, kind = _CHUNK_HEAD.unpack_from(data, offset)
        start = offset + _CHUNK_HEAD.size
        end = start + length
        if end + 4 > len(data):
            raise PngUnreadable(f"{field_name}: the PNG's {_name(kind)} chunk is cut short", field=field_name)
        offset = end + 4
        if index == 0:
            if kind != b"IHDR" or length < _IHDR.size:
                raise PngUnreadable(f"{field_name}: the PNG does not start with IHDR", field=field_name)
            _check_crc(data, start, end, kind, field_name)
            width, height = _IHDR.unpack_from(data, start)
            if width * height > max_pixels:
                raise PngTooLarge(
                    f"{field_name}: {width}x{height} has more than {max_pixels} pixels{pixels_note}",
                    field=field_name,
                )
        elif kind == b"IEND":
            return PngText(width, height, texts)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            _check_crc(data, start, end, kind, field_name)
            keyword, text = _text_chunk(kind, data[start:end], field_name)
            total += len(text)
            if total > MAX_TOTAL_TEXT_BYTES:
                raise PngTooLarge(
                    f"{field_name}: the PNG's texts hold more than {MAX_TOTAL_TEXT_BYTES} bytes",
                    field=field_name,
                )
            texts.setdefault(keyword, text)  # the first of a keyword, as Pillow keeps it
    raise PngTooLarge(f"{field_name}: the PNG has more than {MAX_CHUNKS} chunks", field=field_name)


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


def _check_crc(data: bytes, start: int, end: int, kind: bytes, field_name: str) -> None:
    (stored,) = struct.unpack_from(">I", data, end)
    if zlib.crc32(data[start:end], zlib.crc32(kind)) != stored:
        raise PngUnreadable(f"{field_name}: the PNG's {_name(kind)} chunk is corrupt", field=field_name)


def _text_chunk(kind: bytes, body: bytes, field_name: str) -> tuple[str, str]:
    """(keyword, text) of a tEXt (Latin-1), zTXt (Latin-1, deflated) or iTXt (UTF-8, maybe deflated)."""
    keyword_bytes, separator, rest = body.partition(b"\0")
    if not separator or not 1 <= len(keyword_bytes) <= 79:
        raise PngUnreadable(f"{field_name}: a {_name(kind)} chunk has no valid keyword", field=field_name)
    keyword = keyword_bytes.decode("latin-1")
    if kind == b"tEXt":
        return keyword, _bounded(rest, keyword, field_name).decode("latin-1")
    if kind == b"zTXt":
        return keyword, _inflated(rest[1:], keyword, field_name).decode("latin-1")
    # iTXt: compression flag, method, language tag\0, translated keyword\0, text.
    if len(rest) < 2:
        raise PngUnreadable(f"{field_name}: the iTXt chunk '{keyword}' is cut short", field=field_name)
    compressed = rest[0] == 1
    parts = rest[2:].split(b"\0", 2)
    if len(parts) != 3:
        raise PngUnreadable(f"{field_name}: the iTXt chunk '{keyword}' is malformed", field=field_name)
    raw = _inflated(parts[2], keyword, field_name) if compressed else _bounded(parts[2], keyword, field_name)
    try:
        return keyword, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PngUnreadable(f"{field_name}: the text '{keyword}' is not UTF-8", field=field_name) from None


def _bounded(raw: bytes, keyword: str, field_name: str) -> bytes:
    if len(raw) > MAX_TEXT_BYTES:
        raise PngTooLarge(
            f"{field_name}: the text '{keyword}' is longer than {MAX_TEXT_BYTES} bytes", field=field_name
        )
    return raw


def _inflated(compressed: bytes, keyword: str, field_name: str) -> bytes:
    """Deflated text, inflated to at most MAX_TEXT_BYTES (one byte more tells it is too long)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_TEXT_BYTES + 1)
    except zlib.error:
        raise PngUnreadable(f"{field_name}: the text '{keyword}' is corrupt", field=field_name) from None
    return _bounded(raw, keyword, field_name)
