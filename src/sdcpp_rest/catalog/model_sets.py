"""Model sets: a name for a split model's parts (diffusion model, encoders, VAE) and its defaults, so a
request names one model instead of five files.

Defined sets live in `{models_dir}/model_sets.toml`:

    [sets.flux1-schnell]
    diffusion_model = "flux1-schnell-q4_0.gguf"
    clip_l = "clip_l.safetensors"
    t5xxl = "t5xxl_fp16.safetensors"
    vae = "ae.safetensors"
    [sets.flux1-schnell.defaults]
    steps = 4
    cfg_scale = 1.0

Automatic sets come from the catalog: a diffusion model whose family's parts have exactly one
fitting file each (and at most one of an optional part) is offered as a set named after its file.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sdcpp_rest.catalog.roles import VAE, VAE_LATENT_CHANNELS, PartKind, part_family_label
from sdcpp_rest.catalog.scan import FileStat, ScannedModel

SETS_FILE = "model_sets.toml"
SET_TYPE = "set"
# A set's part keys (a request's field names without `_path`) and the request field each fills.
PART_FIELDS = {
    "diffusion_model": "diffusion_model_path",
    "high_noise_diffusion_model": "high_noise_diffusion_model_path",
    "clip_l": "clip_l_path",
    "clip_g": "clip_g_path",
    "t5xxl": "t5xxl_path",
    "llm": "llm_path",
    "llm_vision": "llm_vision_path",
    "clip_vision": "clip_vision_path",
    "vae": "vae_path",
}
# The request fields a set may give defaults for.
DEFAULT_FIELDS = (
    "steps",
    "cfg_scale",
    "sampling_method",
    "scheduler",
    "guidance",
    "flow_shift",
    "width",
    "height",
    "cache_mode",
)
# What a family needs besides its diffusion model (required, optional), for automatic sets.
FAMILY_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Flux": (("clip_l", "vae"), ("t5xxl",)),
    "SD3": (("clip_l", "clip_g", "vae"), ("t5xxl",)),
    "Chroma": (("t5xxl", "vae"), ()),
    "Flux.2": (("llm", "vae"), ()),
    "Qwen-Image": (("llm", "vae"), ()),
    "Z-Image": (("llm", "vae"), ()),
}
SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DEFAULT_VALUE = str | int | float | bool


class ModelSetError(ValueError):
    """A set that cannot be (a bad name or part, an unreadable sets file)."""


@dataclass(frozen=True)
class ModelSet:
    name: str
    parts: dict[str, str]  # part key -> file name in its folder
    defaults: dict[str, _DEFAULT_VALUE] = field(default_factory=dict)
    automatic: bool = False


def read_sets(models_dir: Path) -> dict[str, ModelSet]:
    """The sets of the models folder's sets file ({} when there is none)."""
    path = models_dir / SETS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelSetError(f"{SETS_FILE}: cannot be read: {exc}") from None
    sets: dict[str, ModelSet] = {}
    for name, body in dict(data.get("sets", {})).items():
        if not isinstance(body, dict):
            raise ModelSetError(f"{SETS_FILE}: sets.{name} must be a table")
        defaults = body.get("defaults", {})
        parts = {key: value for key, value in body.items() if key != "defaults"}
        sets[name] = validated_set(name, parts, defaults if isinstance(defaults, dict) else {})
    return sets


def validated_set(name: str, parts: Mapping[str, object], defaults: Mapping[str, object]) -> ModelSet:
    if not SET_NAME.match(name):
        raise ModelSetError(f"name: '{name}' is not a set name (letters, digits, '.', '_', '-')")
    unknown = sorted(set(parts) - set(PART_FIELDS)) + sorted(set(defaults) - set(DEFAULT_FIELDS))
    if unknown:
        raise ModelSetError(f"{unknown[0]}: not a part ({', '.join(PART_FIELDS)}) or default of a set")
    if not isinstance(parts.get("diffusion_model"), str):
        raise ModelSetError("diffusion_model: a set needs its diffusion model")
    for key, value in parts.items():
        if not isinstance(value, str) or not value:
            raise ModelSetError(f"{key}: must be a file name")
    for key, value in defaults.items():
        if not isinstance(value, str | int | float | bool):
            raise ModelSetError(f"defaults.{key}: must be a string, number or boolean")
    return ModelSet(name, {k: str(v) for k, v in parts.items()}, dict(defaults))  # type: ignore[arg-type]


def _toml_value(value: _DEFAULT_VALUE) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_sets(models_dir: Path, sets: Mapping[str, ModelSet]) -> None:
    """Write the defined (not automatic) sets, atomically."""
    lines = ["# Model sets (see README.md, 'Model sets'); written by sdcpp-rest.", ""]
    for model_set in sets.values():
        if model_set.automatic:
            continue
        lines.append(f'[sets."{model_set.name}"]')
        lines += [f"{key} = {_toml_value(value)}" for key, value in model_set.parts.items()]
        if model_set.defaults:
            lines.append(f'[sets."{model_set.name}".defaults]')
            lines += [f"{key} = {_toml_value(value)}" for key, value in model_set.defaults.items()]
        lines.append("")
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=models_dir, prefix=".model_sets.", suffix=".partial")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.replace(partial, models_dir / SETS_FILE)


def _vae_fits(entry: ScannedModel, family: str) -> bool:
    channels = VAE_LATENT_CHANNELS.get(family)
    return channels is not None and entry.architecture == part_family_label(
        PartKind(VAE, latent_channels=channels)
    )


def automatic_sets(entries: Mapping[tuple[str, str], ScannedModel]) -> dict[str, ModelSet]:
    """A set for each diffusion model whose family's parts the catalog can pair without a choice."""
    by_role: dict[str, list[ScannedModel]] = {}
    for entry in entries.values():
        if entry.role and entry.type in ("text_encoder", "vae"):
            by_role.setdefault(entry.role, []).append(entry)
    found: dict[str, ModelSet] = {}
    for entry in entries.values():
        if entry.type != "diffusion_model" or entry.architecture not in FAMILY_PARTS:
            continue
        family = entry.architecture
        required, optional = FAMILY_PARTS[family]
        parts = {"diffusion_model": entry.name}
        for key in (*required, *optional):
            fitting = [e for e in by_role.get(key, []) if key != VAE or _vae_fits(e, family)]
            if len(fitting) == 1:
                parts[key] = fitting[0].name
            elif key in required:
                break
        else:
            name = Path(entry.name).stem.replace("/", "-")
            if SET_NAME.match(name):
                found[name] = ModelSet(name, parts, automatic=True)
    return found


def set_entries(
    models_dir: Path, sets: Mapping[str, ModelSet], entries: Mapping[tuple[str, str], ScannedModel]
) -> dict[tuple[str, str], ScannedModel]:
    """Catalog entries (type `set`) for the sets: the diffusion model's family and size; the parts'
    fields as `components`."""
    found: dict[tuple[str, str], ScannedModel] = {}
    for model_set in sets.values():
        model = entries.get(("diffusion_model", model_set.parts["diffusion_model"]))
        size = sum(
            e.stat.size
            for key, value in model_set.parts.items()
            if (e := entries.get((part_type(key), value))) is not None
        )
        stat = FileStat(size, model.stat.mtime_ns if model else 0)
        path = models_dir / SETS_FILE
        base = ScannedModel(SET_TYPE, model_set.name, path, path, stat, SET_TYPE)
        found[(SET_TYPE, model_set.name)] = replace(
            base,
            architecture=model.architecture if model else None,
            components=tuple(PART_FIELDS[key] for key in model_set.parts),
            metadata_title="automatic" if model_set.automatic else None,
            error=None if model else f"diffusion model '{model_set.parts['diffusion_model']}' not found",
        )
    return found


def part_type(key: str) -> str:
    """The catalog type of a set's part."""
    if key.endswith("diffusion_model"):
        return "diffusion_model"
    if key == "vae":
        return "vae"
    return "clip_vision" if key == "clip_vision" else "text_encoder"
