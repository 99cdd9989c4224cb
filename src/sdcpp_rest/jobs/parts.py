"""The separate parts of a split model in a job: do they fit each other, and how a job names them.

Checked when the job starts (the files may have changed while it waited): a part of the wrong kind (a
T5 file given as clip_l, a 4-channel SD VAE with a Flux model) fails the job with MODEL_LOAD_FAILED
and a message naming the part, before the engine sees it; the engine would refuse the load with a
list of missing tensors that names no part, or worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdcpp_rest.catalog.headers import HeaderError, read_header
from sdcpp_rest.catalog.roles import FIELD_ROLES, PartKind, detect_part, part_mismatch
from sdcpp_rest.errors import ErrorCode
from sdcpp_rest.jobs.params import Text2ImgParams
from sdcpp_rest.jobs.records import JobPreparationError

# Request field -> how messages and the PNG parameters name the part.
PART_NAMES = {
    "diffusion_model_path": "diffusion_model",
    "high_noise_diffusion_model_path": "high_noise_diffusion_model",
    "clip_l_path": "clip_l",
    "clip_g_path": "clip_g",
    "t5xxl_path": "t5xxl",
    "llm_path": "llm",
    "llm_vision_path": "llm_vision",
    "clip_vision_path": "clip_vision",
    "vae_path": "vae",
}
_INFOTEXT_KEYS = {
    "clip_l_path": "CLIP-L",
    "clip_g_path": "CLIP-G",
    "t5xxl_path": "T5-XXL",
    "llm_path": "LLM",
    "llm_vision_path": "LLM vision",
    "clip_vision_path": "CLIP vision",
    "high_noise_diffusion_model_path": "High noise model",
}


def _kind(path: str) -> PartKind:
    try:
        return detect_part(read_header(Path(path)).tensors)
    except HeaderError:
        return PartKind(None)  # unreadable: the engine's load reports it


def check_parts(components: dict[str, str], model_file: Path | None = None) -> None:
    """Raise JobPreparationError when a part is not what its field needs, or a VAE does not fit the
    family of the diffusion model (or of the checkpoint `model_file`)."""
    named = {field: path for field, path in components.items() if field in FIELD_ROLES and path}
    if not named:
        return
    main = named.get("diffusion_model_path") or (str(model_file) if model_file else "")
    family = _kind(main).family if main else None
    for field, path in named.items():
        reason = part_mismatch(field, _kind(path), family)
        if reason is not None:
            raise JobPreparationError(
                ErrorCode.MODEL_LOAD_FAILED, f"{PART_NAMES[field]} '{Path(path).name}' {reason}"
            )


def part_labels(p: Text2ImgParams) -> list[tuple[str, str | None]]:
    """(part name, file name) of the parts beyond VAE and checkpoint, for messages about a failed job."""
    return [(name, getattr(p, field)) for field, name in PART_NAMES.items() if field != "vae_path"]


def parts_infotext(p: Text2ImgParams) -> dict[str, Any]:
    """The PNG `parameters` fields naming the text encoders and other parts a job used."""
    return {key: Path(value).stem for field, key in _INFOTEXT_KEYS.items() if (value := getattr(p, field))}
