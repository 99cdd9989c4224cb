"""The catalog service: the models on disk, kept in memory, searchable, with hashes filled in behind.

A listing never touches the disk: it filters the in-memory entries of the last scan. `refresh()` walks
the folders again, re-reading only headers of files whose size or mtime changed. SHA-256 hashes are
computed by one background thread (smallest files first, so small models get their id quickly) and
cached in the database by real path + size + mtime.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sdcpp_rest.catalog.file_errors import FileError, collect_file_errors, path_in_models_folder
from sdcpp_rest.catalog.model_sets import (
    SET_TYPE,
    ModelSet,
    ModelSetError,
    automatic_sets,
    read_sets,
    set_entries,
    write_sets,
)
from sdcpp_rest.catalog.scan import (
    MODEL_TYPES,
    FileStat,
    ScannedModel,
    SkippedFile,
    scan,
    stray_model_files,
)
from sdcpp_rest.catalog.store import HashRecord, ModelHashStore
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.paths import PathOutsideRoot, resolve_in_model_folder
from sdcpp_rest.storage.outage import database_unavailable

log = logging.getLogger(__name__)

SHORT_HASH_LENGTH = 10
HASH_CHUNK_BYTES = 4 * 1024 * 1024
SORT_FIELDS = ("name", "size", "date", "type", "loaded")
# Size categories (bytes, upper bound exclusive): embeddings < LoRA/TAESD < VAE/SD1 < SDXL < Flux.
SIZE_CATEGORIES: dict[str, tuple[int, int]] = {
    "tiny": (0, 10 * 2**20),
    "small": (10 * 2**20, 500 * 2**20),
    "medium": (500 * 2**20, 4 * 2**30),
    "large": (4 * 2**30, 10 * 2**30),
    "huge": (10 * 2**30, 2**63),
}


@dataclass(frozen=True)
class ModelQuery:
    type: str | None = None
    search: str | None = None
    sort_by: str = "name"
    sort_order: str = "asc"
    limit: int = 50
    page: int = 1
    modified_after: float | None = None
    modified_before: float | None = None
    min_size: int | None = None
    max_size: int | None = None
    size_category: str | None = None
    loaded: bool | None = None
    architecture: str | None = None
    format: str | None = None


@dataclass(frozen=True)
class ModelView:
    """One entry as the API shows it: the scan's facts plus the hash and the loaded state of now."""

    model: ScannedModel
    relative_path: str
    hash: HashRecord | None
    hash_failed: bool
    loaded: bool

    @property
    def id(self) -> str:
        return self.hash.sha256 if self.hash else self.model.name


@dataclass(frozen=True)
class ModelPage:
    items: list[ModelView]
    total: int
    page: int
    limit: int
    pages: int


@dataclass(frozen=True)
class RefreshResult:
    found: int
    added: int
    changed: int
    removed: int
    hashes_pending: int

    @property
    def updated(self) -> int:
        return self.added + self.changed + self.removed


# The nice value of the hashing thread: hashing a new model file (gigabytes of SHA-256) must not take
# a core from a running generation, so the kernel runs it only on CPU the engine leaves idle.
HASHER_NICE = 19


def lower_this_threads_priority() -> None:
    """Give the calling thread the lowest CPU priority. On Linux a thread has its own nice value
    (setpriority on its thread id); elsewhere this would renice the whole process, so it does nothing."""
    if os.uname().sysname != "Linux":
        return
    with contextlib.suppress(OSError):  # not permitted in some sandboxes: hashing merely competes then
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHER_NICE)


class CatalogService:
    """The models under the configured folders; thread-safe (routes, the hasher and refreshes)."""

    def __init__(
        self,
        models_dir: Path,
        type_roots: Mapping[str, list[Path]],
        hash_store: ModelHashStore,
        loaded_paths: Callable[[], Iterable[str]] = lambda: (),
    ) -> None:
        self.models_dir = models_dir
        self._type_roots = {kind: list(roots) for kind, roots in type_roots.items()}
        self._hash_store = hash_store
        self._loaded_paths = loaded_paths
        self._entries: dict[tuple[str, str], ScannedModel] = {}
        self._sets: dict[str, ModelSet] = {}
        self._skipped: list[SkippedFile] = []
        self._hashes: dict[str, HashRecord] = {}
        self._hash_errors: set[str] = set()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._hash_queue: queue.PriorityQueue[tuple[int, str]] = queue.PriorityQueue()
        self._queued: set[str] = set()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._hasher: threading.Thread | None = None
        self.hashes_computed = 0  # files hashed by this process (tests prove the cache with it)

    # --- lifecycle ---
    def start(self) -> RefreshResult:
        """Scan once and start the background hasher."""
        with self._lock:
            self._hashes = self._hash_store.all()
        result = self.refresh()
        if self._hasher is None:
            self._hasher = threading.Thread(target=self._hash_loop, name="catalog-hasher", daemon=True)
            self._hasher.start()
        return result

    def stop(self) -> None:
        self._stopping.set()
        self._hash_queue.put((-1, ""))
        if self._hasher is not None:
            self._hasher.join(timeout=5)

    # --- scanning ---
    def refresh(self) -> RefreshResult:
        """Rescan the folders; new, changed and removed files are all noticed."""
        with self._refresh_lock:
            with self._lock:
                previous = dict(self._entries)
            skipped = stray_model_files(self.models_dir)
            current = scan(self._type_roots, previous, skipped)
            sets = self._all_sets(current)
            for key, entry in set_entries(self.models_dir, sets, current).items():
                current[key] = previous[key] if previous.get(key) == entry else entry
            added = sum(1 for key in current if key not in previous)
            removed = sum(1 for key in previous if key not in current)
            changed = sum(
                1 for key, entry in current.items() if key in previous and previous[key] is not entry
            )
            with self._lock:
                known = {(item.path, item.reason) for item in self._skipped}
                self._entries = current
                self._sets = sets
                self._skipped = skipped
                present = {str(entry.real_path) for entry in current.values()}
                self._hash_errors &= present
            for item in skipped:
                if (item.path, item.reason) not in known:  # each once, not on every refresh
                    log.warning(
                        "model folder: %s skipped: %s",
                        path_in_models_folder(self.models_dir, item.type, item.path, item.name),
                        item.reason,
                    )
            pending = self._queue_missing_hashes(current.values())
            if removed:
                self._hash_store.forget_missing(present)
        if added or changed or removed:
            log.info(
                "model catalog: %d models (%d new, %d changed, %d removed)",
                len(current),
                added,
                changed,
                removed,
            )
        return RefreshResult(len(current), added, changed, removed, pending)

    def _all_sets(self, entries: Mapping[tuple[str, str], ScannedModel]) -> dict[str, ModelSet]:
        """The automatic sets, then the defined ones (a defined set wins a name)."""
        try:
            defined = read_sets(self.models_dir)
        except ModelSetError as exc:
            log.error("model sets not read: %s", exc)  # the files stay usable on their own
            defined = {}
        return {**automatic_sets(entries), **defined}

    def model_set(self, name: str) -> ModelSet | None:
        with self._lock:
            return self._sets.get(name)

    def model_sets(self) -> list[ModelSet]:
        with self._lock:
            return sorted(self._sets.values(), key=lambda model_set: model_set.name.lower())

    def save_set(self, model_set: ModelSet) -> None:
        """Add or replace a defined set in the sets file, then rescan."""
        with self._refresh_lock:
            defined = read_sets(self.models_dir)
            defined[model_set.name] = model_set
            write_sets(self.models_dir, defined)
        self.refresh()

    def delete_set(self, name: str) -> bool:
        """Remove a defined set; False when the sets file has no such set."""
        with self._refresh_lock:
            defined = read_sets(self.models_dir)
            if defined.pop(name, None) is None:
                return False
            write_sets(self.models_dir, defined)
        self.refresh()
        return True

    def _valid_hash(self, entry: ScannedModel) -> HashRecord | None:
        record = self._hashes.get(str(entry.real_path))
        if record and record.size == entry.stat.size and record.mtime_ns == entry.stat.mtime_ns:
            return record
        return None

    def _queue_missing_hashes(self, entries: Iterable[ScannedModel]) -> int:
        pending = 0
        with self._lock:
            for entry in entries:
                real = str(entry.real_path)
                if entry.format in ("diffusers", SET_TYPE) or entry.error or real in self._hash_errors:
                    continue  # a folder has no single content hash; a damaged file is not worth one
                if self._valid_hash(entry) is None:
                    pending += 1
                    if real not in self._queued:
                        self._queued.add(real)
                        self._hash_queue.put((entry.stat.size, real))
        return pending

    # --- hashing (the background thread) ---
    def _hash_loop(self) -> None:
        lower_this_threads_priority()
        while not self._stopping.is_set():
            _size, real = self._hash_queue.get()
            if self._stopping.is_set() or not real:
                return
            try:
                self._hash_one(Path(real))
            except Exception as exc:  # one bad file must not end hashing for the others
                if database_unavailable(exc):
                    # The hash could not be stored (the database away, a locked SQLite file): not
                    # the file's fault, so the next refresh queues it again.
                    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                    log.warning(
                        "hashing %s: database unavailable (%s); next refresh tries again", real, reason
                    )
                    continue
                log.exception("hashing %s failed", real)
                with self._lock:
                    self._hash_errors.add(real)
            finally:
                with self._lock:
                    self._queued.discard(real)
                    self._idle.notify_all()

    def _hash_one(self, path: Path) -> None:
        try:
            before = path.stat()
        except OSError:
            return  # gone since the scan
        with self._lock:
            cached = self._hashes.get(str(path))
        if cached and cached.size == before.st_size and cached.mtime_ns == before.st_mtime_ns:
            return
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                if self._stopping.is_set():
                    return
                digest.update(chunk)
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            # Written to while we read it: the next refresh sees the new mtime and queues it again.
            return
        record = self._hash_store.put(str(path), after.st_size, after.st_mtime_ns, digest.hexdigest())
        with self._lock:
            self._hashes[str(path)] = record
            self.hashes_computed += 1

    def record_hash(self, path: Path, sha256: str) -> None:
        """Store the hash of a file whose content this process just wrote and hashed (a download or
        upload, issue 16), so the background hasher does not read it again."""
        stat = path.stat()
        record = self._hash_store.put(str(path.resolve()), stat.st_size, stat.st_mtime_ns, sha256)
        with self._lock:
            self._hashes[record.path] = record

    def wait_for_hashes(self, timeout: float) -> bool:
        """Block until no hash is pending (tests and the benchmark); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._queued:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # --- reading ---
    def _view(self, entry: ScannedModel, loaded: set[str]) -> ModelView:
        try:
            relative = entry.path.relative_to(self.models_dir).as_posix()
        except ValueError:  # a type folder configured outside the models folder
            relative = entry.name
        real = str(entry.real_path)
        return ModelView(entry, relative, self._valid_hash(entry), real in self._hash_errors, real in loaded)

    def file_errors(self) -> list[FileError]:
        """The files of the last scan that cannot be used, with the reason."""
        with self._lock:
            return collect_file_errors(self.models_dir, self._skipped, self._entries.values())

    def list_models(self, query: ModelQuery) -> ModelPage:
        """One page of the models matching `query`; never blocks on hashing or disk."""
        if query.type is not None and query.type not in MODEL_TYPES:
            raise InvalidParameters(
                f"unknown model type '{query.type}'; choose from {', '.join(MODEL_TYPES)}"
            )
        if query.sort_by not in SORT_FIELDS:
            raise InvalidParameters(f"sort_by must be one of {', '.join(SORT_FIELDS)}")
        if query.sort_order not in ("asc", "desc"):
            raise InvalidParameters("sort_order must be asc or desc")
        if query.size_category is not None and query.size_category not in SIZE_CATEGORIES:
            raise InvalidParameters(f"size_category must be one of {', '.join(SIZE_CATEGORIES)}")
        loaded = set(self._loaded_paths())
        with self._lock:
            entries = list(self._entries.values())
            matching = [e for e in entries if _matches(e, query, loaded)]
            total = len(matching)
            matching.sort(key=_sort_key(query.sort_by, loaded), reverse=query.sort_order == "desc")
            if query.limit:
                start = (query.page - 1) * query.limit
                matching = matching[start : start + query.limit]
            items = [self._view(entry, loaded) for entry in matching]
        pages = max(1, math.ceil(total / query.limit)) if query.limit else 1
        return ModelPage(items, total, query.page, query.limit, pages)

    def count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for key in self._entries if kind is None or key[0] == kind)

    def get(self, model_id: str, kind: str | None = None) -> ModelView:
        """The model `model_id` names: its SHA-256, 10-hex short hash, name or name without extension.

        A name that climbs out of the models folder is refused with InvalidParameters; an unknown one
        raises ModelNotFound. Checkpoints win when a name exists in several type folders."""
        key = model_id.strip()
        loaded = set(self._loaded_paths())
        with self._lock:
            entries = [e for e in self._entries.values() if kind is None or e.type == kind]
            entries.sort(key=lambda e: (MODEL_TYPES.index(e.type), e.name))
            lowered = key.lower()
            if _looks_like_hash(lowered):
                for entry in entries:
                    record = self._valid_hash(entry)
                    if record and (record.sha256 == lowered or record.sha256[:SHORT_HASH_LENGTH] == lowered):
                        return self._view(entry, loaded)
            for matcher in (_same_name, _same_relative_path, _same_stem):
                for entry in entries:
                    if matcher(entry, key, self.models_dir):
                        return self._view(entry, loaded)
        self._refuse_escape(key)
        where = f" of type {kind}" if kind else ""
        raise ModelNotFound(
            f"no model{where} '{model_id}' (give its hash, short hash or name; see /api/models)"
        )

    def _refuse_escape(self, key: str) -> None:
        try:
            resolve_in_model_folder(self.models_dir, key)
        except PathOutsideRoot as exc:
            raise InvalidParameters(
                f"model id '{key}' is not a name inside the models folder: {exc}"
            ) from None

    def type_folders(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind in MODEL_TYPES:
            folders = []
            for root in self._type_roots.get(kind, []):
                try:
                    folders.append(root.relative_to(self.models_dir).as_posix())
                except ValueError:
                    folders.append(str(root))
            out[kind] = folders
        return out


def _looks_like_hash(value: str) -> bool:
    return len(value) in (SHORT_HASH_LENGTH, 64) and all(c in "0123456789abcdef" for c in value)


def _same_name(entry: ScannedModel, key: str, _root: Path) -> bool:
    return entry.name == key


def _same_relative_path(entry: ScannedModel, key: str, root: Path) -> bool:
    try:
        return entry.path.relative_to(root).as_posix() == key
    except ValueError:
        return False


def _same_stem(entry: ScannedModel, key: str, _root: Path) -> bool:
    return Path(entry.name).with_suffix("").as_posix() == key


def _matches(entry: ScannedModel, q: ModelQuery, loaded: set[str]) -> bool:
    if q.type is not None and entry.type != q.type:
        return False
    if q.search:
        needle = q.search.lower()
        haystack = " ".join(filter(None, (entry.name, entry.architecture, entry.metadata_title))).lower()
        if needle not in haystack:
            return False
    mtime = entry.stat.mtime_ns / 1e9
    if q.modified_after is not None and mtime < q.modified_after:
        return False
    if q.modified_before is not None and mtime > q.modified_before:
        return False
    size = entry.stat.size
    if q.min_size is not None and size < q.min_size:
        return False
    if q.max_size is not None and size > q.max_size:
        return False
    if q.size_category is not None:
        low, high = SIZE_CATEGORIES[q.size_category]
        if not low <= size < high:
            return False
    if q.loaded is not None and (str(entry.real_path) in loaded) != q.loaded:
        return False
    if q.architecture is not None and (entry.architecture or "").lower() != q.architecture.lower():
        return False
    return q.format is None or entry.format == q.format


def _sort_key(field: str, loaded: set[str]) -> Callable[[ScannedModel], tuple[object, ...]]:
    # The name breaks ties so that pages are stable from one request to the next.
    if field == "size":
        return lambda e: (e.stat.size, e.name.lower(), e.type)
    if field == "date":
        return lambda e: (e.stat.mtime_ns, e.name.lower(), e.type)
    if field == "type":
        return lambda e: (MODEL_TYPES.index(e.type), e.name.lower())
    if field == "loaded":
        return lambda e: (str(e.real_path) in loaded, e.name.lower(), e.type)
    return lambda e: (e.name.lower(), e.type)


__all__ = ["CatalogService", "FileError", "FileStat", "ModelPage", "ModelQuery", "ModelView", "RefreshResult"]
