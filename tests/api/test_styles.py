"""Prompt styles end to end: a real server (the shared one, auth off: every style is shared), the real
engine at 64x64 and one step. The prompt a job runs is the styled one, in the job and the PNG."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from sdcpp_rest.outputs.infotext import parse_infotext
from sdcpp_rest.schemas.parameters import MAX_PROMPT_BYTES
from tests.server import ServerProcess


@pytest.fixture
def names(client: httpx.Client) -> Iterator[list[str]]:
    """Unique style names for one test (the server is shared); their styles are deleted afterwards."""
    made = [f"t{uuid.uuid4().hex[:8]}-{index}" for index in range(3)]
    yield made
    for name in made:
        client.delete(f"/api/styles/{name}", params={"shared": True})


def add(client: httpx.Client, name: str, prompt: str, negative: str = "") -> dict[str, object]:
    reply = client.post("/api/styles", json={"name": name, "prompt": prompt, "negative_prompt": negative})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def error_of(reply: httpx.Response) -> tuple[int, str, str]:
    error = reply.json()["error"]
    return reply.status_code, error["code"], error["message"]


def test_a_style_with_prompt_wraps_one_without_appends_and_the_png_records_both(
    server: ServerProcess, client: httpx.Client, names: list[str]
) -> None:
    wrap, tail = names[:2]
    add(client, wrap, "oil painting of {prompt}", "blurry")
    add(client, tail, "masterpiece", "{prompt}, lowres")
    job_id = server.submit(client, prompt="a fox", negative_prompt="ugly", styles=[wrap, tail])
    job = server.wait_for(client, job_id)
    assert job["status"] == "completed", job
    assert job["prompt"] == "oil painting of a fox, masterpiece"
    image = Image.open(io.BytesIO(client.get(job["outputs"][0]["url"]).content))
    prompt, negative, fields = parse_infotext(image.text["parameters"])
    assert prompt == "oil painting of a fox, masterpiece"
    assert negative == "ugly, blurry, lowres"
    assert fields["Styles"] == f"{wrap}, {tail}"
    assert f'Styles: "{wrap}, {tail}"' in image.text["parameters"]


def test_an_unknown_style_is_refused_naming_it(client: httpx.Client, names: list[str]) -> None:
    add(client, names[0], "x")
    body = {"prompt": "a", "width": 64, "height": 64, "steps": 1, "styles": [names[0], "no-such-style"]}
    status, code, message = error_of(client.post("/api/generate/text2img", json=body))
    assert (status, code) == (400, "INVALID_PARAMETERS") and "no-such-style" in message
    report = client.post("/api/validate", json=body).json()
    assert not report["valid"] and report["errors"][0]["field"] == "styles.1", report


def test_the_prompt_limit_counts_the_styled_prompt(client: httpx.Client, names: list[str]) -> None:
    add(client, names[0], "y" * 4000)
    text = "x" * (MAX_PROMPT_BYTES - 100)
    body = {"prompt": text, "width": 64, "height": 64, "steps": 1}
    assert client.post("/api/validate", json=body).json()["valid"] is True  # fits without the style
    status, code, message = error_of(
        client.post("/api/generate/text2img", json={**body, "styles": [names[0]]})
    )
    assert (status, code) == (400, "INVALID_PARAMETERS") and f"at most {MAX_PROMPT_BYTES} bytes" in message


def test_validate_shows_the_styled_prompt(client: httpx.Client, names: list[str]) -> None:
    add(client, names[0], "{prompt} at dusk", "noise")
    body = {"prompt": "a hill", "width": 64, "height": 64, "steps": 1, "styles": [names[0]]}
    report = client.post("/api/validate", json=body).json()
    assert report["valid"], report
    assert (report["normalized"]["prompt"], report["normalized"]["negative_prompt"]) == (
        "a hill at dusk",
        "noise",
    )


def test_styles_are_added_listed_replaced_and_deleted(client: httpx.Client, names: list[str]) -> None:
    name = names[0]
    made = add(client, name, "first", "neg")
    assert made["shared"] is True and made["owner"] is None and made["usable"] is True  # auth off
    status, code, _ = error_of(client.post("/api/styles", json={"name": name, "prompt": "again"}))
    assert (status, code) == (409, "INVALID_PARAMETERS")
    replaced = client.put(f"/api/styles/{name}", json={"prompt": "{prompt} second"})
    assert replaced.status_code == 200 and replaced.json()["prompt"] == "{prompt} second"
    listed = {style["name"]: style for style in client.get("/api/styles").json()["styles"]}
    assert listed[name]["prompt"] == "{prompt} second" and listed[name]["negative_prompt"] == ""
    assert client.delete(f"/api/styles/{name}").status_code == 200
    status, code, _ = error_of(client.delete(f"/api/styles/{name}"))
    assert (status, code) == (404, "NOT_FOUND")
    status, code, _ = error_of(client.post("/api/styles", json={"name": "a/b", "prompt": "x"}))
    assert (status, code) == (400, "INVALID_PARAMETERS")
    status, code, _ = error_of(client.post("/api/styles", json={"prompt": "no name"}))
    assert (status, code) == (422, "VALIDATION_ERROR")


def test_an_a1111_styles_csv_imports_as_text_or_file(client: httpx.Client, names: list[str]) -> None:
    one, two, _ = names
    csv_text = (
        f'name,prompt,negative_prompt\n{one},"cinematic still of {{prompt}}, film grain",cartoon\n'
        "bad/name,x,\n"
    )
    reply = client.post("/api/styles/import", content=csv_text, headers={"Content-Type": "text/csv"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["created"] == [one] and [s["name"] for s in reply.json()["skipped"]] == ["bad/name"]
    file_text = f"name,prompt,negative_prompt\n{one},changed,\n{two},plain,\n"
    files = {"file": ("styles.csv", file_text.encode(), "text/csv")}
    reply = client.post("/api/styles/import", files=files)
    assert reply.status_code == 200, reply.text
    assert (reply.json()["created"], reply.json()["updated"]) == ([two], [one])
    kept = client.post("/api/styles/import", params={"overwrite": False}, files=files).json()
    assert kept["created"] == kept["updated"] == [] and len(kept["skipped"]) == 2
    listed = {style["name"]: style["prompt"] for style in client.get("/api/styles").json()["styles"]}
    assert (listed[one], listed[two]) == ("changed", "plain")
    status, code, _ = error_of(client.post("/api/styles/import", content=b"no header here"))
    assert (status, code) == (400, "INVALID_PARAMETERS")
