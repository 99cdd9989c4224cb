"""ModelTrash on real files: purge after the keep days (a settable clock stands in for days passing),
restore only into a type folder, notes that do not parse are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdcpp_rest.catalog.trash import SECONDS_PER_DAY, ModelTrash, RestoreConflict


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _trash(tmp_path: Path, clock: Clock, keep_days: float = 2) -> tuple[ModelTrash, Path]:
    checkpoints = tmp_path / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    return ModelTrash(tmp_path / "models", {"checkpoint": [checkpoints]}, keep_days, clock), checkpoints


def test_purge_removes_only_entries_older_than_the_keep_days(tmp_path: Path) -> None:
    clock = Clock()
    trash, checkpoints = _trash(tmp_path, clock)
    (checkpoints / "old.safetensors").write_bytes(b"old")
    old = trash.put("checkpoint", "old.safetensors", checkpoints / "old.safetensors", "checkpoints/old", None)
    clock.now += 1.5 * SECONDS_PER_DAY
    (checkpoints / "new.safetensors").write_bytes(b"new")
    new = trash.put("checkpoint", "new.safetensors", checkpoints / "new.safetensors", "checkpoints/new", "ab")
    assert trash.purge() == []
    clock.now += 0.6 * SECONDS_PER_DAY
    assert trash.purge() == [old.id]
    assert [e.id for e in trash.entries()] == [new.id]
    assert not (trash.root / old.id).exists()
    restored = trash.restore(new.id)
    assert restored.sha256 == "ab" and (checkpoints / "new.safetensors").read_bytes() == b"new"
    assert trash.entries() == []


def test_zero_keep_days_never_purges(tmp_path: Path) -> None:
    clock = Clock()
    trash, checkpoints = _trash(tmp_path, clock, keep_days=0)
    (checkpoints / "a.safetensors").write_bytes(b"a")
    trash.put("checkpoint", "a.safetensors", checkpoints / "a.safetensors", "checkpoints/a", None)
    clock.now += 10_000 * SECONDS_PER_DAY
    assert trash.purge() == [] and len(trash.entries()) == 1


def test_restore_refuses_a_note_pointing_outside_the_type_folders(tmp_path: Path) -> None:
    clock = Clock()
    trash, checkpoints = _trash(tmp_path, clock)
    (checkpoints / "a.safetensors").write_bytes(b"a")
    entry = trash.put("checkpoint", "a.safetensors", checkpoints / "a.safetensors", "checkpoints/a", None)
    note = trash.root / entry.id / "entry.json"
    note.write_text(note.read_text().replace(str(checkpoints), str(tmp_path / "elsewhere")))
    with pytest.raises(RestoreConflict):
        trash.restore(entry.id)
    assert not (tmp_path / "elsewhere").exists()
    (trash.root / "junk").mkdir()  # a folder without a note is no entry, and stays
    assert [e.id for e in trash.entries()] == [entry.id] and (trash.root / "junk").is_dir()
