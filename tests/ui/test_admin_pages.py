"""The Queue, Models and Users pages in a real browser, auth on: cancel a running job and clear the
queue, filter the model list, create and revoke an API key (and sign in with one), manage a user,
and the admin pages refused to a plain user."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.server import ServerProcess
from tests.ui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    AUTH_ENV,
    USER,
    USER_PASSWORD,
    check_no_errors,
    go_to,
    log_in,
    open_page,
    shot,
    start_ui_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_ui_server(tmp_path_factory, AUTH_ENV)
    with process.client() as client:
        admin = bearer(client, ADMIN, ADMIN_PASSWORD)
        created = client.post("/api/users", json={"username": USER, "password": USER_PASSWORD}, headers=admin)
        assert created.status_code == 201, created.text
    yield process
    process.stop()


def bearer(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_cancel_a_running_job_and_clear_the_queue(server: ServerProcess, page: Page) -> None:
    with server.client() as client:
        headers = bearer(client, USER, USER_PASSWORD)
        client.headers.update(headers)
        # Long enough to be cancelled while it runs; previews on, as the UI asks for them.
        running = server.submit(client, prompt="a long one", width=256, height=256, steps=60, preview="proj")
        waiting = server.submit(client, prompt="next in line", preview="proj")
        log_in(page, server, USER, USER_PASSWORD)
        go_to(page, "Queue")
        running_card = page.locator(f'.job-card[data-job-id="{running}"]')
        waiting_card = page.locator(f'.job-card[data-job-id="{waiting}"]')
        expect(running_card.locator(".job-status")).to_contain_text("processing")
        expect(waiting_card.locator(".job-position")).to_have_text("Position 1 in the queue")
        expect(page.locator(".queue-summary")).to_have_text("1 running, 1 waiting")
        shot(page, "queue")

        page.get_by_role("button", name="Clear queue").click()
        expect(waiting_card).to_have_count(0)
        assert client.get(f"/api/queue/job/{waiting}").json()["status"] == "cancelled"
        running_card.get_by_role("button", name="Cancel").click()
        # The card shows its end a moment, then the job moves to the finished list.
        expect(page.locator(".recent-list li").first).to_contain_text("cancelled a long one")
        expect(running_card).to_have_count(0)
        assert client.get(f"/api/queue/job/{running}").json()["status"] == "cancelled"
    check_no_errors(page)


def test_the_model_list_filters_sorts_and_pages(server: ServerProcess, page: Page) -> None:
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    go_to(page, "Models")
    rows = page.get_by_role("table", name="Model files").locator("tbody tr")
    expect(rows).to_have_count(6)
    page.get_by_label("Type").select_option("lora")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lora-random.safetensors")
    page.get_by_label("Type").select_option("")
    page.get_by_label("Search models").fill("esrgan")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("esrgan-x4.safetensors")
    page.get_by_label("Search models").fill("")
    page.get_by_label("Sort by").select_option("size")
    page.get_by_label("Order").select_option("desc")
    expect(rows.first).to_contain_text("sd15.safetensors")  # the checkpoint is the largest file
    expect(rows.first.get_by_role("button", name="Load sd15.safetensors")).to_be_visible()
    expect(page.locator(".page-models .card")).to_contain_text("idle")  # the worker, with no model yet
    shot(page, "models")
    check_no_errors(page)


def test_an_admin_creates_and_revokes_an_api_key_and_manages_a_user(
    server: ServerProcess, browser: Browser, page: Page
) -> None:
    log_in(page, server, ADMIN, ADMIN_PASSWORD)
    go_to(page, "Users")
    page.get_by_label("Username").fill("dave")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create user").click()
    password_error = page.locator(".field", has=page.get_by_label("Password", exact=True)).locator(
        ".field-error"
    )
    expect(password_error).to_contain_text("at least 8 characters")  # the API's message, beside it
    page.get_by_label("Password", exact=True).fill("dave-password-1")
    page.get_by_role("button", name="Create user").click()
    dave = page.locator('tr[data-user="dave"]')
    expect(dave).to_contain_text("enabled")

    page.get_by_label("Key name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.locator(".secret code").text_content()
    assert key and key.startswith("sdk_"), key
    shot(page, "users")
    assert httpx.get(f"{server.url}/api/auth/me", headers={"X-API-Key": key}).status_code == 200

    # The key instead of a password, in a fresh browser context.
    other = browser.new_context()
    keyed = open_page(other)
    keyed.goto(server.url + "/")
    keyed.get_by_text("Use an API key instead").click()
    keyed.get_by_label("API key", exact=True).fill(key)
    keyed.get_by_role("button", name="Use API key").click()
    expect(keyed.get_by_text("admin (admin)")).to_be_visible()
    expect(keyed.locator("#live-status")).to_have_text("live")  # the WebSocket took the key too
    assert keyed.evaluate("() => localStorage.getItem('sdcpp-rest.api-key')") is None
    check_no_errors(keyed)
    other.close()

    page.get_by_role("button", name="Revoke key laptop").click()
    expect(page.locator("tr", has_text="laptop")).to_contain_text("revoked")
    assert httpx.get(f"{server.url}/api/auth/me", headers={"X-API-Key": key}).status_code == 401

    dave.get_by_role("button", name="Disable dave").click()
    expect(dave).to_contain_text("disabled")
    refused = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "dave", "password": "dave-password-1"}
    )
    assert refused.status_code == 401
    check_no_errors(page, allowed=("400",))


def test_a_plain_user_is_refused_the_admin_pages(server: ServerProcess, page: Page) -> None:
    log_in(page, server, USER, USER_PASSWORD)
    expect(page.get_by_text(f"{USER} (user)")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for allowed in ("Generate", "Queue", "Gallery", "System"):
        expect(nav.get_by_role("link", name=allowed)).to_be_visible()
    for admin_only in ("Models", "Users"):
        expect(nav.get_by_role("link", name=admin_only)).to_be_hidden()
        page.goto(f"{server.url}/#/{admin_only.lower()}")
        expect(page.get_by_role("alert")).to_contain_text("This page is for administrators")
        shot(page, f"refused-{admin_only.lower()}")
    with server.client() as client:
        headers = bearer(client, USER, USER_PASSWORD)
        assert client.get("/api/users", headers=headers).status_code == 403
        assert client.post("/api/models/refresh", headers=headers).status_code == 403
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('sdcpp-rest.token')") is None
    check_no_errors(page)
