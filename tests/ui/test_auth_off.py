"""The web UI with authentication off (the default): no login, keyboard use, the served files'
headers, the dark theme, and an image sent from the gallery to the upscale mode."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.server import ServerProcess
from tests.ui.conftest import JOB_TIMEOUT_MS, check_no_errors, go_to, shot, start_ui_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_ui_server(tmp_path_factory, {})
    yield process
    process.stop()


def test_the_server_serves_the_page_itself_and_the_api_stays_where_it_was(server: ServerProcess) -> None:
    with server.client() as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        module = client.get("/ui/js/main.js")
        assert module.status_code == 200 and "javascript" in module.headers["content-type"]
        assert client.get("/ui/app.css").headers["content-type"].startswith("text/css")
        missing = client.get("/no-such-page")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        assert client.get("/docs").status_code == 200
        assert client.get("/api/health").json()["status"] == "healthy"
        # Every file the page loads is served from the package: nothing from a CDN or font host.
        assert "http" not in index.text.replace('href="docs"', "")


def test_without_auth_the_page_opens_on_generate_and_works_by_keyboard(
    server: ServerProcess, page: Page
) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Generate")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in")).to_have_count(0)
    expect(page.get_by_text("Authentication is off")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    nav = page.get_by_role("navigation", name="Main")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Generate")).to_be_focused()
    for _ in range(2):
        page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Gallery")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    go_to(page, "Generate")

    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("typed, then Ctrl+Enter")
    for name, value in (("Width", "64"), ("Height", "64"), ("Steps", "1")):
        page.get_by_label(name, exact=True).fill(value)
    prompt.focus()
    page.keyboard.press("Control+Enter")
    card = page.locator(".job-card").first
    expect(card.locator(".job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)

    # A pasted image lands in the image input of the mode on show.
    page.get_by_label("img2img", exact=True).check()
    page.evaluate(
        """async () => { const c = document.createElement('canvas'); c.width = 72; c.height = 80;
        const blob = await new Promise((done) => c.toBlob(done, 'image/png'));
        const data = new DataTransfer(); data.items.add(new File([blob], 'pasted.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true})); }"""
    )
    expect(page.get_by_role("group", name="Init image")).to_contain_text("pasted.png, 72×80")
    expect(page.get_by_label("Width", exact=True)).to_have_value("72")  # the image's size, shown
    page.get_by_label("text2img", exact=True).check()

    page.emulate_media(color_scheme="dark")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 20, 24)", background
    shot(page, "generate-dark")
    page.emulate_media(color_scheme="light")
    check_no_errors(page)


def test_an_image_sent_from_the_gallery_is_upscaled(server: ServerProcess, page: Page) -> None:
    with server.client() as client:
        job_id = server.submit(client, prompt="to be upscaled", preview="proj")
        assert server.wait_for(client, job_id)["status"] == "completed"
    page.goto(server.url + "/#/gallery")
    page.get_by_role("button", name="Open image: to be upscaled").click()
    page.get_by_role("dialog").get_by_role("button", name="Send to upscale").click()
    expect(page.get_by_label("Upscale", exact=True)).to_be_checked()
    zone = page.get_by_role("group", name="Image to upscale")
    expect(zone).to_contain_text("image_0.png, 64×64")
    expect(page.get_by_label("Prompt", exact=True)).to_be_hidden()  # upscaling needs no prompt
    page.get_by_label("Upscaler", exact=True).select_option("esrgan-x4.safetensors")
    page.get_by_role("button", name="Generate", exact=True).click()
    card = page.locator(".job-card").first
    expect(card.locator(".job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    upscaled = card.get_attribute("data-job-id")
    job = httpx.get(f"{server.url}/api/queue/job/{upscaled}").json()
    assert job["mode"] == "upscale" and job["outputs"], job
    check_no_errors(page)


def test_styles_chosen_on_the_generate_page_make_the_jobs_prompt(server: ServerProcess, page: Page) -> None:
    """Issue 23: the styles multi-select offers the server's styles; the job runs the styled prompt."""
    with server.client() as client:
        for name, prompt in (("ui-frame", "a drawing of {prompt}"), ("ui-tail", "pastel")):
            reply = client.post(
                "/api/styles", json={"name": name, "prompt": prompt, "negative_prompt": "dark"}
            )
            assert reply.status_code == 201, reply.text
    page.goto(server.url + "/")
    go_to(page, "Generate")
    page.get_by_label("Prompt", exact=True).fill("a lighthouse")
    for name, value in (("Width", "64"), ("Height", "64"), ("Steps", "1")):
        page.get_by_label(name, exact=True).fill(value)
    page.get_by_label("Styles", exact=True).select_option(["ui-frame", "ui-tail"])
    page.get_by_role("button", name="Generate", exact=True).click()
    card = page.locator(".job-card").first
    expect(card.locator(".job-status")).to_have_text("completed", timeout=JOB_TIMEOUT_MS)
    job = httpx.get(f"{server.url}/api/queue/job/{card.get_attribute('data-job-id')}").json()
    assert job["prompt"] == "a drawing of a lighthouse, pastel", job
    check_no_errors(page)


# ReDoc always tries to show its maker's logo from their CDN; the CSP refuses it (the browser logs
# that, nothing leaves it) and ReDoc then leaves the logo out.
REDOC_LOGO = "cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_the_api_docs_render_from_this_server_alone(server: ServerProcess, page: Page, prefix: str) -> None:
    """Issue 27 finding 10: Swagger UI and ReDoc come from the server, under a CSP that allows no
    other origin and no inline script; a blocked file or script would show as a console error."""
    fetched: list[str] = []
    page.on("requestfinished", lambda request: fetched.append(request.url))
    page.goto(f"{server.url}{prefix}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("sdcpp-rest")
    expect(page.locator(".opblock").first).to_be_visible()
    page.goto(f"{server.url}{prefix}/redoc")
    expect(page.locator("h1").first).to_contain_text("sdcpp-rest")
    expect(page.get_by_role("menuitem").first).to_be_visible()
    others = [url for url in fetched if not url.startswith((server.url, "data:", "blob:"))]
    assert others == [], others
    check_no_errors(page, allowed=(REDOC_LOGO,))


def test_the_live_feed_reconnects_when_the_server_comes_back(server: ServerProcess, page: Page) -> None:
    """Last in the module: it stops the module's server and starts another on the same port."""
    page.goto(server.url + "/#/queue")
    live = page.locator("#live-status")
    expect(live).to_have_text("live")
    server.stop()
    expect(live).to_have_text("reconnecting…")
    again = ServerProcess(server.data_dir)
    again.port, again.url = server.port, server.url
    again.start()
    try:
        expect(live).to_have_text("live")
        with again.client() as client:
            job_id = again.submit(client, prompt="after the restart", preview="proj")
            expect(page.locator(f'.job-card[data-job-id="{job_id}"]')).to_be_visible()  # the new feed
            again.wait_for(client, job_id)
    finally:
        again.stop()
    check_no_errors(page, allowed=("WebSocket", "ERR_CONNECTION_REFUSED"))
