"""Writing an uploaded model file (POST /api/models/upload, issue 16): the same hidden part file in the
type's folder, SHA-256, size limit and free-space checks as a download (catalog/intake.py), then the
header check before the file is accepted; a refused file is removed.

Blocking file work: the route calls these methods from a worker thread, never on the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sdcpp_rest.catalog.intake import (
    IntakeTarget,
    check_free_space,
    check_model_header,
    check_pickle_allowed,
    intake_target,
    move_into_place,
)
from sdcpp_rest.catalog.service import CatalogService, ModelView
from sdcpp_rest.errors import PayloadTooLarge

log = logging.getLogger(__name__)

# Free space is looked at again after this many bytes written.
SPACE_CHECK_BYTES = 256 * 1024 * 1024


class ModelUpload:
    """One upload in progress: write() chunks as they come, then finish() or abort()."""

    def __init__(
        self, target: IntakeTarget, catalog: CatalogService, max_bytes: int, min_free_bytes: int
    ) -> None:
        self.target = target
        self._catalog = catalog
        self._max_bytes = max_bytes
        self._min_free = min_free_bytes
        self._digest = hashlib.sha256()
        self._handle: BinaryIO | None = None
        self.size = 0
        self._since_check = 0

    def open(self, declared_bytes: int | None) -> None:
        """Check the space for what the request declares, then create the part file."""
        if declared_bytes is not None and declared_bytes > self._max_bytes:
            raise PayloadTooLarge(
                f"the upload is {declared_bytes} bytes; model_download_max_bytes is {self._max_bytes}"
            )
        check_free_space(self.target.part.parent, declared_bytes or 0, self._min_free)
        self.target.part.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.target.part.open("xb")

    def write(self, data: bytes) -> None:
        assert self._handle is not None
        self.size += len(data)
        if self.size > self._max_bytes:
            raise PayloadTooLarge(f"the file is larger than model_download_max_bytes ({self._max_bytes})")
        self._since_check += len(data)
        if self._since_check >= SPACE_CHECK_BYTES:
            check_free_space(self.target.part.parent, len(data), self._min_free)
            self._since_check = 0
        self._handle.write(data)
        self._digest.update(data)

    def finish(self) -> ModelView:
        """Check the header, move the file into place, catalogue it with its hash."""
        self._close()
        check_model_header(self.target.part, self.target.type, self.target.final.suffix)
        move_into_place(self.target)
        sha256 = self._digest.hexdigest()
        self._catalog.record_hash(self.target.final, sha256)
        self._catalog.refresh()
        log.info("uploaded %s/%s: %d bytes, sha256 %s", self.target.type, self.target.name, self.size, sha256)
        return self._catalog.get(self.target.name, kind=self.target.type)

    def abort(self) -> None:
        self._close()
        self.target.part.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class ModelUploads:
    """Makes ModelUpload objects for the upload route."""

    def __init__(
        self,
        catalog: CatalogService,
        type_folder: Callable[[str], Path],
        max_bytes: int,
        min_free_bytes: int,
        allow_pickle: bool,
    ) -> None:
        self._catalog = catalog
        self._allow_pickle = allow_pickle
        self._type_folder = type_folder
        self._max_bytes = max_bytes
        self._min_free = min_free_bytes

    def begin(self, kind: str, filename: str, declared_bytes: int | None) -> ModelUpload:
        check_pickle_allowed(filename, self._allow_pickle)
        target = intake_target(self._type_folder(kind), kind, filename, uuid.uuid4().hex[:12])
        upload = ModelUpload(target, self._catalog, self._max_bytes, self._min_free)
        upload.open(declared_bytes)
        return upload
