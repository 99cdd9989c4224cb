"""Model sets: list them (as /api/models does, with type=set), define, replace and delete them (admins).
Registered before api/models.py, whose /api/models/{model_id} would otherwise take these paths."""

from __future__ import annotations

from fastapi import APIRouter, status

from sdcpp_rest.api.deps import AdminUser, CatalogDep, ModelsReadDep
from sdcpp_rest.catalog.model_sets import ModelSet, ModelSetError, part_type, validated_set
from sdcpp_rest.catalog.service import CatalogService
from sdcpp_rest.errors import ApiError, ErrorCode, InvalidParameters, ModelNotFound
from sdcpp_rest.schemas.model_sets import ModelSetBody, ModelSetPublic, ModelSetsReply, NewModelSetBody
from sdcpp_rest.schemas.recommended import recommended_for

router = APIRouter(prefix="/api/models", tags=["models"])


def _public(catalog: CatalogService, model_set: ModelSet) -> ModelSetPublic:
    try:
        family = catalog.get(model_set.parts["diffusion_model"], kind="diffusion_model").model.architecture
    except ModelNotFound:
        family = None
    return ModelSetPublic(
        name=model_set.name,
        automatic=model_set.automatic,
        parts=model_set.parts,
        defaults=model_set.defaults,
        recommended=recommended_for(family, model_set.defaults),
    )


def _checked(catalog: CatalogService, name: str, body: ModelSetBody) -> ModelSet:
    """The set, its parts found in their folders (the catalog's names), its defaults known fields."""
    try:
        model_set = validated_set(name, body.parts(), body.defaults)
    except ModelSetError as exc:
        raise InvalidParameters(str(exc), field=str(exc).split(":", 1)[0]) from None
    parts = {}
    for key, value in model_set.parts.items():
        try:
            # The catalog's own name: what generation requests resolve in the part's folders.
            parts[key] = catalog.get(value, kind=part_type(key)).model.name
        except ModelNotFound:
            message = f"{key}: no {part_type(key)} '{value}' (see /api/models)"
            raise ModelNotFound(message, field=key) from None
    return ModelSet(model_set.name, parts, model_set.defaults)


@router.get("/sets", response_model=ModelSetsReply, summary="Model sets, defined and automatic")
def list_sets(catalog: CatalogDep, _principal: ModelsReadDep) -> ModelSetsReply:
    return ModelSetsReply(sets=[_public(catalog, model_set) for model_set in catalog.model_sets()])


@router.post(
    "/sets", response_model=ModelSetPublic, status_code=status.HTTP_201_CREATED, summary="Define a model set"
)
def create_set(body: NewModelSetBody, catalog: CatalogDep, _admin: AdminUser) -> ModelSetPublic:
    existing = catalog.model_set(body.name)
    if existing is not None and not existing.automatic:
        raise ApiError(
            f"name: model set '{body.name}' exists; PUT /api/models/sets/{body.name} replaces it",
            field="name",
            code=ErrorCode.INVALID_PARAMETERS,
            status_code=409,
        )
    model_set = _checked(catalog, body.name, body)
    catalog.save_set(model_set)
    return _public(catalog, model_set)


@router.put("/sets/{name}", response_model=ModelSetPublic, summary="Define or replace a model set")
def replace_set(name: str, body: ModelSetBody, catalog: CatalogDep, _admin: AdminUser) -> ModelSetPublic:
    model_set = _checked(catalog, name, body)
    catalog.save_set(model_set)
    return _public(catalog, model_set)


@router.delete("/sets/{name}", response_model=ModelSetPublic, summary="Delete a defined model set")
def delete_set(name: str, catalog: CatalogDep, _admin: AdminUser) -> ModelSetPublic:
    model_set = catalog.model_set(name)
    if model_set is None or model_set.automatic or not catalog.delete_set(name):
        what = "an automatic set (it goes when its parts do)" if model_set else "no defined set"
        raise ModelNotFound(f"model set '{name}' is {what}")
    return _public(catalog, model_set)
