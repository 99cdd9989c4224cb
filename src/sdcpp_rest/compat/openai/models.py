"""GET /v1/models: the checkpoints, as OpenAI model cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from sdcpp_rest.api.deps import CatalogDep
from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.compat.checkpoints import find_checkpoint, models_of
from sdcpp_rest.compat.credentials import bearer_principal, requiring
from sdcpp_rest.compat.openai.schemas import ModelCard, ModelList
from sdcpp_rest.errors import ModelNotFound

router = APIRouter(tags=["models"])
ReadUser = Annotated[Principal, Depends(requiring(bearer_principal, Permission.MODELS_READ, "Bearer"))]


def _card(view: ModelView) -> ModelCard:
    return ModelCard(id=view.model.name, created=view.model.stat.mtime_ns // 1_000_000_000)


@router.get("/models", response_model=ModelList, summary="The checkpoints")
def list_models(catalog: CatalogDep, _principal: ReadUser) -> ModelList:
    return ModelList(data=[_card(view) for view in models_of(catalog, "checkpoint")])


@router.get("/models/{model_id:path}", response_model=ModelCard, summary="One checkpoint")
def get_model(model_id: str, catalog: CatalogDep, _principal: ReadUser) -> ModelCard:
    try:
        return _card(find_checkpoint(catalog, model_id))
    except ModelNotFound:
        raise ModelNotFound(f"The model '{model_id}' does not exist", field="model") from None
