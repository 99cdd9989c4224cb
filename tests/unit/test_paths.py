"""resolve_inside: request paths stay inside their configured folder, symlinks included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcpp_rest.paths import (
    MAX_PATH_COMPONENT_BYTES,
    MAX_RELATIVE_PATH_LENGTH,
    PathOutsideRoot,
    resolve_in_model_folder,
    resolve_inside,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    (folder / "checkpoints" / "sd15").mkdir(parents=True)
    (folder / "checkpoints" / "sd15" / "model.safetensors").write_bytes(b"x")
    return folder


def test_accepts_nested_relative_path_to_existing_file(root: Path) -> None:
    resolved = resolve_inside(root, "checkpoints/sd15/model.safetensors")

    assert resolved == (root / "checkpoints" / "sd15" / "model.safetensors").resolve()
    assert resolved.is_file()


def test_accepts_path_that_does_not_exist_yet(root: Path) -> None:
    resolved = resolve_inside(root, "outputs/new/image_0.png")

    assert resolved == root.resolve() / "outputs" / "new" / "image_0.png"
    assert not resolved.exists()


def test_current_directory_components_are_harmless(root: Path) -> None:
    assert resolve_inside(root, "./checkpoints/./sd15") == root.resolve() / "checkpoints" / "sd15"


def test_result_is_absolute_and_under_the_real_root(root: Path) -> None:
    resolved = resolve_inside(root, "checkpoints")

    assert resolved.is_absolute()
    assert resolved.is_relative_to(root.resolve())


@pytest.mark.parametrize(
    "relative",
    [
        "/etc/passwd",
        "/checkpoints/sd15/model.safetensors",
        "..",
        "../outside",
        "checkpoints/../../outside",
        "checkpoints/sd15/..",
        "checkpoints/../checkpoints",
        "checkpoints\\sd15",
        "..\\outside",
        "model\x00.safetensors",
        "",
    ],
    ids=[
        "absolute-system",
        "absolute-lookalike",
        "dotdot-alone",
        "dotdot-leading",
        "dotdot-middle-escaping",
        "dotdot-trailing",
        "dotdot-staying-inside",
        "backslash",
        "backslash-dotdot",
        "nul",
        "empty",
    ],
)
def test_refuses_unsafe_relative_paths(root: Path, relative: str) -> None:
    with pytest.raises(PathOutsideRoot):
        resolve_inside(root, relative)


def test_refuses_path_longer_than_the_limit(root: Path) -> None:
    with pytest.raises(PathOutsideRoot):
        resolve_inside(root, "a" * (MAX_RELATIVE_PATH_LENGTH + 1))


def test_refuses_a_component_no_file_system_holds(root: Path) -> None:
    """stat() of such a name fails with ENAMETOOLONG, which `is_file()` raises instead of answering False."""
    with pytest.raises(PathOutsideRoot, match="longer than"):
        resolve_inside(root, "checkpoints/" + "a" * (MAX_PATH_COMPONENT_BYTES + 1))
    with pytest.raises(PathOutsideRoot):
        resolve_inside(root, "é" * 128)  # 256 bytes in UTF-8
    assert resolve_inside(root, "a" * MAX_PATH_COMPONENT_BYTES).name == "a" * MAX_PATH_COMPONENT_BYTES


def test_path_outside_root_is_a_value_error() -> None:
    assert issubclass(PathOutsideRoot, ValueError)


def test_refuses_symlink_pointing_outside_root(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, root / "checkpoints" / "escape.safetensors")

    with pytest.raises(PathOutsideRoot):
        resolve_inside(root, "checkpoints/escape.safetensors")


def test_refuses_symlinked_directory_pointing_outside_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file.bin").write_bytes(b"x")
    os.symlink(outside, root / "linked")

    with pytest.raises(PathOutsideRoot):
        resolve_inside(root, "linked/file.bin")


def test_accepts_symlink_that_stays_inside_root(root: Path) -> None:
    os.symlink(root / "checkpoints" / "sd15" / "model.safetensors", root / "alias.safetensors")

    resolved = resolve_inside(root, "alias.safetensors")

    assert resolved == (root / "checkpoints" / "sd15" / "model.safetensors").resolve()


def test_model_names_follow_links_placed_in_the_folder_but_never_climb_out(
    root: Path, tmp_path: Path
) -> None:
    """Issue 22: reading a model follows the links the administrator placed (a shared library); the
    name a request gives is checked as strictly as ever."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "shared.safetensors").write_bytes(b"x")
    os.symlink(library, root / "checkpoints" / "library")
    os.symlink(library / "shared.safetensors", root / "checkpoints" / "linked.safetensors")
    folder = root / "checkpoints"

    for name in ("library/shared.safetensors", "linked.safetensors"):
        path = resolve_in_model_folder(folder, name)
        assert (
            path == folder.resolve() / name and path.resolve() == (library / "shared.safetensors").resolve()
        )
    for escape in ("../../library/shared.safetensors", str(library / "shared.safetensors"), "library\\x"):
        with pytest.raises(PathOutsideRoot):
            resolve_in_model_folder(folder, escape)
    os.symlink("looped", folder / "looped")
    with pytest.raises(PathOutsideRoot):
        resolve_in_model_folder(folder, "looped")


def test_root_that_is_itself_a_symlink_still_works(root: Path, tmp_path: Path) -> None:
    link_to_root = tmp_path / "root-link"
    os.symlink(root, link_to_root)

    resolved = resolve_inside(link_to_root, "checkpoints/sd15/model.safetensors")

    assert resolved == (root / "checkpoints" / "sd15" / "model.safetensors").resolve()


def test_engine_messages_lose_their_server_folders() -> None:
    from sdcpp_rest.engine.protocol import hide_server_folders

    text = "unknown format /srv/sd/models/checkpoints/x.safetensors; failed: '/srv/my models/y.gguf'"
    assert hide_server_folders(text) == "unknown format x.safetensors; failed: 'y.gguf'"
