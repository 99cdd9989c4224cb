"""PNG info parsers: PNGs built here in each tool's documented format (this server's writer itself,
A1111 infotext, a ComfyUI API-format graph, InvokeAI metadata) read back into the API's fields, and bad
files refused with the API's 400, never an exception of another kind."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from sdcpp_rest.errors import InvalidParameters
from sdcpp_rest.outputs.files import write_png_atomically
from sdcpp_rest.outputs.infotext import format_infotext
from sdcpp_rest.outputs.png_info.chunks import MAX_TEXT_BYTES, PngTooLarge, PngUnreadable
from sdcpp_rest.outputs.png_info.reader import NoParameters, read_png_info
from sdcpp_rest.schemas.png_info import PngInfoReply

MAX_PIXELS = 4096 * 4096


def png(texts: dict[str, str] | None = None, size: tuple[int, int] = (8, 8), zipped: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in (texts or {}).items():
        info.add_text(key, value, zip=zipped)
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def with_chunk_before_iend(data: bytes, extra: bytes) -> bytes:
    return data[:-12] + extra + data[-12:]


def read(data: bytes) -> PngInfoReply:
    return read_png_info(data, MAX_PIXELS)


def params(reply: PngInfoReply) -> dict[str, Any]:
    return reply.parameters.model_dump(exclude_none=True)


# --- this server's own PNGs ---------------------------------------------------------------------


def test_a_png_written_by_this_server_reads_back_into_its_request_fields(tmp_path: Path) -> None:
    # What jobs/commands.py and the worker write for a text2img job with a LoRA and a Flux guidance.
    fields = {
        "Steps": 12, "Sampler": "Euler a", "Schedule type": "karras", "CFG scale": 4.5, "Seed": 99,
        "Size": "64x96", "Model": "sd15", "Clip skip": 2, "Guidance": 3.5, "LoRAs": "sub/style: 0.8",
        "LoRA apply mode": "auto", "Version": "sdcpp-rest",
    }  # fmt: skip
    text = format_infotext("a red fox, snow <lora:sub/style:0.8>", "blurry, text", fields)
    write_png_atomically(Image.new("RGB", (64, 96)), tmp_path / "image_0.png", text)

    reply = read((tmp_path / "image_0.png").read_bytes())

    assert reply.source == "sdcpp-rest"
    assert (reply.width, reply.height) == (64, 96)
    assert params(reply) == {
        "prompt": "a red fox, snow",
        "negative_prompt": "blurry, text",
        "loras": [{"name": "sub/style", "weight": 0.8}],
        "steps": 12,
        "sampling_method": "euler_a",
        "scheduler": "karras",
        "cfg_scale": 4.5,
        "seed": 99,
        "width": 64,
        "height": 96,
        "model_name": "sd15",
        "clip_skip": 2,
        "guidance": 3.5,
        "lora_apply_mode": "auto",
    }
    assert reply.unmapped == {}
    assert reply.raw == {"parameters": text}


def test_this_servers_image_mode_fields_map_onto_the_mode_bodies() -> None:
    fields = {
        "Steps": 4, "Sampler": "DDIM trailing", "Schedule type": "discrete", "CFG scale": 7, "Seed": 1,
        "Size": "64x64", "Model": "sd15", "Denoising strength": 0.6, "Resize mode": "crop",
        "Mask blur": 8, "VAE tiling": "True", "Sigmas": "14.6, 1.2, 0", "Skip layers": "7, 8, 9",
        "Hires resize": "128x128", "Hires steps": 2, "Hires upscaler": "latent",
        "Hires denoising strength": 0.5, "Embeddings": "bad-hands", "Version": "sdcpp-rest",
    }  # fmt: skip

    reply = read(png({"parameters": format_infotext("x", "", fields)}))

    got = params(reply)
    assert got["sampling_method"] == "ddim_trailing" and got["scheduler"] == "discrete"
    assert got["strength"] == 0.6 and got["resize_mode"] == "crop" and got["mask_blur"] == 8
    assert got["vae_tiling"] is True
    assert got["sigmas"] == [14.6, 1.2, 0.0] and got["skip_layers"] == [7, 8, 9]
    assert got["hires"] == {
        "width": 128,
        "height": 128,
        "steps": 2,
        "upscaler": "latent",
        "denoising_strength": 0.5,
    }
    assert reply.unmapped == {"Embeddings": "bad-hands"}


# --- AUTOMATIC1111 / Forge infotext -------------------------------------------------------------

A1111_TEXT = (
    "masterpiece, a cat in a hat <lora:catstyle:0.7>\n"
    "looking at the viewer\n"
    "Negative prompt: lowres, bad hands\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 832x1216, "
    "Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.45, Clip skip: 2, "
    'Hires upscale: 1.5, Hires steps: 10, Hires upscaler: Latent, Lora hashes: "catstyle: abc123, x: y", '
    "Version: v1.7.0"
)


def test_an_a1111_infotext_maps_sampler_hires_and_loras() -> None:
    reply = read(png({"parameters": A1111_TEXT}))

    assert reply.source == "a1111"
    assert params(reply) == {
        "prompt": "masterpiece, a cat in a hat\nlooking at the viewer",
        "negative_prompt": "lowres, bad hands",
        "loras": [{"name": "catstyle", "weight": 0.7}],
        "steps": 28,
        "sampling_method": "dpmpp2m",
        "scheduler": "karras",  # from the old "<sampler> <scheduler>" name
        "cfg_scale": 6.5,
        "seed": 1234,
        "width": 832,
        "height": 1216,
        "model_name": "sd_xl_base_1.0",
        "clip_skip": 2,
        # With the hires fix on, A1111's "Denoising strength" is the second pass's.
        "hires": {"scale": 1.5, "steps": 10, "upscaler": "latent", "denoising_strength": 0.45},
    }
    assert reply.unmapped == {
        "Model hash": "31e35c80fc",
        "Lora hashes": "catstyle: abc123, x: y",
        "Version": "v1.7.0",
    }


def test_a1111_schedule_type_unknown_sampler_and_bad_numbers_go_to_unmapped() -> None:
    text = (
        "a dog\nSteps: lots, Sampler: DPM++ 3M SDE, Schedule type: Karras, CFG scale: 7, Seed: 5, "
        "Size: 512x768, Denoising strength: 0.3"
    )

    reply = read(png({"parameters": text}))

    assert params(reply) == {
        "prompt": "a dog", "scheduler": "karras", "cfg_scale": 7.0, "seed": 5, "width": 512, "height": 768,
        "strength": 0.3,
    }  # fmt: skip
    assert reply.unmapped == {"Steps": "lots", "Sampler": "DPM++ 3M SDE"}


def test_an_infotext_without_a_settings_line_is_all_prompt() -> None:
    reply = read(png({"parameters": "just a prompt\nNegative prompt: ugly"}))

    assert params(reply) == {"prompt": "just a prompt", "negative_prompt": "ugly"}


@pytest.mark.parametrize("zipped", [False, True], ids=["iTXt", "compressed iTXt / zTXt"])
def test_unicode_and_compressed_text_chunks_are_read(zipped: bool) -> None:
    text = "猫, café\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8"

    reply = read(png({"parameters": text}, zipped=zipped))

    assert params(reply)["prompt"] == "猫, café" and params(reply)["sampling_method"] == "euler"
    assert reply.raw["parameters"] == text


def test_latin1_ztxt_chunk_is_read() -> None:
    text = "a cat\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8"
    ztxt = chunk(b"zTXt", b"parameters\0\0" + zlib.compress(text.encode("latin-1")))

    reply = read(with_chunk_before_iend(png(), ztxt))

    assert params(reply)["prompt"] == "a cat"


# --- ComfyUI ------------------------------------------------------------------------------------


def comfy_graph() -> dict[str, Any]:
    """ComfyUI's default text-to-image graph (API format) with a LoRA, a clip skip and a hires pass."""
    return {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        },
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "ink.safetensors",
                "strength_model": 0.6,
                "strength_clip": 1.0,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },  # fmt: skip
        "11": {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 2}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a castle at dusk", "clip": ["11", 0]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["11", 0]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286,
                "steps": 20,
                "cfg": 8,
                "sampler_name": "euler_ancestral",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["10", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },  # fmt: skip
        "12": {
            "class_type": "LatentUpscaleBy",
            "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]},
        },  # fmt: skip
        "13": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1,
                "steps": 8,
                "cfg": 8,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 0.5,
                "model": ["10", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["12", 0],
            },
        },  # fmt: skip
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def test_a_comfyui_graph_gives_the_main_samplers_settings_prompts_size_model_and_loras() -> None:
    graph = comfy_graph()
    workflow = json.dumps({"last_node_id": 13, "nodes": []})

    reply = read(png({"prompt": json.dumps(graph), "workflow": workflow}))

    assert reply.source == "comfyui"
    assert params(reply) == {
        "prompt": "a castle at dusk",
        "negative_prompt": "watermark",
        "seed": 156680208700286,
        "steps": 20,
        "cfg_scale": 8.0,
        "sampling_method": "euler_a",
        "scheduler": "discrete",  # ComfyUI's "normal": the model's own discrete schedule
        "width": 512,
        "height": 768,
        "batch_count": 2,
        "model_name": "v1-5-pruned-emaonly.safetensors",
        "loras": [{"name": "ink.safetensors", "weight": 0.6}],
        "clip_skip": 2,
    }
    assert reply.unmapped == {"other_samplers": {"13": graph["13"]["inputs"]}}
    assert set(reply.raw) == {"prompt", "workflow"}


def test_comfyui_advanced_sampler_linked_text_and_controlnet_are_followed() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "2": {"class_type": "PrimitiveNode", "inputs": {"value": "a linked prompt"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["2", 0], "clip": ["1", 1]}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "bad", "clip": ["1", 1]}},
        "5": {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {"positive": ["3", 0], "negative": ["4", 0], "strength": 0.8},
        },  # fmt: skip
        "6": {
            "class_type": "EmptySD3LatentImage",
            "inputs": {"width": 1024, "height": 1024, "batch_size": 1},
        },
        "7": {
            "class_type": "KSamplerAdvanced",
            "inputs": {
                "add_noise": "enable",
                "noise_seed": 7,
                "steps": 30,
                "cfg": 5.5,
                "sampler_name": "dpmpp_3m_sde",
                "scheduler": "beta",
                "start_at_step": 0,
                "end_at_step": 10000,
                "return_with_leftover_noise": "disable",
                "model": ["1", 0],
                "positive": ["5", 0],
                "negative": ["5", 1],
                "latent_image": ["6", 0],
            },
        },  # fmt: skip
    }

    reply = read(png({"prompt": json.dumps(graph)}))

    assert params(reply) == {
        "seed": 7, "steps": 30, "cfg_scale": 5.5, "prompt": "a linked prompt", "negative_prompt": "bad",
        "width": 1024, "height": 1024, "model_name": "sdxl.safetensors",
    }  # fmt: skip
    assert reply.unmapped == {
        "sampler_name": "dpmpp_3m_sde", "scheduler": "beta", "add_noise": "enable", "start_at_step": 0,
        "end_at_step": 10000, "return_with_leftover_noise": "disable",
    }  # fmt: skip


def test_a_comfyui_graph_with_a_link_cycle_ends() -> None:
    graph = {
        "1": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0]}},
        "2": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["1", 0]}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["1", 0], "model": ["3", 0]}},
    }

    reply = read(png({"prompt": json.dumps(graph)}))

    assert params(reply) == {"seed": 1}
    assert "positive" in reply.unmapped


# --- InvokeAI -----------------------------------------------------------------------------------


def test_invokeai_4_metadata_maps_core_settings_model_and_loras() -> None:
    metadata = {
        "generation_mode": "txt2img", "positive_prompt": "a lighthouse", "negative_prompt": "fog",
        "width": 768, "height": 512, "seed": 42, "rand_device": "cpu", "cfg_scale": 7.5,
        "cfg_rescale_multiplier": 0, "steps": 30, "scheduler": "dpmpp_2m_k", "clip_skip": 0,
        "model": {"key": "k1", "hash": "blake3:aa", "name": "sd-v1-5", "base": "sd-1", "type": "main"},
        "loras": [{"model": {"key": "k2", "name": "paint", "base": "sd-1", "type": "lora"}, "weight": 0.75}],
        "app_version": "4.2.0",
    }  # fmt: skip

    reply = read(png({"invokeai_metadata": json.dumps(metadata), "invokeai_graph": "{}"}))

    assert reply.source == "invokeai"
    assert params(reply) == {
        "prompt": "a lighthouse", "negative_prompt": "fog", "width": 768, "height": 512, "seed": 42,
        "cfg_scale": 7.5, "steps": 30, "sampling_method": "dpmpp2m", "scheduler": "karras",
        "model_name": "sd-v1-5", "loras": [{"name": "paint", "weight": 0.75}],
    }  # fmt: skip
    assert reply.unmapped == {
        "generation_mode": "txt2img", "rand_device": "cpu", "cfg_rescale_multiplier": 0,
        "app_version": "4.2.0",
    }  # fmt: skip


def test_invokeai_3_metadata_names_models_by_model_name() -> None:
    metadata = {
        "positive_prompt": "a boat", "steps": 20, "scheduler": "unipc", "clip_skip": 2, "strength": 0.7,
        "model": {"model_name": "dreamshaper", "base_model": "sd-1", "model_type": "main"},
        "loras": [{"lora": {"model_name": "oil", "base_model": "sd-1"}, "weight": 0.5}],
    }  # fmt: skip

    reply = read(png({"invokeai_metadata": json.dumps(metadata)}))

    assert params(reply) == {
        "prompt": "a boat", "steps": 20, "clip_skip": 2, "strength": 0.7, "model_name": "dreamshaper",
        "loras": [{"name": "oil", "weight": 0.5}],
    }  # fmt: skip
    assert reply.unmapped == {"scheduler": "unipc"}


# --- bad files ----------------------------------------------------------------------------------


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def with_ihdr_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its header claiming another size (CRC made right): a decompression bomb's header."""
    body = struct.pack(">II", width, height) + data[24:29]
    return data[:8] + chunk(b"IHDR", body) + data[33:]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", PngUnreadable),
        (jpeg(), PngUnreadable),
        (png({"parameters": "x"})[:60], PngUnreadable),  # cut short
        (png(), NoParameters),
        (png({"parameters": " \n"}), NoParameters),
        (png({"Software": "GIMP", "prompt": "not json"}), NoParameters),
        (png({"prompt": json.dumps({"1": {"inputs": {}}})}), NoParameters),  # no node has a class
        (with_ihdr_size(png({"parameters": "x"}), 100_000, 100_000), PngTooLarge),
        (with_chunk_before_iend(png(), chunk(b"tEXt", b"\0no keyword")), PngUnreadable),
        (with_chunk_before_iend(png(), chunk(b"zTXt", b"parameters\0\0not deflate")), PngUnreadable),
        (with_chunk_before_iend(png(), chunk(b"iTXt", b"parameters\0\0\0\0\0\xff\xfe")), PngUnreadable),
    ],
    ids=[
        "empty", "jpeg", "truncated", "no text", "blank infotext", "other texts", "graph without classes",
        "bomb header", "no keyword", "bad deflate", "bad utf-8",
    ],
)  # fmt: skip
def test_bad_files_are_refused_as_invalid_parameters(data: bytes, error: type[InvalidParameters]) -> None:
    with pytest.raises(error) as raised:
        read(data)

    assert raised.value.field == "image" and raised.value.status_code == 400


def test_a_corrupt_text_chunk_is_refused() -> None:
    data = bytearray(png({"parameters": "a\nSteps: 1, Seed: 1, Size: 8x8"}))
    data[data.index(b"Steps")] ^= 0xFF  # the text changes, its CRC does not

    with pytest.raises(PngUnreadable, match="corrupt"):
        read(bytes(data))


def test_a_compressed_text_that_inflates_past_the_bound_is_refused_without_inflating_it_all() -> None:
    bomb = zlib.compress(b"a" * (MAX_TEXT_BYTES * 4), 9)  # a few kB that inflate to 16 MiB
    data = with_chunk_before_iend(png(), chunk(b"zTXt", b"parameters\0\0" + bomb))

    with pytest.raises(PngTooLarge, match="longer than"):
        read(data)


def test_the_pixel_limit_is_the_callers() -> None:
    data = png({"parameters": "a\nSteps: 1, Seed: 1, Size: 8x8"}, size=(64, 64))

    assert read_png_info(data, 64 * 64).width == 64
    with pytest.raises(PngTooLarge, match="more than 4095 pixels"):
        read_png_info(data, 64 * 64 - 1)


def test_a_png_of_only_empty_chunks_stops_at_the_chunk_bound() -> None:
    data = png()
    endless = data[:33] + chunk(b"abCd", b"") * 100_001 + data[-12:]

    with pytest.raises(PngTooLarge, match="chunks"):
        read(endless)


def test_hostile_values_in_metadata_json_end_up_unmapped_not_raised() -> None:
    huge = 10**400  # an integer no float holds
    long_id = "9" * 30  # no int() of it: ordered as text
    sampler = {"seed": huge, "cfg": huge, "steps": "x", "model": ["9", 0], "positive": [long_id, 0]}
    graph = {
        "²": {"class_type": "KSampler", "inputs": sampler},  # a digit to str.isdigit, not to int()
        "9": {
            "class_type": "LoraLoader",
            "inputs": {"lora_name": "a", "strength_model": huge, "model": [1, 0]},
        },
        long_id: {"class_type": "CLIPTextEncode", "inputs": {"text": {"not": "text"}}},
    }
    invoke = {
        "positive_prompt": ["not text"],
        "cfg_scale": huge,
        "loras": [{"model": {"name": "a"}, "weight": huge}],
    }

    comfy = read(png({"prompt": json.dumps(graph)}))
    invokeai = read(png({"invokeai_metadata": json.dumps(invoke)}))

    assert params(comfy) == {"seed": huge}
    assert comfy.unmapped.keys() == {"cfg", "steps", "lora_name", "positive"}
    assert params(invokeai) == {}
    assert invokeai.unmapped.keys() == {"positive_prompt", "cfg_scale", "loras"}
