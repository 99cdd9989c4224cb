"""Preview images kept beside model files, as A1111 and ComfyUI users keep them.

For `NAME.safetensors` (or a diffusers folder `NAME/`) the first existing of `NAME.png`,
`NAME.preview.png`, `NAME.jpg`, `NAME.preview.jpg`, ... is its preview: A1111's extra-networks order
(for each image extension the plain name before `.preview`). Only a file in the model's own folder
counts, and only while its real path stays inside the model's type folder, so a symlinked
`NAME.png -> /etc/passwd` is never served. Image files are not model files (scan.MODEL_EXTENSIONS),
so a preview never shows up as a model or a scan error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Image extension -> the Content-Type it is served with; the order is the search order.
PREVIEW_MEDIA_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class Preview:
    """The image found beside a model, as the scan saw it."""

    path: Path  # the real file (symlinks resolved, checked inside the type folder)
    media_type: str
    mtime_ns: int  # changes the preview URL's version, so a browser's cached copy is never stale


def preview_candidates(model_path: Path) -> list[Path]:
    """The file names a preview of `model_path` may have, in the order they are looked for."""
    stem = model_path.name if model_path.is_dir() else model_path.with_suffix("").name
    return [
        model_path.parent / f"{stem}{middle}{extension}"
        for extension in PREVIEW_MEDIA_TYPES
        for middle in ("", ".preview")
    ]


def find_preview(model_path: Path, roots: Iterable[Path]) -> Preview | None:
    """The preview beside `model_path` whose real path lies inside one of `roots` (the model's type
    folders), or None."""
    allowed = []
    for root in roots:
        try:
            allowed.append(root.resolve())
        except OSError:
            continue
    for candidate in preview_candidates(model_path):
        try:
            real = candidate.resolve()
            if not real.is_file() or not any(real.is_relative_to(root) for root in allowed):
                continue
            stat = real.stat()
        except (OSError, RuntimeError):
            continue
        return Preview(real, PREVIEW_MEDIA_TYPES[candidate.suffix.lower()], stat.st_mtime_ns)
    return None
