"""Wire schemas of the model endpoints (pydantic), shared by the router and the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sdcpp_rest.schemas.recommended import RecommendedSettings


class ModelPublic(BaseModel):
    id: str = Field(description="The SHA-256 once known, else the name (both stay accepted as {modelId}).")
    name: str = Field(description="Path relative to the type's folder: the name generation requests use.")
    type: str = Field(
        description="checkpoint, vae, lora, controlnet, embedding, esrgan, taesd, diffusion_model, "
        "text_encoder or clip_vision."
    )
    path: str = Field(description="Path relative to the models folder.")
    format: str = Field(description="safetensors, gguf, ckpt or diffusers.")
    size_bytes: int
    modified: int = Field(description="Unix seconds of the file's last change.")
    loaded: bool = Field(description="Loaded in an engine worker now.")
    hash: str | None = Field(description="SHA-256 of the content; null while it is being computed.")
    short_hash: str | None = Field(description="First 10 hex digits of the hash.")
    hash_status: str = Field(description="done, pending or error.")
    hashed_at: float | None = Field(description="Unix time the hash was computed (it is cached).")
    architecture: str | None = Field(description="SD1.x, SD2.x, SDXL, SD3, Flux, ... when detected.")
    variant: str | None = Field(
        None,
        description="Checkpoints only: 'inpainting' (9-channel UNet, for /api/generate/inpainting) or "
        "'instruct-pix2pix'; null for an ordinary model.",
    )
    weight_type: str | None = Field(description="Type holding most weights: f16, f32, bf16, q8_0, ...")
    tensor_count: int | None
    components: list[str] = Field(description="Request fields this checkpoint can take (vae_path, ...).")
    role: str | None = Field(
        None,
        description="Parts of split models, from their tensors: diffusion_model, clip_l, clip_g, clip_h, "
        "t5xxl, llm, llm_vision, clip_vision or vae; null when not recognised or not a part.",
    )
    title: str | None = Field(description="Title from the file's metadata, if any.")
    error: str | None = Field(description="Why the file could not be read (damaged, truncated); else null.")
    recommended: RecommendedSettings | None = Field(
        None,
        description="Checkpoints, diffusion models and model sets of a known family: the settings the "
        "family is usually run with (a set's own defaults over them). A generation request that leaves "
        "one of these fields out gets this value; null when the family is unknown (the API's defaults "
        "apply).",
    )
    preview_url: str | None = Field(
        None,
        description="Where the preview image kept beside the file (`NAME.png`, `NAME.preview.png`, "
        "then the .jpg, .jpeg and .webp names, in A1111's order) is served "
        "(GET /api/models/{model_id}/preview); null when there is none.",
    )


class ModelFileError(BaseModel):
    """A file in the model folders that cannot be used, and why."""

    path: str = Field(
        description="Relative to the models folder (a type folder configured elsewhere "
        "shows as its canonical name, e.g. `checkpoints/...`)."
    )
    type: str | None = Field(description="The type folder it is in; null for the models folder itself.")
    reason: str
    listed: bool = Field(
        description="true: in `models` with an `error` (e.g. a damaged header); false: left out of the "
        "listing (broken or looping symlink, unknown file type, not in a type folder, unreadable folder)."
    )


class ModelsReply(BaseModel):
    models: list[ModelPublic]
    total: int = Field(description="Models matching the filters, over all pages.")
    page: int
    limit: int = Field(description="Page size; 0 = all on one page.")
    pages: int = Field(description="Number of pages (at least 1).")
    has_next: bool
    has_previous: bool
    errors: list[ModelFileError] | None = Field(
        None,
        description="With `include_errors=true` only: every file of the last scan that cannot be used "
        "(whatever the filters and page), with the reason.",
    )


class ModelTypesReply(BaseModel):
    types: list[str]
    folders: dict[str, list[str]] = Field(description="Folders (relative to the models folder) per type.")


class RefreshReply(BaseModel):
    message: str
    models_found: int = Field(description="Models in the catalog after the scan.")
    models_updated: int = Field(description="Models added, changed or removed by this scan.")
    added: int
    changed: int
    removed: int
    hashes_pending: int = Field(
        description="Files still waiting for their SHA-256 (computed in the background)."
    )


class ModelActionReply(BaseModel):
    message: str
    model: str = Field(description="The model's name.")
    id: str
    worker_ids: list[str] = Field(default_factory=list)
    seconds: float | None = Field(None, description="Load time, when a load happened.")
