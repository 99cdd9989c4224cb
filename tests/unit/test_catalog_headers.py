"""Header readers: safetensors, GGUF and PyTorch files, intact and damaged, read without the weights."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sdcpp_rest.catalog.detect import weight_type
from sdcpp_rest.catalog.headers import HeaderError, read_header
from tests.fixtures.synthetic_models import write_gguf, write_safetensors


def test_safetensors_header_gives_names_shapes_dtypes_and_metadata(tmp_path: Path) -> None:
    path = write_safetensors(
        tmp_path / "m.safetensors", {"a.weight": [2, 3], "b.bias": [3]}, np.float32, {"modelspec.title": "T"}
    )
    header = read_header(path)
    assert header.format == "safetensors"
    assert header.tensors["a.weight"].shape == (2, 3) and header.tensors["a.weight"].dtype == "f32"
    assert header.metadata == {"modelspec.title": "T"}
    assert weight_type(header.tensors) == "f32"


def test_weight_type_is_the_dtype_holding_most_parameters(tmp_path: Path) -> None:
    path = tmp_path / "mixed.safetensors"
    from safetensors.numpy import save_file

    save_file({"big": np.zeros((64, 64), np.float16), "norm": np.zeros((8,), np.float32)}, str(path))
    assert weight_type(read_header(path).tensors) == "f16"


def test_gguf_header_reads_quantized_types_and_reverses_dimensions(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", {"w": ([320, 768], 8), "n": ([320], 0)}, name="my model")
    header = read_header(path)
    assert header.format == "gguf"
    assert header.tensors["w"].dtype == "q8_0" and header.tensors["w"].shape == (320, 768)
    assert header.metadata["general.name"] == "my model"
    assert header.metadata["tokenizer.tokens"] == "[3 items]"
    assert weight_type(header.tensors) == "q8_0"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "truncated"),
        (b"\x01\x02\x03", "truncated"),
        (struct.pack("<Q", 2**62) + b"{}", "header length"),
        (struct.pack("<Q", 10) + b"{not json}", "not valid JSON"),
        (struct.pack("<Q", 4) + b"[12]", "not a JSON object"),
    ],
)
def test_damaged_safetensors_raise_header_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(HeaderError, match=message):
        read_header(path)


def test_truncated_safetensors_data_is_noticed(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "cut.safetensors", {"w": [64, 64]})
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(HeaderError, match="truncated"):
        read_header(path)


def test_safetensors_entry_without_shape_is_refused(tmp_path: Path) -> None:
    body = json.dumps({"w": {"dtype": "F16"}}).encode()
    path = tmp_path / "noshape.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    with pytest.raises(HeaderError, match="no dtype/shape"):
        read_header(path)


def test_damaged_gguf_raises_header_error(tmp_path: Path) -> None:
    bad_magic = tmp_path / "magic.gguf"
    bad_magic.write_bytes(b"GGML" + bytes(20))
    with pytest.raises(HeaderError, match="magic"):
        read_header(bad_magic)
    good = write_gguf(tmp_path / "good.gguf", {"w": ([4, 4], 1)})
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(HeaderError, match="truncated"):
        read_header(cut)
    huge = tmp_path / "huge.gguf"
    huge.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 0))
    with pytest.raises(HeaderError, match="implausible"):
        read_header(huge)


def test_pytorch_files_zip_pickle_and_garbage(tmp_path: Path) -> None:
    archive = tmp_path / "model.ckpt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/data/0", b"\x00" * 16)
    assert read_header(archive).format == "ckpt"
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(b"\x80\x02}q\x00.")
    assert read_header(legacy).format == "ckpt"
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(archive.read_bytes()[:30])
    with pytest.raises(HeaderError, match="truncated"):
        read_header(cut)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"hello world")
    with pytest.raises(HeaderError, match="neither"):
        read_header(garbage)


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ({"index.html": b"<html>not a model</html>"}, "data.pkl"),
        ({"archive/data.pkl": b"\x80\x02}q\x00."}, "tensor storages"),
        ({"archive/data/0": b"\x00" * 16}, "data.pkl"),
    ],
)
def test_a_zip_without_a_pickle_and_its_tensors_is_no_checkpoint(
    tmp_path: Path, entries: dict[str, bytes], reason: str
) -> None:
    archive = tmp_path / "page.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(HeaderError, match=reason):
        read_header(archive)
