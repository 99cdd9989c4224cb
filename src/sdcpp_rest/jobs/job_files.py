"""Which files a job loads, named for messages: when the engine crashes the process, any of them may
be the one at fault (a LoRA of the wrong shape, a ControlNet in an unexpected naming; ENGINE_NOTES.md).
Kept free of other job modules so the scheduler can use it without an import cycle."""

from __future__ import annotations

import re

from sdcpp_rest.jobs.records import JobRecord

LORA_TAG = re.compile(r"<lora:([^:>]+):([^>]+)>")  # the binding's own syntax and pattern


def describe_job_files(job: JobRecord) -> str:
    """The files a job loads, for messages about a crash: any of them may be the one at fault."""
    p = job.params
    parts = [f"model '{job.model_name}'"] if job.model_name else []
    for key, label in (("vae_path", "VAE"), ("taesd_path", "TAESD"), ("control_net", "ControlNet")):
        if p.get(key):
            parts.append(f"{label} '{p[key]}'")
    loras = [name for name, _ in LORA_TAG.findall(p.get("prompt", ""))]
    loras += [lora["name"] for lora in p.get("loras") or []]
    if loras:
        parts.append("LoRA " + ", ".join(f"'{name}'" for name in loras))
    if p.get("upscaler"):
        parts.append(f"upscaler '{p['upscaler']}'")
    return ", ".join(parts) or "no model"
