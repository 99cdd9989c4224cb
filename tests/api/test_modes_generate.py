"""Every generation mode end to end: real server, real engine, random-weight models of each type.
Generations stay tiny (64x64, 1 step) so the whole file runs in a few minutes on 2 cores."""

from __future__ import annotations

import httpx

from tests.api.modes_support import half_mask, image_b64, output_image, run_mode
from tests.server import ServerProcess


def test_img2img_defaults_to_the_init_image_size_and_records_strength(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    # 83x69 rounds to 80x72; a WebP with a data: prefix is accepted.
    init = image_b64((83, 69), fmt="WEBP", data_url=True)
    job = run_mode(modes_server, modes_client, "img2img", init_image=init, strength=0.5)
    image, fields = output_image(modes_client, job)
    assert image.size == (80, 72)
    assert fields["Denoising strength"] == "0.5" and fields["Size"] == "80x72"
    assert fields["Model"] == "sd15" and fields["Resize mode"] == "resize"
    assert job["parameters"]["inputs"] == {"init_image": "init_image.png"}


def test_img2img_progress_ends_at_the_steps_the_engine_really_runs(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    # 4 steps at strength 0.5: stable-diffusion.cpp samples 3 of them; progress must still reach 100%.
    job = run_mode(modes_server, modes_client, "img2img", init_image=image_b64(), steps=4, strength=0.5)
    assert (job["total_steps"], job["current_step"], job["progress"]) == (3, 3, 1.0), job


def test_img2img_fits_the_image_to_the_requested_size(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    init = image_b64((120, 40), fmt="JPEG")
    job = run_mode(
        modes_server, modes_client, "img2img", init_image=init, width=64, height=64, resize_mode="fill"
    )
    image, fields = output_image(modes_client, job)
    assert image.size == (64, 64) and fields["Resize mode"] == "fill"


def test_inpainting_records_mask_settings(modes_server: ServerProcess, modes_client: httpx.Client) -> None:
    job = run_mode(
        modes_server,
        modes_client,
        "inpainting",
        init_image=image_b64(),
        mask_image=half_mask(),
        mask_blur=2,
        invert_mask=True,
        strength=0.8,
    )
    image, fields = output_image(modes_client, job)
    assert image.size == (64, 64)
    assert fields["Mask blur"] == "2" and fields["Mask mode"] == "Inpaint not masked"
    assert fields["Denoising strength"] == "0.8"


def test_controlnet_with_canny_names_model_and_strength(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    job = run_mode(
        modes_server,
        modes_client,
        "controlnet",
        control_image=image_b64(color="white"),
        control_net="control-random",
        control_strength=0.7,
        canny=True,
    )
    image, fields = output_image(modes_client, job)
    assert image.size == (64, 64)
    assert fields["ControlNet model"] == "control-random"
    assert fields["ControlNet strength"] == "0.7" and fields["ControlNet preprocessor"] == "canny"


def test_upscale_by_an_x4_model_returns_four_times_the_pixels_per_side(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    job = run_mode(modes_server, modes_client, "upscale", image=image_b64((40, 24)), upscaler="esrgan-x4")
    image, fields = output_image(modes_client, job)
    assert image.size == (160, 96)
    assert fields["Upscaler"] == "esrgan-x4" and fields["Upscale factor"] == "1"
    assert job["model_name"] is None


def test_loras_from_tags_and_list_with_upscale_as_last_step(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    job = run_mode(
        modes_server,
        modes_client,
        "text2img",
        prompt="a fox <lora:lora-random:0.6>",
        loras=[{"name": "lora-random.safetensors", "weight": 0.3}],
        width=64,
        height=64,
        upscaler="esrgan-x4",
        lora_apply_mode="at_runtime",
    )
    image, fields = output_image(modes_client, job)
    assert image.size == (256, 256)
    assert fields["LoRAs"] == "lora-random: 0.6, lora-random: 0.3"
    assert fields["LoRA apply mode"] == "at_runtime" and job["parameters"]["lora_apply_mode"] == "at_runtime"
    assert fields["Upscaler"] == "esrgan-x4"


def test_embedding_taesd_tiling_and_hires_fix(
    modes_server: ServerProcess, modes_client: httpx.Client
) -> None:
    job = run_mode(
        modes_server,
        modes_client,
        "text2img",
        prompt="a picture in testemb style",
        width=64,
        height=64,
        use_taesd=True,
        vae_tiling=True,
        hires={"scale": 2, "steps": 1, "denoising_strength": 0.6},
    )
    image, fields = output_image(modes_client, job)
    assert image.size == (128, 128)
    assert fields["TAESD"] == "taesd-random" and fields["VAE tiling"] == "True"
    assert fields["Embeddings"] == "testemb"
    assert fields["Hires resize"] == "128x128" and fields["Hires steps"] == "1"
    assert fields["Hires upscaler"] == "latent" and fields["Hires denoising strength"] == "0.6"
    # The second pass counts in the job's steps (the engine decides its exact count).
    assert job["total_steps"] > 1 and job["current_step"] == job["total_steps"]


def test_standalone_vae_is_used_and_named(modes_server: ServerProcess, modes_client: httpx.Client) -> None:
    job = run_mode(
        modes_server, modes_client, "text2img", width=64, height=64, vae_path="vae-random.safetensors"
    )
    _, fields = output_image(modes_client, job)
    assert fields["VAE"] == "vae-random.safetensors"
