"""Encode one prompt with the real engine, in a process of its own (`python -m tests.engine.prompt_probe
FAMILY PROMPT_FILE`): the prompt (UTF-8 text in the file) goes through a 64x64, one-step generation,
so a native crash while encoding it ends this process, not the caller. Prints one JSON line with the
image sizes; the exit status is the verdict (a negative one: the signal that ended the engine).

Families: `sd15` (the random-weight SD1.5 checkpoint: CLIP-L), `flux` (the reduced Flux with CLIP-L and
no T5: the engine still runs its T5 tokenizer), `sd3` (SD3 with CLIP-L and CLIP-G, as SDXL's two CLIP
encoders; slow: CLIP-G on 2 cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sdcpp_rest.engine.protocol import EngineContext, ModeOptions
from sdcpp_rest.engine.sd_engine import Engine
from tests.fixtures import dit_models
from tests.fixtures.test_models import sd15_model

PROBE_SIZE = 64
FAMILIES = ("sd15", "flux", "sd3")


def context_for(family: str) -> EngineContext:
    if family == "sd15":
        return EngineContext(model_path=str(sd15_model()), n_threads=-1)
    if family == "flux":
        return EngineContext(
            model_path="",
            diffusion_model_path=str(dit_models.flux_model()),
            clip_l_path=str(dit_models.clip_l_model()),
            vae_path=str(dit_models.flux_vae_model()),
        )
    if family == "sd3":
        return EngineContext(
            model_path="",
            diffusion_model_path=str(dit_models.sd3_model()),
            clip_l_path=str(dit_models.clip_l_model()),
            clip_g_path=str(dit_models.clip_g_model()),
            vae_path=str(dit_models.flux_vae_model()),
        )
    raise SystemExit(f"unknown family {family}; one of {', '.join(FAMILIES)}")


def main(family: str, prompt_file: Path) -> None:
    prompt = prompt_file.read_text(encoding="utf-8")
    engine = Engine(emit_log=lambda _message: None, verbose=False)
    engine.load(context_for(family))
    images = engine.generate(
        prompt=prompt,
        negative_prompt="",
        width=PROBE_SIZE,
        height=PROBE_SIZE,
        steps=1,
        cfg_scale=1.0,  # one model evaluation: the negative prompt's encoding is skipped
        sample_method="euler",
        scheduler="discrete",
        seed=1,
        batch_count=1,
        clip_skip=-1,
        on_step=lambda *_: None,
        options=ModeOptions(),
    )
    print(json.dumps({"sizes": [list(image.size) for image in images]}))  # noqa: T201 - the probe's answer


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
