"""Issue 27, findings 1, 7 and 8: what a guest (no credentials, auth on) may learn. /api/status keeps
counts only (its workers list named the running job's id, whose images were then downloadable, and
the loaded models); /metrics (model labels) needs a user with system:read or the metrics token; no
sub-application answers a trailing slash with a redirect built from the Host header. A real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.security_support import ADMIN, ADMIN_PASSWORD, admin_server, login
from tests.server import ServerProcess, prepare_data_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = admin_server(prepare_data_dir(tmp_path_factory.mktemp("guest-exposure")))
    yield process
    process.stop()


def test_a_guest_sees_counts_only_in_the_status(server: ServerProcess) -> None:
    guest = httpx.get(f"{server.url}/api/status")
    assert guest.status_code == 200, guest.text
    reply = guest.json()
    assert "workers" not in reply, reply  # was there: each worker's job_id and models
    assert isinstance(reply["generation_queue"]["queue_size"], int)
    token = login(server, ADMIN, ADMIN_PASSWORD)
    signed_in = httpx.get(f"{server.url}/api/status", headers={"Authorization": f"Bearer {token}"})
    assert signed_in.status_code == 200 and isinstance(signed_in.json()["workers"], list)


def test_metrics_need_a_user_when_auth_is_on(server: ServerProcess) -> None:
    guest = httpx.get(f"{server.url}/metrics")
    assert guest.status_code == 401, guest.text  # was 200, with model="..." labels
    assert guest.json()["error"]["code"] == "AUTH_REQUIRED"
    token = login(server, ADMIN, ADMIN_PASSWORD)
    signed_in = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert signed_in.status_code == 200 and "sdcpp_rest_" in signed_in.text


@pytest.mark.parametrize("path", ["/sdapi/v1/options/", "/v1/images/generations/", "/internal/ping/"])
def test_no_redirect_is_built_from_the_host_header(server: ServerProcess, path: str) -> None:
    reply = httpx.get(f"{server.url}{path}", headers={"Host": "evil.example"}, follow_redirects=False)
    assert not reply.is_redirect, reply.headers  # was 307 Location: http://evil.example/...
    assert "evil.example" not in reply.headers.get("location", "")
    assert reply.status_code in (401, 404, 405), reply.text
