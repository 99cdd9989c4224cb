"""Architecture and weight type from tensor names and shapes (what stable-diffusion.cpp also looks at).

Both namings occur in the wild and both load in the engine: the original (CompVis/Stability) one with
`model.diffusion_model.` / `first_stage_model.` / `cond_stage_model.` prefixes, and the diffusers one
(`unet.` / `vae.` / `te.` / `text_encoder.` prefixes or none). GGUF files from `sd convert` keep the
original names. Detection never needs the weights, only the header.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sdcpp_rest.catalog.headers import TensorInfo

SD1 = "SD1.x"
SD2 = "SD2.x"
SDXL = "SDXL"
SDXL_REFINER = "SDXL refiner"
SD3 = "SD3"
FLUX = "Flux"
SVD = "SVD"

# The UNet's cross-attention width is the text encoder's width: CLIP-L (SD1), OpenCLIP-H (SD2),
# CLIP-L + OpenCLIP-G (SDXL base), OpenCLIP-G alone (SDXL refiner).
_CONTEXT_DIM_ARCH = {768: SD1, 1024: SD2, 2048: SDXL, 1280: SDXL_REFINER}

# Which request components each family can use (shown in listings so clients offer the right fields).
COMPONENTS_BY_ARCH: dict[str, tuple[str, ...]] = {
    SD1: ("vae_path", "taesd_path", "lora_model_dir", "embedding_dir", "control_net_path"),
    SD2: ("vae_path", "taesd_path", "lora_model_dir", "embedding_dir", "control_net_path"),
    SDXL: ("vae_path", "taesd_path", "lora_model_dir", "embedding_dir", "control_net_path", "clip_g_path"),
    SDXL_REFINER: ("vae_path", "taesd_path", "lora_model_dir", "clip_g_path"),
    SD3: ("vae_path", "taesd_path", "lora_model_dir", "clip_l_path", "clip_g_path", "t5xxl_path"),
    FLUX: ("vae_path", "taesd_path", "lora_model_dir", "clip_l_path", "t5xxl_path"),
}


def _has(names: list[str], *parts: str) -> bool:
    return any(part in name for name in names for part in parts)


def detect_checkpoint_architecture(tensors: Mapping[str, TensorInfo]) -> str | None:
    """The model family of a checkpoint, None when the names fit none we know."""
    names = list(tensors)
    if not names:
        return None
    if _has(names, "double_blocks.", "single_transformer_blocks.") and _has(
        names, "single_blocks.", "single_transformer_blocks."
    ):
        return FLUX
    if _has(names, "joint_blocks.") or (
        _has(names, "context_embedder.") and _has(names, "transformer_blocks.") and _has(names, "pos_embed")
    ):
        return SD3
    if _has(names, "time_mixer", "temporal_transformer_blocks", "time_stack."):
        return SVD
    arch = _unet_architecture(tensors)
    if arch is not None:
        return arch
    # A checkpoint whose UNet has no cross-attention key we recognise: fall back on its text encoder.
    if _has(names, "conditioner.embedders.1.", "text_encoder_2.", "te2."):
        return SDXL
    if _has(names, "cond_stage_model.model.transformer.resblocks."):
        return SD2
    if _has(names, "cond_stage_model.transformer.", "text_model.encoder.layers."):
        return SD1
    return None


def _unet_architecture(tensors: Mapping[str, TensorInfo]) -> str | None:
    """From the width of the first cross-attention key projection (`attn2.to_k`)."""
    for name, info in tensors.items():
        if name.endswith("attn2.to_k.weight") and len(info.shape) == 2:
            context_dim = info.shape[1]
            arch = _CONTEXT_DIM_ARCH.get(context_dim)
            if arch == SDXL_REFINER or arch == SDXL:
                # SDXL's pooled-text embedding (`label_emb` / `add_embedding`) confirms the family.
                return arch if _has(list(tensors), "label_emb.", "add_embedding.") else None
            return arch
    return None


def detect_lora_architecture(tensors: Mapping[str, TensorInfo]) -> str | None:
    """LoRA family: a second text encoder means SDXL; otherwise the width of the text-encoder LoRA."""
    names = list(tensors)
    if _has(names, "lora_te2_", "lora_unet_input_blocks_7", "text_encoder_2."):
        return SDXL
    if _has(names, "lora_unet_single_blocks", "lora_unet_double_blocks", "transformer.single_transformer"):
        return FLUX
    for name, info in tensors.items():
        if "attn2_to_k.lora_down" in name or "attn2.to_k.lora_down" in name:
            return _CONTEXT_DIM_ARCH.get(info.shape[-1]) if info.shape else None
    return None


# The UNet's first convolution, in each naming; its input channels tell the checkpoint's variant:
# 4 latent channels normally, + 4 masked-image latent + 1 mask for inpainting, + 4 image latent for
# InstructPix2Pix (stable-diffusion.cpp checks the same tensor).
_UNET_CONV_IN = ("model.diffusion_model.input_blocks.0.0.weight", "unet.conv_in.weight", "conv_in.weight")
_VARIANT_BY_CHANNELS = {9: "inpainting", 8: "instruct-pix2pix"}


def detect_checkpoint_variant(tensors: Mapping[str, TensorInfo]) -> str | None:
    """ "inpainting" or "instruct-pix2pix" from the UNet's input channels; None for an ordinary model."""
    for name in _UNET_CONV_IN:
        info = tensors.get(name)
        if info is not None and len(info.shape) == 4:
            return _VARIANT_BY_CHANNELS.get(info.shape[1])
    return None


# Float and integer dtypes; any other dtype of a GGUF file is a quantization (q8_0, q4_k, ...).
PLAIN_DTYPES = frozenset(
    {
        "f64",
        "f32",
        "f16",
        "bf16",
        "f8_e4m3",
        "f8_e5m2",
        "i64",
        "i32",
        "i16",
        "i8",
        "u64",
        "u32",
        "u16",
        "u8",
        "bool",
    }
)


def weight_type(tensors: Mapping[str, TensorInfo]) -> str | None:
    """The dtype holding most parameters (norms and biases stay f32 in many quantized files); in a
    quantized file, its quantized type holding most parameters. stable-diffusion.cpp's convert
    quantizes only the matrices (its q8_0 SD1.5 holds twice as many f16 weights, in convolution
    kernels, as q8_0 ones), so the majority alone would call such a file f16."""
    counts: Counter[str] = Counter()
    for info in tensors.values():
        counts[info.dtype] += info.elements
    if not counts:
        return None
    quantized = Counter({dtype: n for dtype, n in counts.items() if dtype not in PLAIN_DTYPES})
    return (quantized or counts).most_common(1)[0][0]
