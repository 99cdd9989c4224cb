"""The catalog as the compat APIs need it: model files of a type, the checkpoint a client names
(AUTOMATIC1111's title `name [short hash]`, a name, a hash), and the checkpoint to use when a client
names none. Reads only the in-memory catalog; names are checked again by the planner on submit."""

from __future__ import annotations

import re
from pathlib import Path

from sdcpp_rest.catalog.service import SHORT_HASH_LENGTH, CatalogService, ModelQuery, ModelView
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.planning import JobPlanner

# AUTOMATIC1111's checkpoint title: the file name, then the short hash in brackets.
_TITLE = re.compile(r"^(?P<name>.*?)\s*\[(?P<hash>[0-9a-fA-F]{8,64})\]$")


def models_of(catalog: CatalogService, kind: str) -> list[ModelView]:
    """Every model file of `kind` (checkpoint, vae, lora, esrgan, embedding, ...), by name."""
    return catalog.list_models(ModelQuery(type=kind, limit=0)).items


def short_hash(view: ModelView) -> str | None:
    return view.hash.sha256[:SHORT_HASH_LENGTH] if view.hash else None


def title(view: ModelView) -> str:
    """`name [short hash]`, or the name alone while the hash is being computed."""
    digest = short_hash(view)
    return f"{view.model.name} [{digest}]" if digest else view.model.name


def stem(name: str) -> str:
    return Path(name).with_suffix("").as_posix()


def find_checkpoint(catalog: CatalogService, reference: str) -> ModelView:
    """The checkpoint a client names: a title, a file name with or without extension, a hash."""
    reference = reference.strip()
    match = _TITLE.match(reference)
    candidates = [match["name"], match["hash"].lower()] if match else [reference]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return catalog.get(candidate, kind="checkpoint")
        except ModelNotFound:
            continue
    raise ModelNotFound(f"model '{reference}' not found (see the list of checkpoints)", field="model")


def default_checkpoint(planner: JobPlanner, catalog: CatalogService) -> ModelView | None:
    """The checkpoint a request that names none uses: the native choice (default_model, the loaded
    one, the only one); where that needs a name because there are several, the first by name, since
    these clients cannot be asked for one. None when there is no checkpoint at all."""
    try:
        return catalog.get(planner.resolve_model_name(None), kind="checkpoint")
    except (InvalidParameters, ModelNotFound):
        checkpoints = models_of(catalog, "checkpoint")
        return checkpoints[0] if checkpoints else None
