"""The Generate page in a real browser, auth on: log in, generate and watch it live, find the image in
the gallery and reuse its settings, paint a mask for inpainting, see the API's message beside a bad
field, and every page at phone width without sideways scrolling."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, Page, expect

from sdcpp_rest.schemas.recommended import FAMILY_SETTINGS
from tests.server import ServerProcess
from tests.ui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    AUTH_ENV,
    DESKTOP,
    JOB_TIMEOUT_MS,
    check_no_errors,
    go_to,
    log_in,
    open_page,
    shot,
    start_ui_server,
)

PAGES = ("generate", "queue", "gallery", "models", "users", "system")
PHONE = {"width": 390, "height": 844}
STALE = re.compile(r"\bstale\b")
# Visible form controls and buttons without an accessible name (a <label>, aria-label or text).
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => !(el.getAttribute('aria-label') || [...(el.labels || [])].some((l) => l.textContent.trim())
    || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.outerHTML.slice(0, 120))"""
# Records every state the job cards show, so a state that lasted one frame is not missed.
WATCH_CARDS = """() => {
  window.seenStates = new Set();
  const record = () => {
    for (const card of document.querySelectorAll('.job-card')) {
      window.seenStates.add(card.querySelector('.job-status').textContent);
      const steps = card.querySelector('.job-steps').textContent;
      if (steps) window.seenStates.add(steps);
      if (!card.querySelector('.job-preview').hidden) window.seenStates.add('preview');
    }
  };
  const everything = {subtree: true, childList: true, characterData: true, attributes: true};
  new MutationObserver(record).observe(document.body, everything);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_ui_server(tmp_path_factory, AUTH_ENV)
    yield process
    process.stop()


def fill_small_job(page: Page, prompt: str, steps: int = 2) -> None:
    """A 64x64 job of a step or two: the random-weight model makes noise, fast."""
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Width", exact=True).fill("64")
    page.get_by_label("Height", exact=True).fill("64")
    page.get_by_label("Steps", exact=True).fill(str(steps))


def test_log_in_generate_watch_it_live_and_reuse_it_from_the_gallery(
    server: ServerProcess, page: Page
) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "login")
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    expect(page.get_by_text("admin (admin)")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("live")

    fill_small_job(page, "a lighthouse at dusk")
    page.get_by_label("Random seed").uncheck()
    page.get_by_label("Seed", exact=True).fill("1234")
    estimate = page.locator(".estimate")
    expect(estimate).not_to_have_class(STALE)  # the figure of the form as filled in, from the API
    expect(estimate).to_contain_text("Estimated")
    page.evaluate(WATCH_CARDS)
    page.get_by_role("button", name="Generate", exact=True).click()

    card = page.locator(".job-card").first
    expect(card.locator(".job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(card.get_by_role("progressbar", name="Progress")).to_have_attribute("value", "100")
    expect(card.locator(".job-percent")).to_have_text("100%")
    expect(card.get_by_role("img", name="Result image_0.png")).to_be_visible()
    # Auth is on: the <img> loads through the job's signed output URL, with no headers (issue 27).
    assert image_width(card.get_by_role("img", name="Result image_0.png")) > 0
    seen = set(page.evaluate("() => [...window.seenStates]"))
    assert "processing · sampling" in seen, seen
    assert "preview" in seen, seen  # the live preview (preview=proj) was shown while sampling
    assert "Step 2 of 2" in seen, seen
    expect(estimate).not_to_have_class(STALE)
    shot(page, "generate")

    # Form state survives a reload; then change it, so that reusing the job visibly restores it.
    page.reload()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a lighthouse at dusk")
    page.get_by_label("Prompt", exact=True).fill("something else")
    page.get_by_label("Steps", exact=True).fill("7")

    go_to(page, "Gallery")
    tile = page.get_by_role("button", name="Open image: a lighthouse at dusk")
    expect(tile).to_be_visible()
    expect(tile.locator("img")).to_have_js_property("complete", True)
    assert image_width(tile.locator("img")) > 0  # the signed thumbnail URL
    shot(page, "gallery")
    tile.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("img", name="a lighthouse at dusk")).to_be_visible()
    assert image_width(dialog.get_by_role("img", name="a lighthouse at dusk")) > 0
    expect(dialog.locator("dd", has_text="1234")).to_be_visible()
    expect(dialog.get_by_role("link", name="Download")).to_have_attribute(
        "download", re.compile(r"image_0\.png$")
    )
    shot(page, "gallery-detail")
    dialog.get_by_role("button", name="Use these settings again").click()

    expect(page.get_by_role("heading", name="Generate")).to_be_visible()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a lighthouse at dusk")
    expect(page.get_by_label("Steps", exact=True)).to_have_value("2")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("1234")
    expect(page.get_by_label("Random seed")).not_to_be_checked()
    check_no_errors(page)


def image_width(image: Locator) -> int:
    """The loaded image's width; decode() rejects (and the test fails) for an image that did not load."""
    return int(image.evaluate("img => img.decode().then(() => img.naturalWidth)"))


def _png(path: Path, colour: str) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def painted_share(page: Page) -> float:
    return float(
        page.evaluate(
            """() => { const c = document.querySelector('.mask-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 127) n++; return n / (c.width * c.height); }"""
        )
    )


def test_paint_a_mask_and_run_inpainting(server: ServerProcess, page: Page, tmp_path: Path) -> None:
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    page.get_by_label("Inpainting").check()
    zone = page.get_by_role("group", name="Init image")
    zone.locator("input[type=file]").set_input_files(_png(tmp_path / "red.png", "red"))
    expect(zone.get_by_role("img", name="Init image")).to_be_visible()
    # Drag and drop replaces it (a File in a DataTransfer, as a desktop drop delivers it).
    drop = page.evaluate_handle(
        """async () => { const c = document.createElement('canvas'); c.width = c.height = 64;
        const x = c.getContext('2d'); x.fillStyle = '#2a7'; x.fillRect(0, 0, 64, 64);
        const blob = await new Promise((done) => c.toBlob(done, 'image/png'));
        const t = new DataTransfer();
        t.items.add(new File([blob], 'dropped.png', {type: 'image/png'})); return t; }"""
    )
    zone.dispatch_event("drop", {"dataTransfer": drop})
    expect(zone).to_contain_text("dropped.png, 64×64")
    fill_small_job(page, "a green square, repainted", steps=1)

    canvas = page.get_by_role("img", name="Mask: paint the part to repaint")
    box = canvas.bounding_box()
    assert box is not None
    brush = page.get_by_label("Brush size")
    brush.evaluate("(el) => { el.value = '96'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(page.locator(".mask-tools output")).to_have_text("96 px")
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    painted = painted_share(page)
    assert 0.05 < painted < 0.95, painted
    page.get_by_role("button", name="Invert mask").click()
    assert abs(painted_share(page) - (1 - painted)) < 0.02
    page.get_by_role("button", name="Invert mask").click()
    page.get_by_role("button", name="Eraser").click()
    expect(page.get_by_role("button", name="Eraser")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Eraser").click()
    shot(page, "inpainting")

    page.keyboard.press("Control+Enter")  # the page's shortcut for Generate
    card = page.locator(".job-card").first
    expect(card.locator(".job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    job_id = card.get_attribute("data-job-id")
    with server.client() as client:
        token = client.post("/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD}).json()
        job = client.get(
            f"/api/queue/job/{job_id}", headers={"Authorization": f"Bearer {token['token']}"}
        ).json()
    assert job["mode"] == "inpainting" and job["status"] == "completed", job
    check_no_errors(page)


def test_an_invalid_field_shows_the_api_message_beside_it(server: ServerProcess, page: Page) -> None:
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    page.get_by_label("Prompt", exact=True).fill("x")
    page.get_by_label("Width", exact=True).fill("100")
    expected = httpx.post(f"{server.url}/api/validate", json={"prompt": "x", "width": 100}).json()["errors"]
    assert [e["field"] for e in expected] == ["width"], expected
    width = page.get_by_label("Width", exact=True)
    beside = page.locator(".field", has=page.locator("input[name=width]")).locator(".field-error")
    expect(beside).to_have_text(expected[0]["message"])  # as the user types, from /api/validate
    expect(width).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Generate", exact=True).click()  # the 422 names the field too
    expect(beside).to_have_text(expected[0]["message"])
    expect(width).to_be_focused()
    expect(page.locator(".job-card")).to_have_count(0)
    assert "{" not in (page.locator(".generate-side").text_content() or "")  # no raw JSON anywhere
    shot(page, "invalid-field")
    page.get_by_label("Width", exact=True).fill("64")
    expect(beside).to_be_hidden()
    check_no_errors(page, allowed=("422",))


def test_a_fresh_form_follows_the_checkpoint_and_warns_of_a_long_job(
    server: ServerProcess, page: Page
) -> None:
    # Issue 22: a fresh form on an SD1.5 checkpoint was 1024x1024 and estimated hours.
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    sd1 = FAMILY_SETTINGS["SD1.x"]
    width, height = page.get_by_label("Width", exact=True), page.get_by_label("Height", exact=True)
    expect(width).to_have_value("512")
    expect(height).to_have_value("512")
    expect(page.get_by_label("Steps", exact=True)).to_have_value(str(sd1.steps))
    expect(page.get_by_label("Sampler", exact=True)).to_have_value(sd1.sampling_method)
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    warning = page.locator(".estimate-warning")
    # Far beyond five minutes on any CPU, then a few seconds: the warning follows the estimate.
    width.fill("2048")
    height.fill("2048")
    page.get_by_label("Steps", exact=True).fill("150")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(f"{sd1.width} × {sd1.height}")
    shot(page, "long-estimate")
    width.fill("64")
    height.fill("64")
    page.get_by_label("Steps", exact=True).fill("1")
    expect(page.locator(".estimate")).to_contain_text("Estimated")
    expect(warning).to_be_hidden()
    # Choosing the model again keeps what the user typed; the fields left alone keep following it.
    page.get_by_label("Model", exact=True).select_option("sd15.safetensors")
    expect(width).to_have_value("64")
    expect(page.get_by_label("CFG scale", exact=True)).to_have_value(f"{sd1.cfg_scale:g}")
    page.reload()
    expect(width).to_have_value("64")
    expect(page.get_by_label("Sampler", exact=True)).to_have_value(sd1.sampling_method)
    check_no_errors(page)


def test_every_page_fits_a_phone_without_sideways_scrolling(
    server: ServerProcess, context: BrowserContext
) -> None:
    page = open_page(context)
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    for viewport, prefix in ((PHONE, "phone-"), (DESKTOP, "")):
        page.set_viewport_size(viewport)
        for name in PAGES:
            page.goto(f"{server.url}/#/{name}")
            expect(page.locator(f".page-{name}:not([aria-busy])")).to_be_visible()  # its data read
            if name not in ("generate", "gallery"):  # those two were taken with content above
                shot(page, f"{prefix}{name}")
            elif prefix:
                shot(page, f"{prefix}{name}")
            assert page.evaluate(UNNAMED_CONTROLS) == [], name
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
            )
            assert max(widths[:2]) <= widths[2], (name, viewport, widths)
    check_no_errors(page)
