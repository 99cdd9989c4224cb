"""A request's family parameters against its model's family: the family is read from the model file's
header on submit, and a parameter the family does not take is refused naming the field (never dropped
silently). Also the server's default step-caching mode, which applies only where the family takes it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sdcpp_rest.catalog.detect import detect_checkpoint_architecture, weight_type
from sdcpp_rest.catalog.files import CatalogError, ModelFiles
from sdcpp_rest.catalog.headers import HeaderError, read_header
from sdcpp_rest.catalog.roles import detect_part
from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.schemas.family import CACHE_MODE_FAMILIES, FIELD_FAMILIES, FamilyFields


def model_family(files: ModelFiles, model_name: str, diffusion_model: str | None) -> str | None:
    """The family of the model a job runs; None when the file cannot tell (the engine decides)."""
    return _model_facts(files, model_name, diffusion_model)[0]


def model_weight_type(files: ModelFiles, model_name: str, diffusion_model: str | None) -> str | None:
    """The weight type of the model a job runs (f16, q8_0 ...); None when the file cannot tell."""
    return _model_facts(files, model_name, diffusion_model)[1]


def _model_facts(
    files: ModelFiles, model_name: str, diffusion_model: str | None
) -> tuple[str | None, str | None]:
    try:
        if diffusion_model:
            path = files.resolve_component("diffusion_model_path", diffusion_model)
        else:
            path = Path(files.resolve_checkpoint(model_name).path)
        stat = path.stat()
        return _facts_of_file(str(path), stat.st_mtime_ns, stat.st_size, bool(diffusion_model))
    except (CatalogError, HeaderError, OSError):
        return None, None


# Parsing a checkpoint's header costs milliseconds of CPU (an SD1.5 header is a JSON of over 1,000
# tensors) on every submit, taken from a generation that may be running; the file's identity (path,
# modification time, size) keys the answer, so a replaced file is read again.
@lru_cache(maxsize=256)
def _facts_of_file(
    path: str, _mtime_ns: int, _size: int, diffusion_model: bool
) -> tuple[str | None, str | None]:
    """The family and the weight type of a model file."""
    tensors = read_header(Path(path)).tensors
    family = detect_part(tensors).family if diffusion_model else detect_checkpoint_architecture(tensors)
    return family, weight_type(tensors)


def check_family_fields(request: FamilyFields, family: str | None) -> None:
    """InvalidParameters naming the first field `family` does not take."""
    if family is None:
        return
    for name in request.family_fields_given():
        families = FIELD_FAMILIES[name]
        if family not in families:
            raise InvalidParameters(
                f"{name}: {family} models do not take it (it applies to {', '.join(families)})", field=name
            )
    mode = request.cache_mode
    if mode is not None and family not in CACHE_MODE_FAMILIES[mode]:
        raise InvalidParameters(
            f"cache_mode: '{mode}' does not run on {family} models (it runs on "
            f"{', '.join(CACHE_MODE_FAMILIES[mode])})",
            field="cache_mode",
        )


def resolved_cache_mode(requested: str | None, default: str, family: str | None) -> str:
    """The request's cache mode, else the server default where the family takes it, else none."""
    if requested is not None:
        return requested
    if family is not None and family in CACHE_MODE_FAMILIES[default]:
        return default
    return "none"
