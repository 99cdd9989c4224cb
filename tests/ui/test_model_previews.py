"""Model and LoRA pickers with the preview images kept beside the files (issue 22), in a real browser
with auth on: the image comes through the authenticated API, within the page's CSP (a refused image
or script would be a console error), and a model without one shows its name in text."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from tests.fixtures import mode_models
from tests.server import ServerProcess, link_or_copy
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, AUTH_ENV, check_no_errors, log_in, shot, ui_data_dir

# Fetched with the credential and shown from a blob: URL (an <img src> could not send a bearer token).
BLOB_URL = re.compile(r"^blob:")


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = ui_data_dir(tmp_path_factory.mktemp("ui-previews"))
    models = data_dir / "models"
    (models / "lora" / "lora-random.png").write_bytes(_png((0, 200, 0)))
    link_or_copy(mode_models.lora_model(), models / "lora" / "no-preview.safetensors")
    (models / "checkpoints" / "sd15.preview.png").write_bytes(_png((200, 0, 0)))
    process = ServerProcess(data_dir, env=AUTH_ENV).start()
    yield process
    process.stop()


def _decoded(image: Locator) -> bool:
    """The <img> holds a decoded picture (not a broken image)."""
    return bool(image.evaluate("(img) => img.complete && img.naturalWidth > 0"))


def test_lora_and_model_pickers_show_the_preview_beside_the_file(server: ServerProcess, page: Page) -> None:
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    lora = page.get_by_label("LoRA", exact=True)
    lora.select_option("lora-random.safetensors")
    lora_image = page.get_by_role("img", name="Preview of lora-random.safetensors")
    expect(lora_image).to_be_visible()
    expect(lora_image).to_have_attribute("loading", "lazy")
    expect(lora_image).to_have_attribute("src", BLOB_URL)
    assert _decoded(lora_image)
    # A LoRA without a picture: its name in text, no image.
    lora.select_option("no-preview.safetensors")
    expect(page.get_by_text("LoRA: no-preview.safetensors (no preview image)")).to_be_visible()
    expect(lora_image).to_have_count(0)
    model = page.get_by_label("Model", exact=True)
    model.select_option("sd15.safetensors")
    model_image = page.get_by_role("img", name="Preview of sd15.safetensors")
    expect(model_image).to_be_visible()
    assert _decoded(model_image)
    shot(page, "model-previews")
    check_no_errors(page)
