"""Bringing a new model file into the models folder (download and upload, issue 16): the target name
confined to its type's folder, a hidden temporary name beside it, the free-space checks, the header
check before the file is accepted, and the move into place.

The temporary file lives in the target's own folder so that the final move is a rename on the same
file system (atomic: a half-written file never carries a model's name). Its name starts with a dot
and ends in `.part`, so the catalog's scan never lists it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sdcpp_rest.catalog.detect import detect_checkpoint_architecture
from sdcpp_rest.catalog.headers import HeaderError, read_header
from sdcpp_rest.catalog.scan import MODEL_EXTENSIONS, MODEL_TYPES
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters
from sdcpp_rest.paths import PathOutsideRoot, resolve_inside

PART_SUFFIX = ".part"
# PyTorch's pickle formats: loading one with torch.load (as other tools sharing the folder do) can run
# code, so new ones come in only when allow_pickle_models says so.
PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin")


class NameTaken(ApiError):
    code, status_code = ErrorCode.MODEL_IN_USE, 409


class DiskFull(ApiError):
    code, status_code = ErrorCode.PAYLOAD_TOO_LARGE, 413


class NotAModel(ApiError):
    code, status_code = ErrorCode.INVALID_PARAMETERS, 400


@dataclass(frozen=True)
class IntakeTarget:
    type: str
    name: str  # relative to the type's folder: what generation requests will use
    final: Path
    part: Path  # the temporary file beside it

    def relative_to(self, models_dir: Path) -> str:
        try:
            return self.final.relative_to(models_dir).as_posix()
        except ValueError:
            return self.name


def intake_target(
    type_folder: Path, kind: str, name: str, tag: str, *, field: str = "filename"
) -> IntakeTarget:
    """Where a new model file named `name` goes: inside `type_folder`, with a model extension, not
    there yet. `tag` (a job or upload id) makes the temporary name unique."""
    if kind not in MODEL_TYPES:
        raise InvalidParameters(f"type must be one of {', '.join(MODEL_TYPES)}", field="type")
    pure = PurePosixPath(name)
    # The name must be the one the file will have: "x.safetensors/", "a//b" or "./x" would be
    # written under their normal form and then not found by the name the caller was given.
    if name != pure.as_posix():
        raise InvalidParameters(
            f"{field} '{name}' is not a plain file name (no trailing or doubled '/', no './')", field=field
        )
    if not name or pure.name.startswith(".") or pure.suffix.lower() not in MODEL_EXTENSIONS:
        raise InvalidParameters(
            f"{field} '{name}' must be a file name ending in one of {', '.join(MODEL_EXTENSIONS)}",
            field=field,
        )
    try:
        final = resolve_inside(type_folder, name)
    except PathOutsideRoot as exc:
        raise InvalidParameters(
            f"{field} '{name}' is not inside the {kind} folder: {exc}", field=field
        ) from None
    if final.exists():
        raise NameTaken(f"a {kind} named '{name}' exists already; delete it first or choose another filename")
    part = final.with_name(f".{final.name}.{tag}{PART_SUFFIX}")
    return IntakeTarget(kind, name, final, part)


def check_pickle_allowed(name: str, allowed: bool, *, field: str = "filename") -> None:
    """400 for a pickle-format file name unless the allow_pickle_models setting allows them."""
    if not allowed and PurePosixPath(name).suffix.lower() in PICKLE_EXTENSIONS:
        raise InvalidParameters(
            f"{field} '{name}' is a PyTorch pickle ({', '.join(PICKLE_EXTENSIONS)}), which can run code when "
            "other tools load it: use a .safetensors or .gguf file, or set allow_pickle_models",
            field=field,
        )


def check_free_space(folder: Path, still_to_write: int, keep_free: int) -> None:
    """413 when writing `still_to_write` more bytes would leave less than `keep_free` in `folder`."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free - max(still_to_write, 0) < keep_free:
        raise DiskFull(
            f"not enough free disk space in the models folder: {free} bytes free, {max(still_to_write, 0)} "
            f"to write and {keep_free} to keep free (model_min_free_bytes)"
        )


def check_model_header(path: Path, kind: str, suffix: str) -> None:
    """400 when `path` is not a model file of `kind` (read as its final `suffix` says)."""
    try:
        header = read_header(path, suffix=suffix)
    except HeaderError as exc:
        raise NotAModel(f"the file is not a {suffix} model: {exc}") from None
    if header.format in ("safetensors", "gguf") and not header.tensors:
        raise NotAModel("the file holds no tensors")
    if kind == "checkpoint" and header.tensors and detect_checkpoint_architecture(header.tensors) is None:
        raise NotAModel("the file's tensors are those of no checkpoint architecture this server knows")


def move_into_place(target: IntakeTarget) -> None:
    """Rename the finished temporary file to its final name; 409 if that name was taken meanwhile."""
    target.final.parent.mkdir(parents=True, exist_ok=True)
    try:
        # link + unlink rather than rename: rename would silently replace a file that appeared meanwhile.
        os.link(target.part, target.final)
    except FileExistsError:
        raise NameTaken(
            f"a {target.type} named '{target.name}' appeared while this one was written"
        ) from None
    target.part.unlink()
