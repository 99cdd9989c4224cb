"""Output files: atomic PNG writes with infotext, safe lookups, thumbnails."""

from __future__ import annotations

import io
import os
import stat
import uuid
from pathlib import Path

import pytest
from PIL import Image

from sdcpp_rest.outputs.files import (
    OUTPUT_FILE_MODE,
    THUMBNAIL_DEFAULT,
    THUMBNAIL_MAX,
    THUMBNAIL_MIN,
    OutputStore,
    is_job_id,
    output_filename,
    write_png_atomically,
)
from sdcpp_rest.outputs.infotext import format_infotext

INFOTEXT = format_infotext("a cat, sitting", "blurry", {"Steps": 4, "Model": "sd: 1.5", "Seed": 42})


def make_image(width: int = 16, height: int = 8, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (width, height), color=(200, 30, 30) if mode == "RGB" else None)


# --- write_png_atomically ---


def test_written_png_carries_infotext_in_parameters_chunk(tmp_path: Path) -> None:
    target = tmp_path / "job" / "image_0.png"

    write_png_atomically(make_image(), target, INFOTEXT)

    with Image.open(target) as written:
        assert written.format == "PNG"
        assert written.size == (16, 8)
        assert written.text["parameters"] == INFOTEXT  # type: ignore[attr-defined]


def test_write_creates_missing_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "image_0.png"

    write_png_atomically(make_image(), target, "p\nSteps: 1")

    assert target.is_file()


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "job" / "image_0.png"

    write_png_atomically(make_image(), target, INFOTEXT)
    write_png_atomically(make_image(), target.with_name("image_1.png"), INFOTEXT)

    assert sorted(p.name for p in target.parent.iterdir()) == ["image_0.png", "image_1.png"]


def test_written_file_is_mode_0644(tmp_path: Path) -> None:
    target = tmp_path / "job" / "image_0.png"
    old_umask = os.umask(0o077)  # even a strict umask must not make outputs unreadable
    try:
        write_png_atomically(make_image(), target, INFOTEXT)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(target.stat().st_mode) == OUTPUT_FILE_MODE == 0o644


def test_rewriting_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "job" / "image_0.png"
    write_png_atomically(make_image(16, 8), target, "first\nSteps: 1")

    write_png_atomically(make_image(4, 4), target, "second\nSteps: 2")

    with Image.open(target) as written:
        assert written.size == (4, 4)
        assert written.text["parameters"] == "second\nSteps: 2"  # type: ignore[attr-defined]


def test_failed_write_leaves_neither_target_nor_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "job" / "image_0.png"
    unsavable_as_png = Image.new("CMYK", (4, 4))

    with pytest.raises(OSError):
        write_png_atomically(unsavable_as_png, target, INFOTEXT)

    assert list(target.parent.iterdir()) == []


# --- names ---


def test_output_filename_is_image_index_png() -> None:
    assert output_filename(0) == "image_0.png"
    assert output_filename(3) == "image_3.png"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(uuid.uuid4()), True),
        (str(uuid.uuid4()).upper(), True),
        (uuid.uuid4().hex, False),
        ("{" + str(uuid.uuid4()) + "}", False),
        ("urn:uuid:" + str(uuid.uuid4()), False),
        ("not-a-uuid", False),
        ("", False),
        ("../" + str(uuid.uuid4()), False),
    ],
    ids=["canonical", "uppercase", "hex-only", "braces", "urn", "garbage", "empty", "traversal"],
)
def test_is_job_id_accepts_only_canonical_uuid_text(value: str, expected: bool) -> None:
    assert is_job_id(value) is expected


# --- OutputStore.find_output ---


@pytest.fixture
def store(tmp_path: Path) -> OutputStore:
    return OutputStore(tmp_path / "outputs")


@pytest.fixture
def job_id(store: OutputStore) -> str:
    value = str(uuid.uuid4())
    write_png_atomically(make_image(), store.job_dir(value) / output_filename(0), INFOTEXT)
    return value


def test_job_dir_is_job_id_under_root(store: OutputStore) -> None:
    assert store.job_dir("abc") == store.root / "abc"


def test_find_output_finds_a_written_image(store: OutputStore, job_id: str) -> None:
    found = store.find_output(job_id, "image_0.png")

    assert found is not None
    assert found == (store.root / job_id / "image_0.png").resolve()
    assert found.is_file()


@pytest.mark.parametrize(
    "bad_job_id", ["not-a-uuid", "..", "", "../outputs", "00000000-0000-0000-0000-00000000000g"]
)
def test_find_output_refuses_malformed_job_id(store: OutputStore, job_id: str, bad_job_id: str) -> None:
    assert store.find_output(bad_job_id, "image_0.png") is None


@pytest.mark.parametrize(
    "bad_filename",
    ["../image_0.png", "sub/image_0.png", "..", ".hidden.png", "", "/etc/passwd", "a\\b.png", "x" * 200],
    ids=["dotdot-prefix", "slash", "dotdot", "leading-dot", "empty", "absolute", "backslash", "too-long"],
)
def test_find_output_refuses_malformed_filename(store: OutputStore, job_id: str, bad_filename: str) -> None:
    assert store.find_output(job_id, bad_filename) is None


def test_find_output_returns_none_for_missing_file(store: OutputStore, job_id: str) -> None:
    assert store.find_output(job_id, "image_9.png") is None


def test_find_output_returns_none_for_unknown_job(store: OutputStore, job_id: str) -> None:
    assert store.find_output(str(uuid.uuid4()), "image_0.png") is None


def test_find_output_returns_none_for_a_directory(store: OutputStore, job_id: str) -> None:
    (store.job_dir(job_id) / "image_1.png").mkdir()

    assert store.find_output(job_id, "image_1.png") is None


def test_find_output_refuses_symlink_leaving_the_output_folder(
    store: OutputStore, job_id: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    write_png_atomically(make_image(), secret, INFOTEXT)
    os.symlink(secret, store.job_dir(job_id) / "image_1.png")

    assert store.find_output(job_id, "image_1.png") is None


def test_find_output_returns_none_for_a_symlink_loop(store: OutputStore, job_id: str) -> None:
    os.symlink("image_1.png", store.job_dir(job_id) / "image_1.png")

    assert store.find_output(job_id, "image_1.png") is None


# --- thumbnails ---


def thumbnail_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


def write_source(tmp_path: Path, width: int, height: int, mode: str = "RGB") -> Path:
    path = tmp_path / f"src_{width}x{height}_{mode}.png"
    Image.new(mode, (width, height)).save(path, format="PNG")
    return path


def test_thumbnail_size_bounds_are_ordered() -> None:
    assert 0 < THUMBNAIL_MIN <= THUMBNAIL_DEFAULT <= THUMBNAIL_MAX


def test_thumbnail_fits_in_the_box_and_keeps_aspect_ratio(tmp_path: Path) -> None:
    source = write_source(tmp_path, 400, 200)

    assert thumbnail_size(OutputStore.thumbnail(source, 100)) == (100, 50)


def test_thumbnail_of_portrait_image_is_bounded_by_height(tmp_path: Path) -> None:
    source = write_source(tmp_path, 300, 600)

    assert thumbnail_size(OutputStore.thumbnail(source, THUMBNAIL_DEFAULT)) == (128, 256)


@pytest.mark.parametrize("size", [THUMBNAIL_MIN, THUMBNAIL_DEFAULT, THUMBNAIL_MAX])
def test_thumbnail_at_each_bound_is_no_larger_than_requested(tmp_path: Path, size: int) -> None:
    source = write_source(tmp_path, 1000, 500)

    width, height = thumbnail_size(OutputStore.thumbnail(source, size))

    assert width == size
    assert height == size // 2


def test_thumbnail_never_upscales_a_small_image(tmp_path: Path) -> None:
    source = write_source(tmp_path, 60, 30)

    assert thumbnail_size(OutputStore.thumbnail(source, THUMBNAIL_MAX)) == (60, 30)


def test_thumbnail_of_image_with_alpha_is_a_jpeg(tmp_path: Path) -> None:
    source = write_source(tmp_path, 120, 120, mode="RGBA")

    assert thumbnail_size(OutputStore.thumbnail(source, THUMBNAIL_MIN)) == (50, 50)
