"""Walk the models folders and describe every model file from its header (never its weights).

One folder per type (with the aliases other tools use), recursive. Symlinks placed in the folders are
followed wherever they point (how people share one model library between tools), loops excepted; a
request still names a model only by its path inside a folder. A file whose header cannot be read is
listed with an `error`; what the walk leaves out (broken links, loops, unknown file types) is reported
as a SkippedFile; neither ends the scan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sdcpp_rest.catalog.detect import (
    COMPONENTS_BY_ARCH,
    detect_checkpoint_architecture,
    detect_checkpoint_variant,
    detect_lora_architecture,
    weight_type,
)
from sdcpp_rest.catalog.headers import HeaderError, read_header
from sdcpp_rest.catalog.previews import Preview, find_preview
from sdcpp_rest.catalog.roles import detect_part, part_family_label

log = logging.getLogger(__name__)

# The API's type names, in the spec's order, and the folders (first one canonical) holding each.
TYPE_FOLDERS: dict[str, tuple[str, ...]] = {
    "checkpoint": ("checkpoints", "stable-diffusion"),
    "vae": ("vae",),
    "lora": ("lora", "loras"),
    "controlnet": ("controlnet",),
    "embedding": ("embeddings",),
    "esrgan": ("esrgan", "upscale_models"),
    "taesd": ("taesd",),
    # The parts of split models (Flux, SD3, Wan, ...), in ComfyUI's folders and their aliases.
    "diffusion_model": ("diffusion_models", "unet"),
    "text_encoder": ("text_encoders", "clip", "t5", "llm"),
    "clip_vision": ("clip_vision",),
}
# Types whose files are told apart by their tensors (catalog/roles.py): role and family.
PART_TYPES = ("vae", "diffusion_model", "text_encoder", "clip_vision")
# "set": model sets (catalog/model_sets.py), named in the models folder's sets file, not a folder.
MODEL_TYPES = (*TYPE_FOLDERS, "set")
MODEL_EXTENSIONS = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin")
_EXTENSION_LIST = ", ".join(MODEL_EXTENSIONS)
DIFFUSERS_INDEX = "model_index.json"
# diffusers pipeline class -> family, for checkpoint folders in the diffusers layout.
_DIFFUSERS_PIPELINES = {
    "StableDiffusionPipeline": "SD1.x",
    "StableDiffusionXLPipeline": "SDXL",
    "StableDiffusion3Pipeline": "SD3",
    "FluxPipeline": "Flux",
}


@dataclass(frozen=True)
class FileStat:
    """What decides whether a file changed: a new size or mtime means read (and hash) it again."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScannedModel:
    type: str
    name: str  # path relative to its type folder, '/'-separated: the name requests use
    path: Path  # the path in the models folder (may be a symlink, or lie in a symlinked folder)
    real_path: Path  # the file itself, symlinks resolved; the key of the hash cache
    stat: FileStat
    format: str
    architecture: str | None = None
    variant: str | None = None  # "inpainting" / "instruct-pix2pix" checkpoints
    weight_type: str | None = None
    tensor_count: int | None = None
    components: tuple[str, ...] = ()
    role: str | None = None  # parts: diffusion_model, clip_l, clip_g, t5xxl, llm, vae, ...
    metadata_title: str | None = None
    error: str | None = None
    preview: Preview | None = None  # an image beside the file (catalog/previews.py)

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


def default_type_roots(models_dir: Path, configured: dict[str, Path] | None = None) -> dict[str, list[Path]]:
    """Each type's folders under the models folder (a type's canonical folder may be configured
    elsewhere: `configured` maps canonical folder names to paths); those missing now are looked at on
    every scan, so a folder created later (`mkdir lora`) is found by the next refresh."""
    configured = configured or {}
    return {
        kind: [configured.get(folders[0], models_dir / folders[0]), *(models_dir / f for f in folders[1:])]
        for kind, folders in TYPE_FOLDERS.items()
    }


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".safetensors": "safetensors", ".gguf": "gguf"}.get(suffix, "ckpt")


def describe_file(kind: str, name: str, path: Path, real_path: Path, stat: FileStat) -> ScannedModel:
    """One file's entry: format, and from its header the architecture and weight type."""
    # Format by the name in the folder: a symlink's target may have no extension (Hugging Face's blobs).
    base = ScannedModel(kind, name, path, real_path, stat, _format_of(path))
    try:
        header = read_header(real_path, path.suffix)
    except HeaderError as exc:
        log.warning("model file %s (%s) cannot be used: %s", name, kind, exc)
        return replace(base, error=str(exc))
    except Exception as exc:  # a reader bug must cost one entry, not the scan
        log.exception("unexpected error reading %s", real_path)
        return replace(base, error=f"cannot read header: {exc}")
    architecture: str | None = None
    variant: str | None = None
    if header.tensors:
        if kind in ("checkpoint", "controlnet"):
            architecture = detect_checkpoint_architecture(header.tensors)
        if kind == "checkpoint":
            variant = detect_checkpoint_variant(header.tensors)
        elif kind == "lora":
            architecture = detect_lora_architecture(header.tensors)
    part = detect_part(header.tensors) if kind in PART_TYPES and header.tensors else None
    if part is not None and part.role is not None:
        architecture = part.family or part_family_label(part)
    title = header.metadata.get("modelspec.title") or header.metadata.get("general.name")
    return replace(
        base,
        format=header.format,
        architecture=architecture,
        variant=variant,
        weight_type=weight_type(header.tensors),
        tensor_count=len(header.tensors) if header.tensors else None,
        components=COMPONENTS_BY_ARCH.get(architecture or "", ()) if kind == "checkpoint" else (),
        role=part.role if part is not None else None,
        metadata_title=title,
    )


def _describe_diffusers(name: str, folder: Path, real: Path, stat: FileStat) -> ScannedModel:
    import json

    base = ScannedModel("checkpoint", name, folder, real, stat, "diffusers")
    try:
        index = json.loads((real / DIFFUSERS_INDEX).read_text())
        arch = _DIFFUSERS_PIPELINES.get(str(index.get("_class_name")))
    except (OSError, ValueError, AttributeError) as exc:
        return replace(base, error=f"unreadable {DIFFUSERS_INDEX}: {exc}")
    return replace(base, architecture=arch, components=COMPONENTS_BY_ARCH.get(arch or "", ()))


# Files that sit beside models in the folders other tools share (previews, configs, notes): not
# models, and not worth a line in the list of skipped files either.
COMPANION_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".gif",
    ".yaml",
    ".yml",
    ".json",
    ".txt",
    ".md",
    ".info",
    ".html",
)


@dataclass(frozen=True)
class SkippedFile:
    """A file or folder in a model folder that the scan left out, and why (logged, and listed by
    `GET /api/models?include_errors=true`)."""

    type: str | None  # the type folder it sits in; None for the models folder itself
    path: Path  # where it was found (inside the models folder, or a type folder configured elsewhere)
    name: str  # relative to its type folder ('/'-separated), as a model there would be named
    reason: str


def iter_type_files(
    kind: str, roots: Iterable[Path], skipped: list[SkippedFile] | None = None
) -> Iterable[tuple[str, Path, Path]]:
    """(name, path, real path) of each model file under `roots`; the first root wins a name clash.

    Symlinks the administrator placed in a folder are followed wherever they point (one model library
    shared with other tools), files and folders alike; a link back to a folder above it (a loop) is not
    followed. Names stay paths inside the folder, so requests, which name models relative to their
    folder and never with '..', reach files outside only through such a link. What is left out is
    added to `skipped` with the reason."""
    seen: set[str] = set()
    found: list[SkippedFile] = skipped if skipped is not None else []
    for root in roots:
        try:
            real_root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue  # a type folder not made (yet): looked at again on the next scan
        for name, path, real in _walk(kind, root, root, (real_root,), found):
            if name not in seen:
                seen.add(name)
                yield name, path, real


def _walk(
    kind: str, root: Path, folder: Path, ancestors: tuple[Path, ...], skipped: list[SkippedFile]
) -> Iterator[tuple[str, Path, Path]]:
    """Depth first, sorted; `ancestors` are the real folders from the root down to `folder`: a folder
    whose real path is one of them is a loop."""

    def skip(path: Path, reason: str) -> None:
        skipped.append(SkippedFile(kind, path, path.relative_to(root).as_posix(), reason))

    try:
        children = sorted(os.scandir(folder), key=lambda child: child.name)
    except OSError as exc:
        if folder != root:
            skip(folder, f"folder cannot be read: {exc.strerror or exc}")
        return
    for child in children:
        if child.name.startswith("."):
            continue  # hidden: partial downloads and uploads, the trash, tools' own state
        path = folder / child.name
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            skip(path, "broken symlink: its target does not exist")
            continue
        except (OSError, RuntimeError) as exc:  # a loop of file links (Python 3.11: RuntimeError)
            skip(path, f"symlink cannot be resolved: {exc}")
            continue
        if real.is_dir():
            if real in ancestors:
                skip(path, "symlink loop: it leads back to a folder above it, not followed")
            elif kind == "checkpoint" and (real / DIFFUSERS_INDEX).is_file():
                yield path.relative_to(root).as_posix(), path, real
            else:
                yield from _walk(kind, root, path, (*ancestors, real), skipped)
            continue
        suffix = Path(child.name).suffix.lower()
        if suffix in COMPANION_EXTENSIONS:
            continue
        if suffix not in MODEL_EXTENSIONS:
            skip(
                path,
                f"unknown file type '{suffix or child.name}': model files end in {_EXTENSION_LIST}",
            )
        elif not real.is_file():
            skip(path, "not a regular file")
        else:
            yield path.relative_to(root).as_posix(), path, real


def stray_model_files(models_dir: Path) -> list[SkippedFile]:
    """Model files put straight into the models folder, where no type folder is: the first run's
    usual slip (they belong in checkpoints/, lora/, ...)."""
    try:
        children = sorted(os.scandir(models_dir), key=lambda child: child.name)
    except OSError:
        return []
    return [
        SkippedFile(
            None,
            models_dir / child.name,
            child.name,
            "not in a model-type folder: move it into checkpoints/, vae/, lora/ ... (see /api/models/types)",
        )
        for child in children
        if not child.name.startswith(".")
        and Path(child.name).suffix.lower() in MODEL_EXTENSIONS
        and child.is_file()
    ]


def scan(
    type_roots: Mapping[str, list[Path]],
    previous: Mapping[tuple[str, str], ScannedModel] | None = None,
    skipped: list[SkippedFile] | None = None,
) -> dict[tuple[str, str], ScannedModel]:
    """Every model under `type_roots`; entries of `previous` whose file has not changed are reused, so a
    refresh with no changes reads no header at all. What the walk leaves out goes to `skipped`."""
    previous = previous or {}
    found: dict[tuple[str, str], ScannedModel] = {}
    for kind, roots in type_roots.items():
        for name, path, real in iter_type_files(kind, roots, skipped):
            try:
                st = real.stat()
            except OSError:
                continue  # removed while we walked
            stat = FileStat(st.st_size, st.st_mtime_ns)
            old = previous.get((kind, name))
            if old is not None and old.stat == stat and old.real_path == real:
                entry = old
            elif real.is_dir():
                entry = _describe_diffusers(name, path, real, stat)
            else:
                entry = describe_file(kind, name, path, real, stat)
            # Looked for on every scan (a few stat calls): a preview added beside an unchanged model
            # is found by the next refresh. An unchanged entry stays the same object (refresh counts
            # a new object as a changed model).
            preview = find_preview(path, roots)
            found[(kind, name)] = entry if entry.preview == preview else replace(entry, preview=preview)
    return found
