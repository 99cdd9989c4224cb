"""Issue 27, finding 1: with auth on, an output file goes to its owner (or an admin), with the API's
credentials, or to whoever holds the signed, expiring link the server handed out; a guest with a bare
job id, another user, and expired or tampered links are refused. Auth off: the spec's public route.
A real server with the random-weight model; the expired link is signed with the server's real key."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from sdcpp_rest.outputs.signing import OutputUrlSigner, derive_key
from tests.api.security_support import ADMIN, ADMIN_PASSWORD, USERS, bearer, login
from tests.server import ServerProcess

Job = dict[str, Any]


@pytest.fixture(scope="module")
def bobs_job(guarded_server: ServerProcess) -> Job:
    with guarded_server.client() as client:
        client.headers.update(bearer(login(guarded_server, "bob", USERS["bob"])))
        job_id = guarded_server.submit(client, prompt="bob's secret prompt")
        job = guarded_server.wait_for(client, job_id)
    assert job["status"] == "completed", job
    return job


def _bare(job: Job) -> tuple[str, str]:
    """The routes' paths without any query: what a guest who learned the job id can build."""
    return (
        f"/api/queue/job/{job['id']}/output/image_0.png",
        f"/api/v1/jobs/{job['id']}/output/image_0.png",
    )


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_a_guest_with_a_bare_job_id_is_refused(guarded_server: ServerProcess, bobs_job: Job) -> None:
    with guarded_server.client() as guest:
        for path in _bare(bobs_job):
            reply = guest.get(path)
            assert reply.status_code == 401, reply.text  # was 200: the image and its prompt
            assert reply.json()["error"]["code"] == "AUTH_REQUIRED"
        # The same answer for a job that does not exist: a guest learns nothing from it.
        missing = guest.get("/api/queue/job/00000000-0000-4000-8000-000000000000/output/image_0.png")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "AUTH_REQUIRED"


def test_the_owner_and_an_admin_get_the_file_another_user_does_not(
    guarded_server: ServerProcess, bobs_job: Job
) -> None:
    owner = bearer(login(guarded_server, "bob", USERS["bob"]))
    admin = bearer(login(guarded_server, ADMIN, ADMIN_PASSWORD))
    other = bearer(login(guarded_server, "carol", USERS["carol"]))
    with guarded_server.client() as client:
        for path in _bare(bobs_job):
            for headers in (owner, admin):
                reply = client.get(path, headers=headers)
                assert reply.status_code == 200, reply.text
                assert reply.content.startswith(b"\x89PNG")
            refused = client.get(path, headers=other)
            assert refused.status_code == 404, refused.text
            assert refused.json()["error"]["code"] == "JOB_NOT_FOUND"
        thumbnail = client.get(_bare(bobs_job)[1], params={"thumb": "true"}, headers=owner)
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"


def test_the_signed_urls_of_the_job_reply_work_without_credentials(
    guarded_server: ServerProcess, bobs_job: Job
) -> None:
    output = bobs_job["outputs"][0]
    with guarded_server.client() as guest:
        for url in (output["url"], output["thumbnail_url"]):
            query = _query(url)
            assert int(query["expires"]) > time.time() + 3000  # the default lifetime: an hour
            reply = guest.get(url)
            assert reply.status_code == 200, reply.text
        assert guest.get(output["url"]).content.startswith(b"\x89PNG")
        assert guest.get(output["thumbnail_url"]).headers["content-type"] == "image/jpeg"


def test_expired_and_tampered_links_are_refused(guarded_server: ServerProcess, bobs_job: Job) -> None:
    job_id, url = bobs_job["id"], bobs_job["outputs"][0]["url"]
    path, query = url.split("?")[0], _query(url)
    secret = (guarded_server.data_dir / "jwt_secret").read_text().strip()
    expired = OutputUrlSigner(derive_key(secret), 3600).query(job_id, "image_0.png", now=time.time() - 7200)
    assert int(expired["expires"]) < time.time()
    later = str(int(query["expires"]) + 86400)
    flipped = ("0" if query["signature"][0] != "0" else "1") + query["signature"][1:]
    other_file = f"/api/queue/job/{job_id}/output/image_1.png"
    forged_with_the_raw_secret = OutputUrlSigner(secret.encode(), 3600).query(job_id, "image_0.png")
    cases = [
        (path, expired),
        (path, {**query, "expires": later}),
        (path, {**query, "signature": flipped}),
        (path, {"expires": query["expires"]}),
        (path, {**query, "expires": "1e99"}),
        (other_file, query),
        (path, forged_with_the_raw_secret),
    ]
    with guarded_server.client() as guest:
        for target, params in cases:
            reply = guest.get(target, params=params)
            assert reply.status_code == 401, (target, params, reply.text)
            assert reply.json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_with_auth_off_the_route_stays_public(client: httpx.Client, server: ServerProcess) -> None:
    job = server.wait_for(client, server.submit(client))
    output = job["outputs"][0]
    assert output["url"] == f"/api/queue/job/{job['id']}/output/image_0.png"  # no signature to carry
    with server.client() as guest:
        for path in _bare(job):
            assert guest.get(path).status_code == 200


def test_the_websocket_update_of_a_finished_job_carries_signed_urls(guarded_server: ServerProcess) -> None:
    token = login(guarded_server, "bob", USERS["bob"])
    url = guarded_server.url.replace("http://", "ws://") + "/ws"
    with ws_connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)]) as ws:
        with guarded_server.client() as client:
            client.headers.update(bearer(token))
            job_id = guarded_server.submit(client)
        final = None
        while final is None:
            message = json.loads(ws.recv(timeout=180))
            data = message.get("data", {})
            if (
                message["type"] == "job_update"
                and data.get("job_id") == job_id
                and data["status"] == "completed"
            ):
                final = data
    output = final["outputs"][0]
    assert "signature=" in output["url"], output
    with guarded_server.client() as guest:
        assert guest.get(output["url"]).content.startswith(b"\x89PNG")
