"""Walk the models folders and describe every model file from its header (never its weights).

One folder per type (with the aliases other tools use), recursive. Symlinks are followed only while
their target stays inside the configured roots, so a link cannot publish /etc or a home folder through
the API. A file that cannot be read is listed with an `error`, never ends the scan.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
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
    path: Path  # the path in the models folder (may be a symlink inside the roots)
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
    base = ScannedModel(kind, name, path, real_path, stat, _format_of(real_path))
    try:
        header = read_header(real_path)
    except HeaderError as exc:
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


def iter_type_files(kind: str, roots: Iterable[Path]) -> Iterable[tuple[str, Path, Path]]:
    """(name, path, real path) of each model file under `roots`; the first root wins a name clash.

    A file counts only if its real path stays inside its own root: the same rule `resolve_inside`
    applies to names in requests, so whatever is listed can also be used."""
    seen: set[str] = set()
    for root in roots:
        try:
            allowed = root.resolve()
        except OSError:
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            here = Path(dirpath)
            kept = []
            for d in sorted(dirnames):
                if d.startswith("."):
                    continue
                real = (here / d).resolve()
                # A symlinked folder is followed only while it stays inside its root; the check on
                # the real path also stops symlink loops (a loop resolves to an ancestor already walked
                # only through a link, which os.walk would otherwise descend into for ever).
                if not _inside(real, allowed) or ((here / d).is_symlink() and _is_ancestor(real, here)):
                    continue
                if kind == "checkpoint" and (real / DIFFUSERS_INDEX).is_file():
                    name = (here / d).relative_to(root).as_posix()
                    if name not in seen:
                        seen.add(name)
                        yield name, here / d, real
                    continue
                kept.append(d)
            dirnames[:] = kept
            for filename in sorted(filenames):
                if filename.startswith(".") or Path(filename).suffix.lower() not in MODEL_EXTENSIONS:
                    continue
                path = here / filename
                try:
                    real = path.resolve()
                except (OSError, RuntimeError):
                    continue
                if not _inside(real, allowed) or not real.is_file():
                    continue
                name = path.relative_to(root).as_posix()
                if name not in seen:
                    seen.add(name)
                    yield name, path, real


def _inside(real: Path, root: Path) -> bool:
    return real == root or real.is_relative_to(root)


def _is_ancestor(real: Path, here: Path) -> bool:
    try:
        return here.resolve().is_relative_to(real)
    except OSError:
        return True


def scan(
    type_roots: Mapping[str, list[Path]],
    previous: Mapping[tuple[str, str], ScannedModel] | None = None,
) -> dict[tuple[str, str], ScannedModel]:
    """Every model under `type_roots`; entries of `previous` whose file has not changed are reused, so a
    refresh with no changes reads no header at all."""
    previous = previous or {}
    found: dict[tuple[str, str], ScannedModel] = {}
    for kind, roots in type_roots.items():
        for name, path, real in iter_type_files(kind, roots):
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
