"""LoRA apply modes side by side: the time of a job whose LoRA differs from the previous job's, for
`immediately`, `at_runtime` and `auto`, through a real server and the real engine (the random-weight
SD1.5 checkpoint, f16 weights, and two random LoRAs covering every attention projection of its UNet).

    .venv/bin/python -m bench.bench_lora_apply [--rounds 3] [--steps 8] [--size 128]

Each round runs, for each mode in turn, a job with LoRA A (untimed: it may reload the context when the
mode changes) and then a job with LoRA B, which is timed: the switch the issue asks about. A job with
no LoRA gives the base time. The table shows the median seconds over the rounds and the ratio to
`immediately`; rounds interleave the modes so machine noise falls on all of them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from bench.bench_cache_modes import run_to_completion
from tests.fixtures.test_models import sd15_model
from tests.server import ServerProcess, link_or_copy

MODES = ("immediately", "at_runtime", "auto")
RANK = 16
TEXT_WIDTH = 768  # the SD1.5 text encoder's width: what cross-attention keys and values read
# (kohya block name, channels) of every transformer block in the SD1.5 UNet.
BLOCKS = (
    [(f"down_blocks_{b}_attentions_{a}", c) for b, c in ((0, 320), (1, 640), (2, 1280)) for a in (0, 1)]
    + [("mid_block_attentions_0", 1280)]
    + [(f"up_blocks_{b}_attentions_{a}", c) for b, c in ((1, 1280), (2, 640), (3, 320)) for a in (0, 1, 2)]
)


def _lora(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for block, channels in BLOCKS:
        prefix = f"lora_unet_{block}_transformer_blocks_0"
        layers = {f"attn1_{n}": channels for n in ("to_q", "to_k", "to_v", "to_out_0")}
        layers |= {"attn2_to_q": channels, "attn2_to_out_0": channels}
        layers |= {"attn2_to_k": TEXT_WIDTH, "attn2_to_v": TEXT_WIDTH}
        for layer, in_features in layers.items():
            name = f"{prefix}_{layer}"
            tensors[f"{name}.lora_down.weight"] = (rng.standard_normal([RANK, in_features]) * 0.01).astype(
                np.float16
            )
            tensors[f"{name}.lora_up.weight"] = (rng.standard_normal([channels, RANK]) * 0.01).astype(
                np.float16
            )
            tensors[f"{name}.alpha"] = np.array(float(RANK), dtype=np.float16)
    save_file(tensors, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lora-") as tmp:
        data_dir = Path(tmp) / "data"
        link_or_copy(sd15_model(), data_dir / "models" / "checkpoints" / "sd15.safetensors")
        (data_dir / "models" / "lora").mkdir(parents=True)
        _lora(data_dir / "models" / "lora" / "bench-a.safetensors", 1)
        _lora(data_dir / "models" / "lora" / "bench-b.safetensors", 2)
        server = ServerProcess(data_dir).start(timeout=120)
        base = {"model_name": "sd15.safetensors", "prompt": "a bench", "seed": 1, "steps": args.steps}
        base.update(width=args.size, height=args.size)
        try:
            run_to_completion(server, base)  # untimed: the first load
            times: dict[str, list[float]] = {mode: [] for mode in ("no LoRA", *MODES)}
            for _ in range(args.rounds):
                times["no LoRA"].append(run_to_completion(server, base))
                for mode in MODES:
                    run_to_completion(
                        server, {**base, "lora_apply_mode": mode, "prompt": "a bench <lora:bench-a:0.8>"}
                    )
                    switched = {**base, "lora_apply_mode": mode, "prompt": "a bench <lora:bench-b:0.8>"}
                    times[mode].append(run_to_completion(server, switched))
            reference = statistics.median(times["immediately"])
            print(f"SD1.5 f16, {args.size}x{args.size}, {args.steps} steps, {args.rounds} rounds")
            print(f"{'mode':<12} {'median s':>9} {'vs immediately':>15}")
            for mode, seconds in times.items():
                median = statistics.median(seconds)
                print(f"{mode:<12} {median:>9.2f} {reference / median:>14.2f}x", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
