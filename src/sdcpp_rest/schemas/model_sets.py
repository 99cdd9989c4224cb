"""Wire schemas of the model-set endpoints (/api/models/sets)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.schemas.recommended import RecommendedSettings

_NAME = Field(None, max_length=1024)
DefaultValue = str | int | float | bool


class ModelSetBody(BaseModel):
    """A set's parts (file names in their folders, as generation requests name them) and defaults."""

    model_config = ConfigDict(extra="forbid")
    diffusion_model: str = Field(..., max_length=1024, description="Inside models/diffusion_models.")
    high_noise_diffusion_model: str | None = _NAME
    clip_l: str | None = _NAME
    clip_g: str | None = _NAME
    t5xxl: str | None = _NAME
    llm: str | None = _NAME
    llm_vision: str | None = _NAME
    clip_vision: str | None = _NAME
    vae: str | None = _NAME
    defaults: dict[str, DefaultValue] = Field(
        default_factory=dict,
        max_length=20,
        description="Request fields a request naming the set gets unless it gives them: steps, "
        "cfg_scale, sampling_method, scheduler, guidance, flow_shift, width, height, cache_mode.",
    )

    def parts(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump(exclude={"defaults", "name"}).items() if value}


class NewModelSetBody(ModelSetBody):
    name: str = Field(..., max_length=100, description="Letters, digits, '.', '_' and '-'.")


class ModelSetPublic(BaseModel):
    name: str
    automatic: bool = Field(description="Offered by the catalog (the only fitting parts), not defined.")
    parts: dict[str, str]
    defaults: dict[str, DefaultValue]
    recommended: RecommendedSettings | None = Field(
        None,
        description="The settings of the diffusion model's family with the set's defaults over them: "
        "what a request naming the set gets for the fields it leaves out; null when the family is unknown.",
    )


class ModelSetsReply(BaseModel):
    sets: list[ModelSetPublic]
