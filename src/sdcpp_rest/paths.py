"""The one helper that turns a path from a request into a file inside its configured folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

MAX_RELATIVE_PATH_LENGTH = 1024
# NAME_MAX of Linux file systems (bytes): a longer component makes stat() fail with ENAMETOOLONG
# instead of "no such file", which callers checking `is_file()` would not expect.
MAX_PATH_COMPONENT_BYTES = 255


class PathOutsideRoot(ValueError):
    """A requested path is absolute, climbs out with `..`, or resolves (via symlinks) outside its root."""


def resolve_inside(root: Path, relative: str) -> Path:
    """Resolve `relative` under `root`, following symlinks only while they stay inside `root`.

    Refuses absolute paths, `..` components, backslashes (Windows separators smuggled through a Unix
    server), NUL bytes, names no file system holds and anything whose real path leaves the root. The
    file need not exist.
    """
    pure = _checked_relative(relative)
    try:
        real_root = root.resolve()
        candidate = (real_root / pure).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (Python 3.11 raises RuntimeError)
        raise PathOutsideRoot(f"path cannot be resolved: {exc}") from None
    if candidate != real_root and not candidate.is_relative_to(real_root):
        raise PathOutsideRoot("path resolves outside its folder")
    return candidate


def resolve_in_model_folder(root: Path, relative: str) -> Path:
    """A model's name under its type folder `root`, for reading it: the path inside the (resolved)
    folder, its own symlinks left in place so that it keeps its name and extension.

    The name is checked as `resolve_inside` checks it (relative, no '..', no backslash, ...), so a
    request cannot climb out; symlinks already in the folder may point anywhere: only someone with
    access to the folder places them (one model library shared with other tools), and the catalog's
    scan lists the same files. Never use it for a path to write to."""
    pure = _checked_relative(relative)
    try:
        inside = root.resolve() / pure
        inside.resolve()  # refuses a symlink loop (Python 3.11 raises RuntimeError)
    except (RuntimeError, OSError) as exc:
        raise PathOutsideRoot(f"path cannot be resolved: {exc}") from None
    return inside


def _checked_relative(relative: str) -> PurePosixPath:
    """`relative` as a path that stays inside whatever folder it is joined to (symlinks aside)."""
    if not relative or len(relative) > MAX_RELATIVE_PATH_LENGTH:
        raise PathOutsideRoot("path is empty or too long")
    if "\x00" in relative or "\\" in relative:
        raise PathOutsideRoot("path contains a NUL byte or a backslash")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or any(part == ".." for part in pure.parts):
        raise PathOutsideRoot("path must be relative and must not contain '..'")
    if any(len(part.encode(errors="surrogateescape")) > MAX_PATH_COMPONENT_BYTES for part in pure.parts):
        raise PathOutsideRoot(f"a path component is longer than {MAX_PATH_COMPONENT_BYTES} bytes")
    return pure
