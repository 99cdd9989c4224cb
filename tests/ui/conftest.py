"""Browser tests of the web UI: Debian's Chromium driven by Playwright (never a browser Playwright
downloads) against a real server with the real engine and the random-weight models.

One server and one browser per module; each test opens its own browser context (cookies, storage)
and fails on any JavaScript error of its pages. Screenshots go to test-artifacts/ui/ (gitignored).
Chromium comes from `./scripts/setup --browser` (apt-get install chromium); SDCPP_REST_CHROMIUM names
another binary, SDCPP_REST_SKIP_UI_TESTS=1 skips these tests where no Chromium can be had.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fixtures import mode_models
from tests.server import ServerProcess, link_or_copy, prepare_data_dir

CHROMIUM = os.environ.get("SDCPP_REST_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed: without the background-networking flags Chromium keeps opening
# connections (updates, sync, field trials) that are refused many at a time.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
DESKTOP = {"width": 1280, "height": 900}
# Playwright's defaults (30 s, 5 s for expect) are short for a first generation (a model load
# included) on a 2-core machine that other tests share.
EXPECT_TIMEOUT_MS = 120_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)
# A job's end: a model load from a disk and memory that other test processes share can take minutes.
JOB_TIMEOUT_MS = 300_000

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-1"
USER, USER_PASSWORD = "bob", "bob-password-1"
AUTH_ENV = {
    "STABLE_DIFFUSION_AUTH_METHOD": "jwt,api_key",
    "STABLE_DIFFUSION_ADMIN_USERNAME": ADMIN,
    "STABLE_DIFFUSION_ADMIN_PASSWORD": ADMIN_PASSWORD,
}


def ui_data_dir(data_dir: Path) -> Path:
    """The SD1.5 checkpoint plus one working model of each other type the form lists."""
    prepare_data_dir(data_dir)
    models = data_dir / "models"
    link_or_copy(mode_models.vae_model(), models / "vae" / "vae-random.safetensors")
    link_or_copy(mode_models.taesd_model(), models / "taesd" / "taesd-random.safetensors")
    link_or_copy(mode_models.controlnet_model(), models / "controlnet" / "control-random.safetensors")
    link_or_copy(mode_models.esrgan_model(), models / "esrgan" / "esrgan-x4.safetensors")
    link_or_copy(mode_models.lora_model(), models / "lora" / "lora-random.safetensors")
    return data_dir


def start_ui_server(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> ServerProcess:
    return ServerProcess(ui_data_dir(tmp_path_factory.mktemp("ui-server")), env=env).start()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = (
            f"no Chromium at {CHROMIUM}: run ./scripts/setup --browser (as root on Debian/Ubuntu it "
            "installs the chromium package), or set SDCPP_REST_CHROMIUM to a Chromium binary"
        )
        if os.environ.get("SDCPP_REST_SKIP_UI_TESTS") == "1":
            pytest.skip(message)
        pytest.fail(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(EXPECT_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    yield open_page(context)


def open_page(context: BrowserContext) -> Page:
    """A page that records its JavaScript errors; check_no_errors(page) fails the test on any."""
    new = context.new_page()
    errors: list[str] = []
    new.on("pageerror", lambda error: errors.append(str(error)))
    new.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    setattr(new, "js_errors", errors)  # noqa: B010 - read back by check_no_errors
    return new


# With auth on, the page asks /api/auth/me without a credential to learn that it must show the login;
# the browser logs that 401 as a console error.
SIGN_IN_PROBE = "status of 401"


def check_no_errors(page: Page, allowed: tuple[str, ...] = ()) -> None:
    """No uncaught exception, no console error (a refused request logs one: name it in `allowed`)."""
    allowed = (SIGN_IN_PROBE, *allowed)
    errors = [e for e in getattr(page, "js_errors", []) if not any(a in e for a in allowed)]
    assert errors == [], errors


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, server: ServerProcess, username: str, password: str) -> None:
    page.goto(server.url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(f"{username} (").wait_for()


def go_to(page: Page, name: str) -> None:
    """Follows a link of the main navigation (Generate, Queue, Gallery, Models, Users, System)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
