"""The files of the model folders that cannot be used, as clients see them (issue 22): what the scan
left out (scan.SkippedFile) and what it listed with an error, by their path in the models folder."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sdcpp_rest.catalog.scan import TYPE_FOLDERS, ScannedModel, SkippedFile


@dataclass(frozen=True)
class FileError:
    """A file of the model folders that cannot be used: left out by the scan, or listed with an error."""

    type: str | None
    relative_path: str  # relative to the models folder; never a server path outside it
    reason: str
    listed: bool


def path_in_models_folder(models_dir: Path, kind: str | None, path: Path, name: str) -> str:
    """`path` relative to the models folder; in a type folder configured elsewhere, its name under the
    type's canonical folder name (server paths outside the models folder never reach a client)."""
    try:
        return path.relative_to(models_dir).as_posix()
    except ValueError:
        return f"{TYPE_FOLDERS[kind][0]}/{name}" if kind in TYPE_FOLDERS else name


def collect_file_errors(
    models_dir: Path, skipped: Iterable[SkippedFile], entries: Iterable[ScannedModel]
) -> list[FileError]:
    """Those the scan left out, then those listed with an error, each sorted by path."""
    left_out = [
        FileError(s.type, path_in_models_folder(models_dir, s.type, s.path, s.name), s.reason, False)
        for s in skipped
    ]
    listed = [
        FileError(e.type, path_in_models_folder(models_dir, e.type, e.path, e.name), e.error, True)
        for e in entries
        if e.error
    ]
    return sorted(left_out, key=lambda f: f.relative_path) + sorted(listed, key=lambda f: f.relative_path)
