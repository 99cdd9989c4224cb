"""AUTOMATIC1111's listings (checkpoints, VAEs, LoRAs, upscalers, samplers, ...) and its settings
(GET/POST /sdapi/v1/options), answered from the catalog and the per-user options."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from sdcpp_rest.api.deps import CatalogDep, PlannerDep, SettingsDep, StylesDep
from sdcpp_rest.auth.permissions import Principal
from sdcpp_rest.catalog.service import CatalogService, ModelView
from sdcpp_rest.compat.a1111.deps import GenerateUser, ManageUser, OptionsDep, ReadUser
from sdcpp_rest.compat.a1111.options import NO_VAE, OptionsStore
from sdcpp_rest.compat.a1111.vocab import (
    LATENT_UPSCALERS,
    NO_UPSCALER,
    PIXEL_UPSCALERS,
    SAMPLER_NAMES,
    SCHEDULER_NAMES,
)
from sdcpp_rest.compat.checkpoints import default_checkpoint, find_checkpoint, models_of, stem, title
from sdcpp_rest.errors import InvalidParameters, ModelNotFound
from sdcpp_rest.jobs.planning import JobPlanner

router = APIRouter(tags=["models and settings"])
# The scale A1111 reports for upscalers it cannot measure (ESRGAN models are mostly x4).
UPSCALER_SCALE = 4
CLIP_STOP_RANGE = (1, 12)


def _current_checkpoint(
    principal: Principal, store: OptionsStore, planner: JobPlanner, catalog: CatalogService
) -> ModelView | None:
    chosen = store.get(principal.user_id).checkpoint
    if chosen:
        try:
            return find_checkpoint(catalog, chosen)
        except ModelNotFound:
            pass
    return default_checkpoint(planner, catalog)


@router.get("/sd-models", summary="Checkpoints")
def sd_models(catalog: CatalogDep, _principal: ReadUser) -> list[dict[str, Any]]:
    return [
        {
            "title": title(view),
            "model_name": stem(view.model.name),
            "hash": view.hash.sha256[:10] if view.hash else None,
            "sha256": view.hash.sha256 if view.hash else None,
            "filename": view.relative_path,
            "config": None,
        }
        for view in models_of(catalog, "checkpoint")
    ]


@router.get("/options", summary="Settings (the caller's)")
def get_options(
    principal: ReadUser, store: OptionsDep, planner: PlannerDep, catalog: CatalogDep
) -> dict[str, Any]:
    options = store.get(principal.user_id)
    checkpoint = _current_checkpoint(principal, store, planner, catalog)
    return {
        "sd_model_checkpoint": title(checkpoint) if checkpoint else None,
        "sd_checkpoint_hash": checkpoint.hash.sha256 if checkpoint and checkpoint.hash else None,
        "sd_vae": options.vae or "Automatic",
        "CLIP_stop_at_last_layers": options.clip_stop_at_last_layers,
        "samples_format": "png",
        "live_previews_enable": options.live_previews,
        "show_progress_every_n_steps": options.preview_every_n_steps,
        "live_preview_content": "Combined",
        "sd_checkpoints_limit": 1,
        "enable_pnginfo": True,
        "save_images_add_number": True,
    }


def _int_option(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidParameters(f"{name} must be an integer", field=name) from None
    if not low <= number <= high:
        raise InvalidParameters(f"{name} must be from {low} to {high}", field=name)
    return number


@router.post("/options", summary="Change settings (the caller's); unknown keys are ignored")
def set_options(
    principal: GenerateUser,
    store: OptionsDep,
    catalog: CatalogDep,
    body: dict[str, Any] = Body(...),
) -> bool:
    changes: dict[str, Any] = {}
    checkpoint = body.get("sd_model_checkpoint")
    if checkpoint:
        changes["checkpoint"] = find_checkpoint(catalog, str(checkpoint)).model.name
    if "sd_vae" in body:
        vae = body["sd_vae"]
        changes["vae"] = (
            None if vae is None or vae in NO_VAE else catalog.get(str(vae), kind="vae").model.name
        )
    if body.get("CLIP_stop_at_last_layers") is not None:
        low, high = CLIP_STOP_RANGE
        changes["clip_stop_at_last_layers"] = _int_option(
            body["CLIP_stop_at_last_layers"], "CLIP_stop_at_last_layers", low, high
        )
    if body.get("live_previews_enable") is not None:
        changes["live_previews"] = bool(body["live_previews_enable"])
    if body.get("show_progress_every_n_steps") is not None:
        every = _int_option(body["show_progress_every_n_steps"], "show_progress_every_n_steps", -1, 150)
        # A1111: -1 shows only the final image, 0 none.
        changes["preview_every_n_steps"] = max(every, 1)
        if every <= 0:
            changes["live_previews"] = False
    store.update(principal.user_id, **changes)
    return True


@router.get("/samplers", summary="Samplers, in A1111's names")
def samplers(_principal: ReadUser) -> list[dict[str, Any]]:
    return [
        {
            "name": sampler.name,
            "aliases": [alias for alias in sampler.aliases if alias != sampler.name],
            "options": {},
        }
        for sampler in SAMPLER_NAMES
    ]


@router.get("/schedulers", summary="Schedulers, in A1111's names")
def schedulers(_principal: ReadUser) -> list[dict[str, Any]]:
    return [
        {
            "name": item.name,
            "label": item.label,
            "aliases": None,
            "default_rho": -1,
            "need_inner_model": False,
        }
        for item in SCHEDULER_NAMES
    ]


def _upscaler(name: str, view: ModelView | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "model_name": stem(view.model.name) if view else None,
        "model_path": view.relative_path if view else None,
        "model_url": None,
        "scale": UPSCALER_SCALE,
    }


@router.get("/upscalers", summary="None, the pixel resizes, then the ESRGAN models of models/esrgan")
def upscalers(catalog: CatalogDep, _principal: ReadUser) -> list[dict[str, Any]]:
    fixed = [_upscaler(NO_UPSCALER), *(_upscaler(name) for name in PIXEL_UPSCALERS)]
    return fixed + [_upscaler(stem(view.model.name), view) for view in models_of(catalog, "esrgan")]


@router.get("/latent-upscale-modes", summary="Hires-fix upscalers working on the latent")
def latent_upscale_modes(_principal: ReadUser) -> list[dict[str, str]]:
    return [{"name": name} for name in LATENT_UPSCALERS]


@router.get("/sd-vae", summary="Stand-alone VAEs of models/vae")
def sd_vae(catalog: CatalogDep, _principal: ReadUser) -> list[dict[str, Any]]:
    return [
        {"model_name": view.model.name, "filename": view.relative_path} for view in models_of(catalog, "vae")
    ]


@router.get("/sd-modules", summary="Forge's extra modules (none here)")
def sd_modules(_principal: ReadUser) -> list[dict[str, Any]]:
    return []


@router.get("/loras", summary="LoRAs of models/lora, for <lora:name:weight> in the prompt")
def loras(catalog: CatalogDep, _principal: ReadUser) -> list[dict[str, Any]]:
    return [
        {
            "name": stem(view.model.name),
            "alias": stem(view.model.name),
            "path": view.relative_path,
            "metadata": {},
        }
        for view in models_of(catalog, "lora")
    ]


@router.get("/embeddings", summary="Textual-inversion embeddings of models/embeddings")
def embeddings(catalog: CatalogDep, _principal: ReadUser) -> dict[str, Any]:
    loaded = {
        stem(view.model.name): {
            "step": None,
            "sd_checkpoint": None,
            "sd_checkpoint_name": None,
            "shape": 0,
            "vectors": 0,
        }
        for view in models_of(catalog, "embedding")
    }
    return {"loaded": loaded, "skipped": {}}


@router.get("/cmd-flags", summary="A few of A1111's command-line flags, as this server has them")
def cmd_flags(settings: SettingsDep, _principal: ReadUser) -> dict[str, Any]:
    return {
        "api": True,
        "nowebui": True,
        "listen": settings.host not in ("127.0.0.1", "localhost", "::1"),
        "port": settings.port,
        "api_auth": None,
    }


@router.get("/scripts", summary="Scripts (none: webuiapi asks on start)")
def scripts(_principal: ReadUser) -> dict[str, list[str]]:
    return {"txt2img": [], "img2img": []}


@router.get("/script-info", summary="Scripts' arguments (none)")
def script_info(_principal: ReadUser) -> list[dict[str, Any]]:
    return []


@router.get("/hypernetworks", summary="Hypernetworks (not supported by the engine)")
def hypernetworks(_principal: ReadUser) -> list[dict[str, Any]]:
    return []


@router.get("/face-restorers", summary="Face restorers (none)")
def face_restorers(_principal: ReadUser) -> list[dict[str, Any]]:
    return []


@router.get("/prompt-styles", summary="Prompt styles: the shared ones and the caller's own")
def prompt_styles(styles: StylesDep, principal: ReadUser) -> list[dict[str, Any]]:
    """The styles the caller's `styles` field applies (its own over shared ones of the same name)."""
    usable = styles.usable(principal.user_id)
    return [
        {"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt}
        for style in sorted(usable.values(), key=lambda style: style.name.lower())
    ]


@router.post("/refresh-checkpoints", summary="Rescan the model folders")
def refresh_checkpoints(catalog: CatalogDep, _principal: ManageUser) -> None:
    catalog.refresh()


@router.post("/refresh-vae", summary="Rescan the model folders")
def refresh_vae(catalog: CatalogDep, _principal: ManageUser) -> None:
    catalog.refresh()


@router.post("/refresh-loras", summary="Rescan the model folders")
def refresh_loras(catalog: CatalogDep, _principal: ManageUser) -> None:
    catalog.refresh()
