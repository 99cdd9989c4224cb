"""Model sets (issue 13): defined through the API (admins) into the models folder's TOML file, listed
in /api/models with type `set`, used by name with their defaults; automatic sets where the catalog
can pair a diffusion model with the only fitting parts."""

from __future__ import annotations

import tomllib
from typing import cast

import httpx

from sdcpp_rest.schemas.recommended import FAMILY_SETTINGS, RECOMMENDED_FIELDS
from tests.api.modes_support import output_image, run_mode
from tests.server import ServerProcess

FLUX_SET = {
    "diffusion_model": "flux-tiny.safetensors",
    "clip_l": "clip_l.safetensors",
    "vae": "flux-ae.safetensors",
    "defaults": {
        "steps": 2,
        "cfg_scale": 1.0,
        "width": 64,
        "height": 64,
        "sampling_method": "euler",
        "guidance": 2.5,
    },
}


def _sets(client: httpx.Client) -> dict[str, dict[str, object]]:
    return {s["name"]: s for s in client.get("/api/models/sets").json()["sets"]}


def test_automatic_sets_pair_the_only_fitting_parts(split_client: httpx.Client) -> None:
    sets = _sets(split_client)
    assert sets["flux-tiny"]["automatic"] is True
    # One CLIP-L, one 16-channel VAE (the 4-channel one does not fit), the one T5 (optional for Flux).
    assert sets["flux-tiny"]["parts"] == {
        "diffusion_model": "flux-tiny.safetensors",
        "clip_l": "clip_l.safetensors",
        "vae": "flux-ae.safetensors",
        "t5xxl": "t5xxl-tiny.safetensors",
    }
    assert sets["sd3-medium-q4_0"]["parts"]["clip_g"] == "clip_g.gguf"


def test_a_defined_set_is_stored_listed_and_used_with_its_defaults(
    split_server: ServerProcess, split_client: httpx.Client
) -> None:
    created = split_client.post("/api/models/sets", json={"name": "flux-test", **FLUX_SET})
    assert created.status_code == 201, created.text
    again = split_client.post("/api/models/sets", json={"name": "flux-test", **FLUX_SET})
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_PARAMETERS"
    stored = tomllib.loads((split_server.data_dir / "models" / "model_sets.toml").read_text())
    assert stored["sets"]["flux-test"]["defaults"]["steps"] == 2
    listed = split_client.get("/api/models", params={"type": "set", "limit": 0}).json()["models"]
    entry = next(m for m in listed if m["name"] == "flux-test")
    assert (entry["type"], entry["architecture"]) == ("set", "Flux")
    assert set(entry["components"]) == {"diffusion_model_path", "clip_l_path", "vae_path"}
    # The family's recommended settings with the set's own defaults over them, wherever they show.
    expected = {
        **FAMILY_SETTINGS["Flux"].model_dump(),
        **{k: v for k, v in cast(dict[str, object], FLUX_SET["defaults"]).items() if k in RECOMMENDED_FIELDS},
    }
    assert entry["recommended"] == expected
    assert _sets(split_client)["flux-test"]["recommended"] == expected
    assert _sets(split_client)["flux-tiny"]["recommended"] == FAMILY_SETTINGS["Flux"].model_dump()
    parameters = split_client.get("/api/parameters", params={"model": "flux-test"}).json()
    assert parameters["recommended"] == expected

    # Only the set's name and a prompt (run_mode would give steps): the rest is the set's.
    body = {"model_name": "flux-test", "prompt": "a set"}
    response = split_client.post("/api/generate/text2img", json=body)
    assert response.status_code == 202, response.text
    job = split_server.wait_for(split_client, response.json()["job_id"], timeout=600)
    assert job["status"] == "completed", job
    image, fields = output_image(split_client, job)
    assert image.size == (64, 64)
    assert (fields["Steps"], fields["Guidance"], fields["Sampler"]) == ("2", "2.5", "Euler")
    # A field the request gives wins over the set's default.
    job = run_mode(split_server, split_client, "text2img", model_name="flux-test", prompt="x", steps=1)
    assert output_image(split_client, job)[1]["Steps"] == "1"

    # A part may be named by its path in the models folder; the set keeps the catalog's name.
    body = {**FLUX_SET, "vae": "vae/flux-ae.safetensors", "defaults": {"steps": 3}}
    replaced = split_client.put("/api/models/sets/flux-test", json=body)
    assert replaced.status_code == 200, replaced.text
    assert _sets(split_client)["flux-test"]["defaults"] == {"steps": 3}
    assert _sets(split_client)["flux-test"]["parts"]["vae"] == "flux-ae.safetensors"
    assert split_client.delete("/api/models/sets/flux-test").status_code == 200
    assert "flux-test" not in _sets(split_client)
    assert split_client.delete("/api/models/sets/flux-test").status_code == 404
    assert split_client.delete("/api/models/sets/flux-tiny").status_code == 404  # automatic: stays


def test_bad_sets_are_refused_naming_the_field(split_client: httpx.Client) -> None:
    cases = [
        ({**FLUX_SET, "name": "../evil"}, 400, "name"),
        ({**FLUX_SET, "name": "x", "clip_l": "missing.safetensors"}, 404, "clip_l"),
        ({**FLUX_SET, "name": "x", "vae": "clip_l.safetensors"}, 404, "vae"),  # not a VAE file
        ({**FLUX_SET, "name": "x", "defaults": {"prompt": "no"}}, 400, "prompt"),
    ]
    for body, status, field in cases:
        response = split_client.post("/api/models/sets", json=body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["message"].startswith(f"{field}: "), response.text
    bad_default = split_client.put("/api/models/sets/x", json={**FLUX_SET, "defaults": {"steps": 9999}})
    assert bad_default.status_code == 200  # stored: the file is the admin's; requests check ranges
    response = split_client.post("/api/generate/text2img", json={"model_name": "x", "prompt": "p"})
    assert response.status_code == 400 and "steps" in response.json()["error"]["message"], response.text
    split_client.delete("/api/models/sets/x")
