"""Checkpoint listing and component resolution inside the models folder.

Layout: `{models_dir}/checkpoints/` (alias `stable-diffusion/`), `vae/`, `lora/`, `embeddings/`,
`taesd/`, `clip/`; the parts of split models in ComfyUI's folders: `diffusion_models/` (alias `unet/`),
`text_encoders/` (aliases `clip/`, `t5/`, `llm/`), `clip_vision/`. Checkpoint names are paths
relative to their folder ("sd15.safetensors", "sdxl/base.safetensors"); a name without its extension
also resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sdcpp_rest.catalog.scan import iter_type_files
from sdcpp_rest.paths import PathOutsideRoot, resolve_in_model_folder

CHECKPOINT_EXTENSIONS = (".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin")
CHECKPOINT_FOLDERS = ("checkpoints", "stable-diffusion")
COMPONENT_FOLDERS: dict[str, str] = {
    "vae_path": "vae",
    "taesd_path": "taesd",
    "clip_l_path": "clip",
    "clip_g_path": "clip",
    "embedding_dir": "embeddings",
    "lora_model_dir": "lora",
    "diffusion_model_path": "diffusion_models",
    "high_noise_diffusion_model_path": "diffusion_models",
    "t5xxl_path": "text_encoders",
    "llm_path": "text_encoders",
    "llm_vision_path": "text_encoders",
    "clip_vision_path": "clip_vision",
}
# Other folders a component is also looked for in, after its own (ComfyUI's names and older layouts).
TEXT_ENCODER_FOLDERS = ("text_encoders", "clip", "t5", "llm")
DIFFUSION_MODEL_FOLDERS = ("diffusion_models", "unet")
FOLDER_ALIASES: dict[str, tuple[str, ...]] = {
    "diffusion_models": DIFFUSION_MODEL_FOLDERS[1:],
    "text_encoders": TEXT_ENCODER_FOLDERS[1:],
    "clip": ("text_encoders", "t5", "llm"),
}
_FORMATS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".ckpt": "ckpt",
    ".pt": "ckpt",
    ".pth": "ckpt",
    ".bin": "ckpt",
}


class CatalogError(Exception):
    """A name from a request that names no file, or one outside its folder."""

    def __init__(self, message: str, *, field: str, outside: bool = False) -> None:
        super().__init__(message)
        self.field = field  # the request field that named it
        self.outside = outside


@dataclass(frozen=True)
class CheckpointFile:
    name: str
    path: Path
    size_bytes: int
    modified: float
    format: str


class ModelFiles:
    """Finds model files under the models folder; never reads weights."""

    def __init__(self, models_dir: Path, folders: dict[str, Path] | None = None) -> None:
        self.models_dir = models_dir
        # Folders configured on their own (e.g. vae_dir); the others live under models_dir.
        self._folders = dict(folders or {})

    def folder(self, name: str) -> Path:
        """The folder of one model type, by its canonical name (checkpoints, vae, lora, ...)."""
        return self._folders.get(name) or self.models_dir / name

    def checkpoint_roots(self) -> list[Path]:
        roots = [self.folder(CHECKPOINT_FOLDERS[0]), *(self.models_dir / f for f in CHECKPOINT_FOLDERS[1:])]
        return [root for root in roots if root.is_dir()]

    def list_checkpoints(self) -> list[CheckpointFile]:
        return _model_files_under(self.checkpoint_roots())

    def list_diffusion_models(self) -> list[CheckpointFile]:
        """The stand-alone diffusion models (Flux, SD3, ... in diffusion_models/ or unet/), by the name
        `model_name` and `diffusion_model` take."""
        roots = [self.folder(folder) for folder in DIFFUSION_MODEL_FOLDERS]
        return _model_files_under([root for root in roots if root.is_dir()])

    def resolve_checkpoint(self, name: str) -> CheckpointFile:
        """The checkpoint a request names: exact relative name, or the name without its extension."""
        for root in self.checkpoint_roots():
            try:
                path = resolve_in_model_folder(root, name)
            except PathOutsideRoot as exc:
                raise CatalogError(
                    f"model_name '{name}' is not inside the models folder: {exc}",
                    field="model_name",
                    outside=True,
                ) from None
            if path.is_file():
                stat = path.stat()
                # The real path, as the catalog and the workers' loaded model name it.
                return CheckpointFile(
                    name,
                    path.resolve(),
                    stat.st_size,
                    stat.st_mtime,
                    _FORMATS.get(path.suffix.lower(), "unknown"),
                )
        for checkpoint in self.list_checkpoints():
            if Path(checkpoint.name).with_suffix("").as_posix() == name:
                return checkpoint
        # Messages reach clients: name folders relative to the models folder, never server paths.
        raise CatalogError(
            f"model '{name}' not found in the models folder's {CHECKPOINT_FOLDERS[0]}/", field="model_name"
        )

    def component_roots(self, field: str) -> list[Path]:
        folder = COMPONENT_FOLDERS[field]
        return [self.folder(folder), *(self.models_dir / alias for alias in FOLDER_ALIASES.get(folder, ()))]

    def resolve_component(self, field: str, relative: str) -> Path:
        """A component file or folder named in a request, inside its type's folder (or an alias)."""
        folder = COMPONENT_FOLDERS[field]
        expect_dir = field.endswith("_dir")
        for root in self.component_roots(field):
            try:
                path = resolve_in_model_folder(root, relative)
            except PathOutsideRoot as exc:
                raise CatalogError(
                    f"{field}: '{relative}' is not inside the models folder's {folder}/: {exc}",
                    field=field,
                    outside=True,
                ) from None
            if (expect_dir and path.is_dir()) or (not expect_dir and path.is_file()):
                return path
        aliases = "".join(f", {alias}/" for alias in FOLDER_ALIASES.get(folder, ()))
        raise CatalogError(
            f"{field}: '{relative}' not found in the models folder's {folder}/{aliases}", field=field
        )

    def resolve_diffusion_model(self, name: str) -> str | None:
        """A stand-alone diffusion model `model_name` may name (exact relative name or without its
        extension): its name relative to its folder, as diffusion_model_path takes it; None when there
        is none of that name (the caller then reports the checkpoint)."""
        for root in (self.folder(folder) for folder in DIFFUSION_MODEL_FOLDERS):
            for candidate in (name, *(name + ext for ext in CHECKPOINT_EXTENSIONS)):
                try:
                    path = resolve_in_model_folder(root, candidate)
                except PathOutsideRoot:
                    return None
                if path.is_file():
                    return PurePosixPath(candidate).as_posix()
        return None


def _model_files_under(roots: list[Path]) -> list[CheckpointFile]:
    """Model files under `roots` as the catalog's scan finds them (symlinks followed, hidden part files
    left out), named relative to their root; the first root holding a name wins."""
    found = []
    for name, path, real in iter_type_files("", roots):
        if not real.is_file():
            continue
        stat = real.stat()
        # The format by the name in the folder: a link's target may have none (Hugging Face's blobs).
        found.append(CheckpointFile(name, real, stat.st_size, stat.st_mtime, _FORMATS[path.suffix.lower()]))
    return sorted(found, key=lambda item: item.name.lower())
