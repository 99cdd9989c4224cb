"""Run the real engine once with one model type, in a process of its own (`python -m tests.engine.probe
KIND`): a native crash ends this process, not pytest. Prints one JSON line: image sizes and the
engine's warning/error lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

from sdcpp_rest.engine.protocol import EngineContext, EngineLog, ModeOptions
from sdcpp_rest.engine.sd_engine import Engine
from tests.fixtures import dit_models, mode_models
from tests.fixtures.test_models import sd15_model

PROBE_SIZE = 64
# Flow models run at cfg 1 (one model evaluation a step): SD3's full-size MMDiT is slow on 2 cores.
DIT_KINDS = ("flux", "sd3")
WAN_FRAMES = 5  # 2 latent frames: Wan's VAE packs 4 frames after the first into one


def _context_and_generation(kind: str, work: Path) -> tuple[EngineContext, dict[str, object]]:
    model = str(sd15_model())
    prompt = "a probe"
    options = ModeOptions()
    context = EngineContext(model_path=model, n_threads=-1)
    if kind == "vae":
        context = EngineContext(model_path=model, vae_path=str(mode_models.vae_model()))
    elif kind == "taesd":
        context = EngineContext(model_path=model, taesd_path=str(mode_models.taesd_model()))
    elif kind in ("controlnet", "controlnet-diffusers"):
        path = mode_models.controlnet_model() if kind == "controlnet" else mode_models.diffusers_controlnet()
        control = work / "control.png"
        Image.new("RGB", (PROBE_SIZE, PROBE_SIZE), "white").save(control)
        context = EngineContext(model_path=model, control_net_path=str(path))
        options = ModeOptions(control_image_path=str(control), control_strength=0.9)
    elif kind in ("lora", "lora-wrong-shape"):
        path = mode_models.lora_model() if kind == "lora" else mode_models.wrong_shape_lora()
        context = EngineContext(model_path=model, lora_model_dir=str(path.parent))
        prompt += f" <lora:{path.stem}:0.8>"
    elif kind == "embedding":
        path = mode_models.embedding_model()
        context = EngineContext(model_path=model, embedding_paths=(str(path),))
        prompt += f" {path.stem}"
    elif kind == "flux":
        context = EngineContext(
            model_path="",
            diffusion_model_path=str(dit_models.flux_model()),
            clip_l_path=str(dit_models.clip_l_model()),
            vae_path=str(dit_models.flux_vae_model()),
        )
    elif kind == "sd3":
        context = EngineContext(
            model_path="",
            diffusion_model_path=str(dit_models.sd3_model()),
            clip_l_path=str(dit_models.clip_l_model()),
            clip_g_path=str(dit_models.clip_g_model()),
            vae_path=str(dit_models.flux_vae_model()),
        )
    elif kind == "wan":
        context = EngineContext(
            model_path="",
            diffusion_model_path=str(dit_models.wan_model()),
            vae_path=str(dit_models.wan_vae_model()),
        )
    elif kind == "wan-reduced":
        context = EngineContext(model_path="", diffusion_model_path=str(dit_models.wan_reduced_model()))
    elif kind == "esrgan":
        context = EngineContext(model_path="", upscaler_path=str(mode_models.esrgan_model()))
    else:
        raise SystemExit(f"unknown kind {kind}")
    return context, {"prompt": prompt, "options": options}


def main(kind: str, work: Path) -> None:
    logs: list[str] = []
    infos: list[str] = []

    def keep(message: object) -> None:
        if isinstance(message, EngineLog) and message.level in ("warning", "error"):
            logs.append(message.text)
        elif isinstance(message, EngineLog) and ("Version: " in message.text or "running in" in message.text):
            infos.append(message.text)

    engine = Engine(emit_log=keep, verbose=False)
    context, generation = _context_and_generation(kind, work)
    engine.load(context)
    if kind == "wan":
        images = engine.generate_video(
            prompt="a probe",
            negative_prompt="",
            width=PROBE_SIZE,
            height=PROBE_SIZE,
            steps=1,
            cfg_scale=1.0,
            sample_method="euler",
            scheduler="discrete",
            seed=1,
            frames=WAN_FRAMES,
            on_step=lambda *_: None,
        )
    elif kind == "esrgan":
        images = engine.upscale([Image.new("RGB", (PROBE_SIZE, PROBE_SIZE), "red")], 1, lambda *_: None)
    else:
        images = engine.generate(
            prompt=str(generation["prompt"]),
            negative_prompt="",
            width=PROBE_SIZE,
            height=PROBE_SIZE,
            steps=1,
            cfg_scale=1.0 if kind in DIT_KINDS else 7.0,
            sample_method="euler",
            scheduler="discrete",
            seed=1,
            batch_count=1,
            clip_skip=-1,
            on_step=lambda *_: None,
            options=generation["options"],  # type: ignore[arg-type]
        )
    print(json.dumps({"sizes": [list(image.size) for image in images], "warnings": logs, "infos": infos}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
