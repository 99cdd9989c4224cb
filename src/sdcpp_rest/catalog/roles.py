"""What a separate model part is, from its tensor names and shapes: a diffusion model of which family,
a text encoder of which kind (CLIP-L, CLIP-G, T5-XXL, an LLM), a VAE of how many latent channels.

The names are those stable-diffusion.cpp reads (src/model.cpp `get_sd_version`, name_conversion.cpp):
original and diffusers naming for diffusion models and VAEs, Hugging Face and llama.cpp (GGUF) naming
for text encoders. Only headers are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sdcpp_rest.catalog.detect import FLUX, SD1, SD2, SD3, SDXL, detect_checkpoint_architecture
from sdcpp_rest.catalog.headers import TensorInfo

FLUX2 = "Flux.2"
CHROMA = "Chroma"
WAN = "Wan"
QWEN_IMAGE = "Qwen-Image"
Z_IMAGE = "Z-Image"

DIFFUSION_MODEL = "diffusion_model"
CLIP_L, CLIP_G, CLIP_H, T5XXL, LLM = "clip_l", "clip_g", "clip_h", "t5xxl", "llm"
LLM_VISION, CLIP_VISION, VAE = "llm_vision", "clip_vision", "vae"
ROLE_LABELS = {
    DIFFUSION_MODEL: "diffusion model",
    CLIP_L: "CLIP-L text encoder",
    CLIP_G: "CLIP-G text encoder",
    CLIP_H: "OpenCLIP-H text encoder",
    T5XXL: "T5-XXL text encoder",
    LLM: "LLM text encoder",
    LLM_VISION: "LLM vision encoder",
    CLIP_VISION: "CLIP vision encoder",
    VAE: "VAE",
}
# The width of a CLIP text model's embeddings tells which one it is.
_CLIP_WIDTH_ROLE = {768: CLIP_L, 1280: CLIP_G, 1024: CLIP_H}
# Latent channels the VAE of each family has (Wan's VAE is 3-D: a causal video VAE of 16 channels).
VAE_LATENT_CHANNELS = {SD1: 4, SD2: 4, SDXL: 4, SD3: 16, FLUX: 16, CHROMA: 16, FLUX2: 32, WAN: 16}


def with_article(text: str) -> str:
    """ "an SD3 ...", "an LLM ...", "a Flux ...": by the sound of the first letter."""
    return f"an {text}" if text[:1] in "AEIOLSaeio8" else f"a {text}"


@dataclass(frozen=True)
class PartKind:
    role: str | None  # DIFFUSION_MODEL, CLIP_L, ..., None when not recognised
    family: str | None = None  # diffusion models: Flux, SD3, Wan, ...
    latent_channels: int | None = None  # VAEs

    @property
    def label(self) -> str:
        if self.role is None:
            return "an unrecognised file"
        text = ROLE_LABELS.get(self.role, self.role)
        if self.family:
            text = f"{self.family} {text}"
        if self.latent_channels:
            text = f"{self.latent_channels}-channel {text}"
        return with_article(text)


def _has(names: list[str], *parts: str) -> bool:
    return any(part in name for name in names for part in parts)


def diffusion_family(tensors: Mapping[str, TensorInfo]) -> str | None:
    """The family of a stand-alone diffusion model (the file ComfyUI keeps in diffusion_models/)."""
    names = list(tensors)
    if _has(names, "double_stream_modulation_img."):
        return FLUX2
    if _has(names, "distilled_guidance_layer."):
        return CHROMA
    if _has(names, "cross_attn.norm_k.") and _has(names, "patch_embedding."):
        return WAN
    if _has(names, "img_mod.1.weight") and _has(names, "transformer_blocks."):
        return QWEN_IMAGE
    if _has(names, "cap_embedder."):
        return Z_IMAGE
    return detect_checkpoint_architecture(tensors)


def _text_encoder(tensors: Mapping[str, TensorInfo]) -> str | None:
    names = list(tensors)
    if _has(names, "SelfAttention.q.", "enc.blk.0.attn_q", "encoder.block.0."):
        return T5XXL
    if _has(names, "visual.blocks.", "visual.patch_embed.", "v.blk."):
        return LLM_VISION
    if _has(names, "vision_model.encoder.layers.", "visual.transformer.resblocks."):
        return CLIP_VISION
    if _has(names, "self_attn.q_proj.", "blk.0.attn_q.") and _has(names, "mlp.gate_proj.", "ffn_gate."):
        return LLM
    for name, info in tensors.items():
        if name.endswith(("token_embedding.weight", "token_embedding")) and len(info.shape) == 2:
            return _CLIP_WIDTH_ROLE.get(info.shape[1])
    return None


def _vae_channels(tensors: Mapping[str, TensorInfo]) -> int | None:
    for name, info in tensors.items():
        if name.endswith("decoder.conv_in.weight") and len(info.shape) >= 4:
            return info.shape[1]
    return None


_DIFFUSION_MARKERS = (
    "input_blocks.",
    "unet.",
    "attentions.0.transformer_blocks.",
    "double_blocks.",
    "joint_blocks.",
    "transformer_blocks.",
    "cap_embedder.",
    "patch_embedding.",
)


def detect_part(tensors: Mapping[str, TensorInfo]) -> PartKind:
    """What a file in a component folder is, whichever folder it sits in."""
    if not tensors:
        return PartKind(None)
    # A whole checkpoint holds a text encoder too: look for a diffusion model first.
    if _has(list(tensors), *_DIFFUSION_MARKERS):
        family = diffusion_family(tensors)
        if family is not None:
            return PartKind(DIFFUSION_MODEL, family=family)
    encoder = _text_encoder(tensors)
    if encoder is not None:
        return PartKind(encoder)
    channels = _vae_channels(tensors)
    return PartKind(VAE, latent_channels=channels) if channels is not None else PartKind(None)


# Not "SD1.x/SDXL": a search for a checkpoint family should not list every VAE.
_VAE_FAMILIES = {4: "SD 4-channel", 16: "Flux/SD3 16-channel", 32: "Flux.2 32-channel"}
_ENCODER_FAMILIES = {CLIP_L: "CLIP-L", CLIP_G: "CLIP-G", CLIP_H: "OpenCLIP-H", T5XXL: "T5-XXL", LLM: "LLM"}


def part_family_label(kind: PartKind) -> str | None:
    """What the catalog shows as a part's architecture: the models a VAE fits, an encoder's kind."""
    if kind.role == VAE and kind.latent_channels is not None:
        return _VAE_FAMILIES.get(kind.latent_channels, f"{kind.latent_channels}-channel")
    return kind.family or _ENCODER_FAMILIES.get(kind.role or "")


# Which role each request field needs.
FIELD_ROLES = {
    "diffusion_model_path": DIFFUSION_MODEL,
    "high_noise_diffusion_model_path": DIFFUSION_MODEL,
    "clip_l_path": CLIP_L,
    "clip_g_path": CLIP_G,
    "t5xxl_path": T5XXL,
    "llm_path": LLM,
    "llm_vision_path": LLM_VISION,
    "clip_vision_path": CLIP_VISION,
    "vae_path": VAE,
}


def part_mismatch(field: str, kind: PartKind, family: str | None) -> str | None:
    """Why the file `kind` cannot serve as `field` for a model of `family`; None when it fits or
    when the file is not recognised (the engine then has the last word)."""
    wanted = FIELD_ROLES.get(field)
    if wanted is None or kind.role is None:
        return None
    if kind.role != wanted:
        return f"is {kind.label}, not {PartKind(wanted).label}"
    if wanted == VAE and family in VAE_LATENT_CHANNELS and kind.latent_channels is not None:
        needed = VAE_LATENT_CHANNELS[family]
        if kind.latent_channels != needed:
            return f"is {kind.label}; {with_article(family)} model needs a {needed}-channel VAE"
    return None
