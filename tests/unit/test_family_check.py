"""A job's model family, read from the file's header on submit and kept per file identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcpp_rest.catalog.files import ModelFiles
from sdcpp_rest.jobs import family_check
from tests.fixtures.synthetic_models import write_architecture


def test_the_family_is_read_once_per_file_and_again_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoints = tmp_path / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    model = write_architecture(checkpoints / "model.safetensors", "sd1_original")
    files = ModelFiles(tmp_path / "models")
    reads: list[Path] = []
    real_read_header = family_check.read_header
    # A spy, not a stand-in: it counts the calls and reads the real file.
    monkeypatch.setattr(
        family_check, "read_header", lambda path: reads.append(path) or real_read_header(path)
    )

    first = family_check.model_family(files, "model.safetensors", None)
    assert family_check.model_family(files, "model.safetensors", None) == first == "SD1.x"
    assert len(reads) == 1

    # Replaced by another architecture (a new modification time and size): read again.
    write_architecture(model, "sdxl")
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 1_000_000_000))
    assert family_check.model_family(files, "model.safetensors", None) == "SDXL"
    assert len(reads) == 2


def test_a_missing_model_has_no_family(tmp_path: Path) -> None:
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    assert family_check.model_family(ModelFiles(tmp_path / "models"), "absent.safetensors", None) is None
