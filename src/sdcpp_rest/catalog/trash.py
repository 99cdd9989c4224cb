"""The models folder's trash: a deleted model file moves to `{models_dir}/.trash/{id}/`, with a small
JSON note of where it came from, until it is restored or purged after `model_trash_days`.

A move, not a copy: on the same file system it is instant even for a 7 GB file and costs no space.
The trash folder is no type folder, so the catalog's scan never lists what is in it. The note keeps
the original path (server-side only: replies show the path relative to the models folder); a restore
puts the file back only inside one of the type folders, never elsewhere.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters
from sdcpp_rest.paths import PathOutsideRoot, resolve_inside

log = logging.getLogger(__name__)

TRASH_FOLDER = ".trash"
NOTE_NAME = "entry.json"
SECONDS_PER_DAY = 86400.0
# How often the purge runs besides start-up; trash days are whole days, so hourly is precise enough.
PURGE_INTERVAL_SECONDS = 3600.0


class TrashEntryNotFound(ApiError):
    code, status_code = ErrorCode.NOT_FOUND, 404


class RestoreConflict(ApiError):
    code, status_code = ErrorCode.MODEL_IN_USE, 409


@dataclass(frozen=True)
class TrashEntry:
    id: str
    type: str
    name: str  # relative to its type folder, as the catalog named it
    relative_path: str  # relative to the models folder (or the name for a folder configured elsewhere)
    original_path: Path  # server-side only
    size_bytes: int
    sha256: str | None
    deleted_at: float
    file_name: str  # the file's name inside the entry's folder


class ModelTrash:
    """Moves model files into the trash and back; purges old entries on its own thread."""

    def __init__(
        self,
        models_dir: Path,
        type_roots: Mapping[str, list[Path]],
        keep_days: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = models_dir / TRASH_FOLDER
        self._models_dir = models_dir
        self._type_roots = {kind: list(roots) for kind, roots in type_roots.items()}
        self._keep_days = keep_days
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> None:
        self.purge()
        if self._keep_days > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="model-trash-purge", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(PURGE_INTERVAL_SECONDS):
            try:
                self.purge()
            except Exception:  # a purge that fails once must not end purging
                log.exception("purging the model trash failed")

    # --- the operations ---
    def put(self, kind: str, name: str, path: Path, relative_path: str, sha256: str | None) -> TrashEntry:
        """Move the model file `path` into a new trash entry. A symlink moves as the link (its target,
        in a library shared with other tools, stays where it is); a file that only a symlinked folder
        brings into the models folder is refused: it is not this server's to move."""
        if not self._in_type_folder(kind, path.parent):
            raise InvalidParameters(
                f"'{relative_path}' lies in a folder linked into the models folder from elsewhere (a "
                "shared model library); it is not moved: remove the link or the file there yourself"
            )
        entry_id = uuid.uuid4().hex
        folder = self.root / entry_id
        with self._lock:
            folder.mkdir(parents=True, exist_ok=False)
            size = path.stat().st_size
            target = folder / path.name
            shutil.move(str(path), target)
            entry = TrashEntry(
                entry_id, kind, name, relative_path, path, size, sha256, self._clock(), path.name
            )
            self._write_note(folder, entry)
        log.info("model %s (%s) moved to the trash as %s", name, kind, entry_id)
        return entry

    def entries(self) -> list[TrashEntry]:
        """The entries, newest first; a folder without a readable note is skipped (and kept)."""
        if not self.root.is_dir():
            return []
        entries = [e for e in (self._read(f) for f in self.root.iterdir() if f.is_dir()) if e is not None]
        return sorted(entries, key=lambda e: e.deleted_at, reverse=True)

    def get(self, entry_id: str) -> TrashEntry:
        if not entry_id.isalnum():
            raise InvalidParameters(f"'{entry_id}' is not a trash entry id", field="id")
        entry = self._read(self.root / entry_id)
        if entry is None:
            raise TrashEntryNotFound(f"no trash entry '{entry_id}' (see /api/models/trash)")
        return entry

    def restore(self, entry_id: str) -> TrashEntry:
        """Move the file back to where it was; 409 when a file of that name is there now."""
        with self._lock:
            entry = self.get(entry_id)
            target = self._restore_target(entry)
            if target.exists():
                raise RestoreConflict(
                    f"'{entry.relative_path}' exists again; move it away before restoring this entry"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            folder = self.root / entry.id
            shutil.move(str(folder / entry.file_name), target)
            shutil.rmtree(folder, ignore_errors=True)
        log.info("model %s (%s) restored from the trash", entry.name, entry.type)
        return entry

    def purge(self) -> list[str]:
        """Remove the entries older than the keep days; the ids removed."""
        if self._keep_days <= 0:
            return []
        cutoff = self._clock() - self._keep_days * SECONDS_PER_DAY
        removed = []
        with self._lock:
            for entry in self.entries():
                if entry.deleted_at < cutoff:
                    shutil.rmtree(self.root / entry.id, ignore_errors=True)
                    removed.append(entry.id)
        if removed:
            log.info("purged %d model(s) from the trash", len(removed))
        return removed

    def _in_type_folder(self, kind: str, folder: Path) -> bool:
        """Whether `folder` really (symlinks resolved) lies in one of the type's folders."""
        real = folder.resolve()
        return any(real.is_relative_to(root.resolve()) for root in self._type_roots.get(kind, []))

    # --- the notes ---
    def _restore_target(self, entry: TrashEntry) -> Path:
        """The original path, only while it lies inside one of its type's folders."""
        for root in self._type_roots.get(entry.type, []):
            try:
                return resolve_inside(root, entry.original_path.relative_to(root).as_posix())
            except (ValueError, PathOutsideRoot):
                continue
        raise RestoreConflict(
            f"'{entry.relative_path}' was in a folder that is no {entry.type} folder any more"
        )

    @staticmethod
    def _write_note(folder: Path, entry: TrashEntry) -> None:
        note = {
            "type": entry.type,
            "name": entry.name,
            "relative_path": entry.relative_path,
            "original_path": str(entry.original_path),
            "size_bytes": entry.size_bytes,
            "sha256": entry.sha256,
            "deleted_at": entry.deleted_at,
            "file_name": entry.file_name,
        }
        (folder / NOTE_NAME).write_text(json.dumps(note), encoding="utf-8")

    @staticmethod
    def _read(folder: Path) -> TrashEntry | None:
        try:
            note = json.loads((folder / NOTE_NAME).read_text(encoding="utf-8"))
            return TrashEntry(
                folder.name,
                str(note["type"]),
                str(note["name"]),
                str(note["relative_path"]),
                Path(note["original_path"]),
                int(note["size_bytes"]),
                note.get("sha256"),
                float(note["deleted_at"]),
                str(note["file_name"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
