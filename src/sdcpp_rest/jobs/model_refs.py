"""Files a generation names besides its checkpoint: LoRAs, TAESD, embeddings, ControlNet and ESRGAN
models, the components (VAE, CLIP). Used twice: on submit, to refuse a bad name before the job is a
row; on run, to turn the stored names into paths again (files may have changed while the job waited).

Every error names the request field at fault: a name out of its folder is INVALID_PARAMETERS, a file
that is not there MODEL_NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sdcpp_rest.catalog.files import COMPONENT_FOLDERS, CatalogError, ModelFiles
from sdcpp_rest.errors import ApiError, InvalidParameters, ModelNotFound
from sdcpp_rest.paths import PathOutsideRoot, resolve_in_model_folder
from sdcpp_rest.schemas.options import LORA_TAG, GenerationOptions, LoraRef
from sdcpp_rest.schemas.parameters import HIRES_LATENT_UPSCALERS

# The binding tries these extensions after the bare name (stable_diffusion.py, _extract_and_build_loras).
LORA_EXTENSIONS = (".safetensors", ".pt", ".gguf")
MODEL_EXTENSIONS = (".safetensors", ".gguf", ".pth", ".pt", ".bin", ".ckpt")
EMBEDDING_EXTENSIONS = (".safetensors", ".pt", ".bin", ".gguf")
CONTROLNET_FOLDER, ESRGAN_FOLDER = "controlnet", "esrgan"


@dataclass(frozen=True)
class LoraFile:
    name: str  # as the request named it
    weight: float
    path: Path


def catalog_error(exc: CatalogError) -> ApiError:
    """A path out of its folder is a bad request; a file that is not there, a missing model."""
    error = InvalidParameters if exc.outside else ModelNotFound
    return error(str(exc), field=exc.field)


def resolve_named(files: ModelFiles, folder: str, field: str, name: str, extensions: tuple[str, ...]) -> Path:
    """A file named by a request inside `models/{folder}`, with or without its extension."""
    return _resolve_in(files.folder(folder), folder, field, name, extensions, "")


def _resolve_in(
    root: Path, folder: str, field: str, name: str, extensions: tuple[str, ...], what: str
) -> Path:
    for candidate in (name, *(name + ext for ext in extensions)):
        try:
            path = resolve_in_model_folder(root, candidate)
        except PathOutsideRoot as exc:
            raise InvalidParameters(
                f"{field}: {what}'{name}' is not inside the models folder's {folder}/: {exc}", field=field
            ) from None
        if path.is_file():
            return path
    raise ModelNotFound(f"{field}: {what}'{name}' not found in the models folder's {folder}/", field=field)


def component_path(files: ModelFiles, field: str, value: str | None) -> str:
    """The path of a component the request names (vae_path, clip_l_path ...), "" when none."""
    if not value:
        return ""
    try:
        return str(files.resolve_component(field, value))
    except CatalogError as exc:
        raise catalog_error(exc) from None


def lora_root(files: ModelFiles, lora_model_dir: str | None) -> Path:
    if lora_model_dir:
        return Path(component_path(files, "lora_model_dir", lora_model_dir))
    return files.folder(COMPONENT_FOLDERS["lora_model_dir"])


def resolve_loras(
    files: ModelFiles, prompt: str, loras: Sequence[LoraRef], lora_model_dir: str | None
) -> list[LoraFile]:
    """Every LoRA: `<lora:NAME:W>` tags of the prompt, then the `loras` list."""
    found: list[LoraFile] = []
    root = lora_root(files, lora_model_dir)
    folder = f"{COMPONENT_FOLDERS['lora_model_dir']}/{lora_model_dir or ''}".rstrip("/")
    for name, weight_text in LORA_TAG.findall(prompt):
        try:
            weight = float(weight_text)
        except ValueError:
            raise InvalidParameters(
                f"prompt: LoRA weight '{weight_text}' of '{name}' is not a number", field="prompt"
            ) from None
        found.append(
            LoraFile(name, weight, _resolve_in(root, folder, "prompt", name, LORA_EXTENSIONS, "LoRA "))
        )
    for index, lora in enumerate(loras):
        field = f"loras.{index}.name"
        path = _resolve_in(root, folder, field, lora.name, LORA_EXTENSIONS, "LoRA ")
        found.append(LoraFile(lora.name, lora.weight, path))
    return found


def taesd_file(files: ModelFiles, taesd_path: str | None, use_taesd: bool) -> Path | None:
    """taesd_path if given; else with use_taesd the first file of models/taesd."""
    if taesd_path:
        return Path(component_path(files, "taesd_path", taesd_path))
    if not use_taesd:
        return None
    folder = files.folder(COMPONENT_FOLDERS["taesd_path"])
    candidates = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in MODEL_EXTENSIONS)
    if not candidates:
        raise InvalidParameters("use_taesd: no TAESD file in the models folder's taesd/", field="use_taesd")
    return candidates[0]


def embedding_files(files: ModelFiles, embedding_dir: str | None, prompts: str) -> tuple[str, ...]:
    """With embedding_dir: every embedding file of that folder. Without: the files of
    models/embeddings whose name appears as a word in the prompts (loading only those keeps a broken,
    unused embedding from breaking every job)."""
    if embedding_dir:
        folder = Path(component_path(files, "embedding_dir", embedding_dir))
        words = None
    else:
        folder = files.folder(COMPONENT_FOLDERS["embedding_dir"])
        words = set(re.findall(r"[\w.-]+", prompts))
    if not folder.is_dir():
        return ()
    return tuple(
        str(path)
        for path in sorted(folder.iterdir())
        if path.is_file()
        and path.suffix.lower() in EMBEDDING_EXTENSIONS
        and (words is None or path.stem in words)
    )


def hires_upscaler(files: ModelFiles, name: str) -> tuple[str, str]:
    """(the engine's upscaler kind, the ESRGAN model path or "") of a hires fix's `upscaler`."""
    if name in HIRES_LATENT_UPSCALERS:
        return name, ""
    return "model", str(resolve_named(files, ESRGAN_FOLDER, "hires.upscaler", name, MODEL_EXTENSIONS))


def esrgan_file(files: ModelFiles, name: str | None, field: str = "upscaler") -> Path | None:
    return resolve_named(files, ESRGAN_FOLDER, field, name, MODEL_EXTENSIONS) if name else None


def controlnet_file(files: ModelFiles, name: str | None) -> Path | None:
    return resolve_named(files, CONTROLNET_FOLDER, "control_net", name, MODEL_EXTENSIONS) if name else None


def check_options(
    files: ModelFiles,
    options: GenerationOptions,
    prompt: str,
    lora_model_dir: str | None,
    taesd_path: str | None,
) -> None:
    """Every file the shared options name exists in its folder (an ApiError naming the field if not)."""
    resolve_loras(files, prompt, options.loras, lora_model_dir)
    taesd_file(files, taesd_path, options.use_taesd)
    esrgan_file(files, options.upscaler)
    if options.hires is not None:
        hires_upscaler(files, options.hires.upscaler)


def lora_names(prompt: str, loras: Sequence[LoraRef]) -> list[str]:
    """The LoRAs a generation names: prompt tags first, then the `loras` list."""
    return [name for name, _ in LORA_TAG.findall(prompt)] + [lora.name for lora in loras]
