"""Read model file headers without loading weights: safetensors, GGUF, PyTorch pickles (.ckpt/.pt).

Every reader returns a `FileHeader` or raises `HeaderError` with a message fit for the listing's
`error` field; none reads more than the header (bounded by the caps below), so a 7 GB file costs a few
kilobytes of I/O.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

# A real safetensors header is a few hundred KB at most (SDXL with 2,500 tensors: ~250 KB); a bigger
# length field means a damaged or hostile file, and reading it would cost memory for nothing.
MAX_SAFETENSORS_HEADER_BYTES = 64 * 1024 * 1024
# GGUF metadata holds tokenizer vocabularies (arrays of ~150k strings); cap counts so a corrupt length
# field cannot make us loop for ever or allocate gigabytes.
MAX_GGUF_ITEMS = 10_000_000
MAX_GGUF_STRING_BYTES = 16 * 1024 * 1024

GGML_TYPES: dict[int, str] = {
    0: "f32",
    1: "f16",
    2: "q4_0",
    3: "q4_1",
    6: "q5_0",
    7: "q5_1",
    8: "q8_0",
    9: "q8_1",
    10: "q2_k",
    11: "q3_k",
    12: "q4_k",
    13: "q5_k",
    14: "q6_k",
    15: "q8_k",
    16: "iq2_xxs",
    17: "iq2_xs",
    18: "iq3_xxs",
    19: "iq1_s",
    20: "iq4_nl",
    21: "iq3_s",
    22: "iq2_s",
    23: "iq4_xs",
    24: "i8",
    25: "i16",
    26: "i32",
    27: "i64",
    28: "f64",
    29: "iq1_m",
    30: "bf16",
    34: "tq1_0",
    35: "tq2_0",
}


class HeaderError(Exception):
    """The file is damaged, truncated or not in the format its extension claims."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # lower-case: f16, f32, bf16, q8_0, ...
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class FileHeader:
    format: str  # safetensors, gguf, ckpt
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def read_header(path: Path, suffix: str | None = None) -> FileHeader:
    """The header of `path`, by its extension (or `suffix`, for a temporary file that will carry it);
    HeaderError when it cannot be read as such."""
    suffix = (suffix or path.suffix).lower()
    try:
        with path.open("rb") as handle:
            if suffix == ".safetensors":
                return _read_safetensors(handle)
            if suffix == ".gguf":
                return _read_gguf(handle)
            return _read_pickle(handle)
    except OSError as exc:
        raise HeaderError(f"cannot read file: {exc.strerror or exc}") from None


def _read_exact(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise HeaderError("file is truncated (header ends early)")
    return data


# --- safetensors: u64 little-endian header length, then that many bytes of JSON ---


def _read_safetensors(handle: BinaryIO) -> FileHeader:
    (length,) = struct.unpack("<Q", _read_exact(handle, 8))
    if length == 0 or length > MAX_SAFETENSORS_HEADER_BYTES:
        raise HeaderError(f"not a safetensors file (header length {length})")
    try:
        header = json.loads(_read_exact(handle, length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(f"safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise HeaderError("safetensors header is not a JSON object")
    metadata_raw = header.pop("__metadata__", None) or {}
    metadata = {str(k): str(v) for k, v in metadata_raw.items()} if isinstance(metadata_raw, dict) else {}
    tensors: dict[str, TensorInfo] = {}
    data_end = 0
    for name, info in header.items():
        if not isinstance(info, dict) or "dtype" not in info or "shape" not in info:
            raise HeaderError(f"safetensors entry '{name}' has no dtype/shape")
        try:
            tensors[name] = TensorInfo(str(info["dtype"]).lower(), tuple(int(d) for d in info["shape"]))
            data_end = max(data_end, int(info.get("data_offsets", [0, 0])[1]))
        except (TypeError, ValueError, IndexError):
            raise HeaderError(f"safetensors entry '{name}' is malformed") from None
    # The data must be all there: a download cut short still has an intact header.
    handle.seek(0, 2)
    if handle.tell() < 8 + length + data_end:
        raise HeaderError(
            f"file is truncated: {handle.tell()} bytes, the header needs {8 + length + data_end}"
        )
    return FileHeader("safetensors", tensors, metadata)


# --- GGUF: magic, version, tensor count, metadata key/values, tensor infos ---

_GGUF_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


class _GgufReader:
    def __init__(self, handle: BinaryIO, version: int) -> None:
        self._handle = handle
        # Version 1 used 32-bit counts and lengths; 2 and 3 use 64-bit ones.
        self._count_format = "<I" if version == 1 else "<Q"

    def unpack(self, fmt: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, _read_exact(self._handle, struct.calcsize(fmt)))[0]
        return value

    def count(self) -> int:
        value = int(self.unpack(self._count_format))
        if value > MAX_GGUF_ITEMS:
            raise HeaderError(f"GGUF count {value} is implausible: damaged file")
        return value

    def string(self) -> str:
        length = int(self.unpack(self._count_format))
        if length > MAX_GGUF_STRING_BYTES:
            raise HeaderError(f"GGUF string length {length} is implausible: damaged file")
        return _read_exact(self._handle, length).decode("utf-8", errors="replace")

    def value(self, kind: int) -> object:
        if kind in _GGUF_SCALARS:
            return self.unpack(_GGUF_SCALARS[kind])
        if kind == _GGUF_STRING:
            return self.string()
        if kind == _GGUF_ARRAY:
            item_kind = int(self.unpack("<I"))
            items = [self.value(item_kind) for _ in range(self.count())]
            return f"[{len(items)} items]"  # vocabularies: keep the count, not the content
        raise HeaderError(f"unknown GGUF value type {kind}")


def _read_gguf(handle: BinaryIO) -> FileHeader:
    if _read_exact(handle, 4) != b"GGUF":
        raise HeaderError("not a GGUF file (bad magic)")
    (version,) = struct.unpack("<I", _read_exact(handle, 4))
    if version not in (1, 2, 3):
        raise HeaderError(f"unsupported GGUF version {version}")
    reader = _GgufReader(handle, version)
    tensor_count = reader.count()
    kv_count = reader.count()
    metadata: dict[str, str] = {"gguf.version": str(version)}
    for _ in range(kv_count):
        key = reader.string()
        value = reader.value(int(reader.unpack("<I")))
        metadata[key] = str(value)[:200]
    tensors: dict[str, TensorInfo] = {}
    for _ in range(tensor_count):
        name = reader.string()
        n_dims = int(reader.unpack("<I"))
        if n_dims > 8:
            raise HeaderError(f"GGUF tensor '{name}' has {n_dims} dimensions: damaged file")
        dims = [int(reader.unpack(reader._count_format)) for _ in range(n_dims)]
        kind = int(reader.unpack("<I"))
        reader.unpack("<Q")  # data offset
        # GGUF lists dimensions innermost first; reverse them to the PyTorch order detection expects.
        tensors[name] = TensorInfo(GGML_TYPES.get(kind, f"type{kind}"), tuple(reversed(dims)))
    return FileHeader("gguf", tensors, metadata)


# --- PyTorch: a zip archive (torch >= 1.6) or a bare pickle; reading tensor names means unpickling ---


def _check_torch_archive(handle: BinaryIO) -> None:
    """A PyTorch zip holds `<dir>/data.pkl` (the pickle) and its tensors' storages as `<dir>/data/<n>`;
    any other zip (a page, a program) is no checkpoint. Only the central directory is read."""
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise HeaderError(f"not a readable zip archive: {exc}") from None
    folders = {name[: -len("/data.pkl")] for name in names if name.endswith("/data.pkl")}
    if not folders:
        raise HeaderError("zip archive holds no <dir>/data.pkl: not a PyTorch checkpoint")
    if not any(name.startswith(f"{folder}/data/") for folder in folders for name in names):
        raise HeaderError("zip archive holds no tensor storages (<dir>/data/...): not a PyTorch checkpoint")


def _read_pickle(handle: BinaryIO) -> FileHeader:
    start = handle.read(4)
    if start.startswith(b"PK\x03\x04"):
        # The zip's central directory sits at the end: a truncated archive has lost it.
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65_536 - 22))
        if b"PK\x05\x06" not in handle.read():
            raise HeaderError("zip archive is truncated (no end of central directory)")
        handle.seek(0)
        _check_torch_archive(handle)
        return FileHeader("ckpt")
    if len(start) >= 2 and start[0] == 0x80 and 2 <= start[1] <= 5:
        return FileHeader("ckpt")
    raise HeaderError("not a PyTorch checkpoint (neither a zip archive nor a pickle)")
