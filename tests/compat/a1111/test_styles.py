"""The A1111 adapter's prompt styles through webuiapi from PyPI: /sdapi/v1/prompt-styles lists the
server's styles and txt2img's `styles` applies them, as the native API does (one planner)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import webuiapi

from sdcpp_rest.outputs.infotext import parse_infotext
from tests.compat.conftest import native_job
from tests.server import ServerProcess

SMALL = {"width": 64, "height": 64, "steps": 1}


@pytest.fixture
def styles(compat_server: ServerProcess) -> Iterator[list[str]]:
    """Two styles made through the native API (auth off: shared), deleted afterwards."""
    names = [f"a1111-{uuid.uuid4().hex[:8]}-{index}" for index in range(2)]
    texts = [("{prompt} by the sea", "fog"), ("watercolor", "")]
    with compat_server.client() as client:
        for name, (prompt, negative) in zip(names, texts, strict=True):
            body = {"name": name, "prompt": prompt, "negative_prompt": negative}
            assert client.post("/api/styles", json=body).status_code == 201
    yield names
    with compat_server.client() as client:
        for name in names:
            client.delete(f"/api/styles/{name}")


def test_prompt_styles_lists_the_servers_styles(compat_server: ServerProcess, styles: list[str]) -> None:
    api = webuiapi.WebUIApi(host="127.0.0.1", port=compat_server.port)
    listed = {style["name"]: style for style in api.get_prompt_styles()}
    assert listed[styles[0]] == {"name": styles[0], "prompt": "{prompt} by the sea", "negative_prompt": "fog"}
    assert listed[styles[1]]["prompt"] == "watercolor"


def test_txt2img_styles_apply_and_the_infotext_records_them(
    compat_server: ServerProcess, styles: list[str]
) -> None:
    api = webuiapi.WebUIApi(host="127.0.0.1", port=compat_server.port, sampler="Euler a", steps=1)
    result = api.txt2img(prompt="a boat", negative_prompt="ugly", styles=styles, **SMALL)
    assert result.info["prompt"] == "a boat by the sea, watercolor"
    prompt, negative, fields = parse_infotext(result.info["infotexts"][0])
    assert (prompt, negative) == ("a boat by the sea, watercolor", "ugly, fog")
    assert fields["Styles"] == ", ".join(styles)
    assert result.image.text["parameters"] == result.info["infotexts"][0]
    assert native_job(compat_server, str(result.info["job_id"]))["prompt"] == "a boat by the sea, watercolor"


def test_an_unknown_style_is_an_a1111_error_naming_it(compat_server: ServerProcess) -> None:
    body = {"prompt": "a", "styles": ["no-such-style"], **SMALL}
    reply = httpx.post(f"{compat_server.url}/sdapi/v1/txt2img", json=body, timeout=60)
    assert reply.status_code == 400, reply.text
    assert "no-such-style" in reply.text
