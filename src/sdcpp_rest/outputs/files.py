"""Output folder layout `{output_dir}/{job_id}/image_{N}.png`, atomic PNG writes, safe lookups, thumbnails."""

from __future__ import annotations

import io
import os
import re
import tempfile
import uuid
from pathlib import Path

from PIL import Image, PngImagePlugin

from sdcpp_rest.paths import PathOutsideRoot, resolve_inside

# Output names the server itself writes; anything else in a download URL is refused before touching disk.
OUTPUT_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
OUTPUT_FILE_MODE = 0o644
THUMBNAIL_MIN, THUMBNAIL_MAX, THUMBNAIL_DEFAULT = 50, 500, 256


def output_filename(index: int) -> str:
    return f"image_{index}.png"


def is_job_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def write_png_atomically(image: Image.Image, target: Path, infotext: str) -> None:
    """Write to a temporary file in the same folder, fsync, rename: readers never see half a PNG,
    and a crash after the rename leaves the whole image on disk."""
    target.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", infotext)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".png")
    os.fchmod(fd, OUTPUT_FILE_MODE)  # mkstemp makes 0600; outputs are meant to be readable
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG", pnginfo=info)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class OutputStore:
    """Where job outputs live and how a download request finds one without leaving the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def find_output(self, job_id: str, filename: str) -> Path | None:
        """The file, or None when the names are malformed, escape the folder or name nothing."""
        if not is_job_id(job_id) or not OUTPUT_FILENAME.match(filename):
            return None
        try:
            path = resolve_inside(self.root, f"{job_id}/{filename}")
        except PathOutsideRoot:
            return None
        return path if path.is_file() else None

    @staticmethod
    def thumbnail(path: Path, size: int) -> bytes:
        """A JPEG no larger than size x size, aspect ratio kept."""
        with Image.open(path) as image:
            image.thumbnail((size, size))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()
