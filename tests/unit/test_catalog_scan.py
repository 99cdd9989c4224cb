"""Scanning the models folder: type folders and aliases, nesting, symlinks, damaged files, reuse."""

from __future__ import annotations

import os
from pathlib import Path

from sdcpp_rest.catalog.scan import SkippedFile, default_type_roots, scan, stray_model_files
from tests.fixtures.synthetic_models import write_architecture, write_gguf, write_safetensors


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    write_architecture(models / "checkpoints" / "sd1.safetensors", "sd1_diffusers")
    write_architecture(models / "stable-diffusion" / "xl" / "deep" / "sdxl.safetensors", "sdxl")
    write_gguf(
        models / "checkpoints" / "flux-q8.gguf",
        {
            "model.diffusion_model.double_blocks.0.w": ([4, 4], 8),
            "model.diffusion_model.single_blocks.0.w": ([4, 4], 8),
        },
    )
    write_architecture(models / "vae" / "vae.safetensors", "vae")
    write_architecture(models / "lora" / "style.safetensors", "lora_sd1")
    write_architecture(models / "embeddings" / "word.safetensors", "embedding")
    write_safetensors(models / "upscale_models" / "x4.safetensors", {"conv_first.weight": [4, 3, 3, 3]})
    write_safetensors(models / "taesd" / "taesd.safetensors", {"decoder.layers.0.weight": [4, 4]})
    write_safetensors(models / "controlnet" / "cn.safetensors", {"control_model.zero_convs.0.0.weight": [4]})
    (models / "checkpoints" / "notes.txt").write_text("not a model")
    (models / "checkpoints" / ".hidden.safetensors").write_bytes(b"x")
    return models


def test_every_type_folder_and_alias_is_scanned_recursively(tmp_path: Path) -> None:
    models = _models(tmp_path)
    found = scan(default_type_roots(models))
    assert set(found) == {
        ("checkpoint", "sd1.safetensors"),
        ("checkpoint", "xl/deep/sdxl.safetensors"),
        ("checkpoint", "flux-q8.gguf"),
        ("vae", "vae.safetensors"),
        ("lora", "style.safetensors"),
        ("embedding", "word.safetensors"),
        ("esrgan", "x4.safetensors"),
        ("taesd", "taesd.safetensors"),
        ("controlnet", "cn.safetensors"),
    }
    sd1 = found[("checkpoint", "sd1.safetensors")]
    assert (sd1.architecture, sd1.weight_type, sd1.format, sd1.error) == ("SD1.x", "f16", "safetensors", None)
    assert "vae_path" in sd1.components
    assert found[("checkpoint", "xl/deep/sdxl.safetensors")].architecture == "SDXL"
    flux = found[("checkpoint", "flux-q8.gguf")]
    assert (flux.architecture, flux.weight_type, flux.format) == ("Flux", "q8_0", "gguf")
    assert found[("lora", "style.safetensors")].architecture == "SD1.x"


def test_damaged_files_are_listed_with_an_error(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / "empty.safetensors").write_bytes(b"")
    (models / "checkpoints" / "junk.gguf").write_bytes(b"junk" * 10)
    (models / "checkpoints" / "junk.ckpt").write_bytes(b"junk")
    good = write_architecture(models / "checkpoints" / "good.safetensors", "sd2")
    cut = models / "checkpoints" / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-10])
    found = scan(default_type_roots(models))
    assert found[("checkpoint", "good.safetensors")].error is None
    for name in ("empty.safetensors", "junk.gguf", "junk.ckpt", "cut.safetensors"):
        entry = found[("checkpoint", name)]
        assert entry.error and entry.architecture is None, name


def test_symlinks_are_followed_wherever_they_point_and_loops_are_stopped(tmp_path: Path) -> None:
    """Issue 22: a model library shared with other tools is linked in, file by file or as a folder."""
    models = _models(tmp_path)
    library = tmp_path / "library"
    write_architecture(library / "shared.safetensors", "sd1_original")
    (library / "nested").mkdir()
    write_architecture(library / "nested" / "deep.safetensors", "sdxl")
    os.symlink(library / "nested", library / "nested" / "back")  # a loop inside the linked library
    checkpoints = models / "checkpoints"
    os.symlink(library / "shared.safetensors", checkpoints / "linked.safetensors")
    os.symlink(library, checkpoints / "library")
    os.symlink(checkpoints / "sd1.safetensors", checkpoints / "alias.safetensors")
    os.symlink(checkpoints, checkpoints / "loop")  # must not make the walk endless
    (checkpoints / "inner").mkdir()
    write_architecture(checkpoints / "inner" / "in.safetensors", "sd3")
    os.symlink(checkpoints / "inner", checkpoints / "inner_link")
    os.symlink(tmp_path / "gone.safetensors", checkpoints / "broken.safetensors")
    (checkpoints / "notes.exe").write_bytes(b"MZ")
    (checkpoints / "sd1.preview.png").write_bytes(b"png")  # a companion file: no model, no complaint
    skipped: list[SkippedFile] = []
    found = scan(default_type_roots(models), skipped=skipped)
    names = {name for kind, name in found if kind == "checkpoint"}
    assert {
        "linked.safetensors",
        "library/shared.safetensors",
        "library/nested/deep.safetensors",
        "alias.safetensors",
        "inner/in.safetensors",
        "inner_link/in.safetensors",
    } <= names
    assert not any(name.startswith(("loop/", "library/nested/back/")) for name in names)
    linked = found[("checkpoint", "linked.safetensors")]
    assert linked.architecture == "SD1.x" and linked.real_path == (library / "shared.safetensors").resolve()
    assert linked.path == checkpoints / "linked.safetensors"  # named by the link, inside the folder
    reasons = {item.name: item.reason for item in skipped}
    assert set(reasons) == {"loop", "library/nested/back", "broken.safetensors", "notes.exe"}
    assert "loop" in reasons["loop"] and "loop" in reasons["library/nested/back"]
    assert "broken symlink" in reasons["broken.safetensors"]
    assert "unknown file type '.exe'" in reasons["notes.exe"]


def test_a_link_without_extension_target_is_read_by_its_own_name(tmp_path: Path) -> None:
    """Hugging Face's cache keeps files as extension-less blobs behind named links."""
    models = _models(tmp_path)
    blob = tmp_path / "hub" / "blobs" / "0123abcd"
    write_architecture(blob, "sdxl")
    os.symlink(blob, models / "checkpoints" / "from-hub.safetensors")
    entry = scan(default_type_roots(models))[("checkpoint", "from-hub.safetensors")]
    assert (entry.format, entry.architecture, entry.error) == ("safetensors", "SDXL", None)


def test_model_files_straight_in_the_models_folder_are_reported(tmp_path: Path) -> None:
    models = _models(tmp_path)
    write_architecture(models / "dropped.safetensors", "sd1_original")
    (models / "readme.txt").write_text("x")
    strays = stray_model_files(models)
    assert [(s.type, s.name) for s in strays] == [(None, "dropped.safetensors")]
    assert "not in a model-type folder" in strays[0].reason


def test_diffusers_folder_is_one_checkpoint(tmp_path: Path) -> None:
    models = tmp_path / "models"
    folder = models / "checkpoints" / "sdxl-diffusers"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    write_safetensors(folder / "unet" / "diffusion_pytorch_model.safetensors", {"w": [2]})
    found = scan(default_type_roots(models))
    assert list(found) == [("checkpoint", "sdxl-diffusers")]
    assert found[("checkpoint", "sdxl-diffusers")].format == "diffusers"
    assert found[("checkpoint", "sdxl-diffusers")].architecture == "SDXL"


def test_unchanged_files_are_reused_without_reading_headers(tmp_path: Path) -> None:
    models = _models(tmp_path)
    first = scan(default_type_roots(models))
    target = models / "vae" / "vae.safetensors"
    write_architecture(target, "sd1_original")
    os.utime(target, ns=(1, 1))
    second = scan(default_type_roots(models), first)
    changed = [key for key in second if second[key] is not first.get(key)]
    assert changed == [("vae", "vae.safetensors")]
