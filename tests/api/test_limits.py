"""Limits of a shared server, fair scheduling and the threads layout, against real servers."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.test_auth import ADMIN, ADMIN_PASSWORD, AUTH_ENV, USERS, bearer, cli, login
from tests.server import ServerProcess, prepare_data_dir

# Enough for every other test of the module by one user; test_too_many_submissions uses it all up.
SUBMISSIONS_PER_MINUTE = 12
LIMITS = {"max_queued_jobs_per_user": 2, "max_job_pixels": 64 * 64 * 2, "max_job_steps": 40}
LIMITS_ENV = {
    **AUTH_ENV,
    **{f"STABLE_DIFFUSION_{name.upper()}": str(value) for name, value in LIMITS.items()},
    "STABLE_DIFFUSION_MAX_SUBMISSIONS_PER_MINUTE": str(SUBMISSIONS_PER_MINUTE),
    "STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": "2",
}
UNLIMITED = dict.fromkeys([*LIMITS, "max_submissions_per_minute"], 0)
# A job that keeps a worker busy for a while, within the limits.
SLOW = {"prompt": "slow", "width": 64, "height": 64, "steps": 40, "seed": 1}
QUICK = {"prompt": "quick", "width": 64, "height": 64, "steps": 1, "seed": 1}


def _server_with_users(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> ServerProcess:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp(name))
    for user, password in USERS.items():
        result = cli(
            data_dir, "users", "add", user, "--role", "user", "--password-stdin", stdin=password + "\n"
        )
        assert result.returncode == 0, result.stderr
    return ServerProcess(data_dir, env=env).start()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _server_with_users(tmp_path_factory, "limits", LIMITS_ENV)
    yield server
    server.stop()


def _client(server: ServerProcess, user: str, password: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=bearer(login(server, user, password)), timeout=60)


def _submit(client: httpx.Client, **fields: Any) -> httpx.Response:
    return client.post("/api/generate/text2img", json={**QUICK, **fields})


def test_the_limits_that_apply_are_shown_to_each_role(limited: ServerProcess) -> None:
    with _client(limited, "bob", USERS["bob"]) as bob, _client(limited, ADMIN, ADMIN_PASSWORD) as admin:
        assert bob.get("/api/parameters").json()["limits"] == {
            **LIMITS,
            "max_submissions_per_minute": SUBMISSIONS_PER_MINUTE,
        }
        assert bob.get("/api/auth/me").json()["limits"]["max_job_pixels"] == 64 * 64 * 2
        assert admin.get("/api/auth/me").json()["limits"] == UNLIMITED


def test_a_job_over_the_cost_limits_is_refused_for_a_user_and_not_for_an_admin(
    limited: ServerProcess,
) -> None:
    with _client(limited, "bob", USERS["bob"]) as bob, _client(limited, ADMIN, ADMIN_PASSWORD) as admin:
        before = len(admin.get("/api/queue/status", params={"limit": 1000}).json()["queue"]["jobs"])
        big = _submit(bob, batch_count=3)
        assert big.status_code == 400, big.text
        assert big.json()["error"]["code"] == "INVALID_PARAMETERS"
        assert big.json()["error"]["message"].startswith("max_job_pixels:")
        long = _submit(bob, steps=41)
        assert long.status_code == 400 and long.json()["error"]["message"].startswith("max_job_steps:")
        hires = _submit(bob, hires={"scale": 2.0})  # 128x128 in the second pass
        assert hires.status_code == 400 and "max_job_pixels" in hires.json()["error"]["message"]
        after = len(admin.get("/api/queue/status", params={"limit": 1000}).json()["queue"]["jobs"])
        assert after == before  # nothing was queued
        accepted = _submit(admin, batch_count=3, steps=41)
        assert accepted.status_code == 202, accepted.text
        admin.post("/api/queue/cancel", json={"job_id": accepted.json()["job_id"]})


def test_a_hires_pass_beyond_4096_pixels_a_side_is_refused_even_for_an_admin(
    limited: ServerProcess,
) -> None:
    """Issue 27: hires.scale 4 of a 4096-pixel side asked the engine for 16384x16384 (admins have no
    max_job_pixels); the second pass is held to the sizes a first pass may have."""
    with _client(limited, ADMIN, ADMIN_PASSWORD) as admin:
        reply = _submit(admin, width=4096, height=4096, hires={"scale": 4.0})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "INVALID_PARAMETERS" and "16384x16384" in error["message"], error
        within = _submit(admin, width=1024, height=1024, hires={"scale": 4.0})  # exactly 4096
        assert within.status_code == 202, within.text
        admin.post("/api/queue/cancel", json={"job_id": within.json()["job_id"]})


def test_a_full_queue_answers_429_with_retry_after(limited: ServerProcess) -> None:
    with _client(limited, "bob", USERS["bob"]) as bob, _client(limited, ADMIN, ADMIN_PASSWORD) as admin:
        # Two workers can run two jobs; two more may wait: the fifth is refused whatever the timing.
        answers = [_submit(bob, **SLOW) for _ in range(5)]
        codes = [answer.status_code for answer in answers]
        assert codes[:2] == [202, 202] and 429 in codes, codes
        refused = answers[codes.index(429)]
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert refused.json()["error"]["message"].startswith("max_queued_jobs_per_user:")
        assert int(refused.headers["Retry-After"]) > 0
        admin_answers = [_submit(admin) for _ in range(3)]  # admins are unlimited
        assert [answer.status_code for answer in admin_answers] == [202, 202, 202]
        assert admin.post("/api/queue/clear").status_code == 200
        for answer in answers:
            if answer.status_code == 202:
                admin.post("/api/queue/cancel", json={"job_id": answer.json()["job_id"]})


def test_too_many_submissions_a_minute_answer_429(limited: ServerProcess) -> None:
    with _client(limited, "carol", USERS["carol"]) as carol:
        # Refused for their cost, so nothing queues; each still counts as a submission.
        for _ in range(SUBMISSIONS_PER_MINUTE):
            assert _submit(carol, steps=41).status_code == 400
        refused = _submit(carol)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["message"].startswith("max_submissions_per_minute:")
        assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_two_workers_share_the_cores_and_a_request_gets_at_most_its_share(limited: ServerProcess) -> None:
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    with _client(limited, ADMIN, ADMIN_PASSWORD) as admin:
        for asked in (None, 64):
            reply = _submit(admin, **({"n_threads": asked} if asked else {}))
            assert reply.status_code == 202, reply.text
            job = admin.get(f"/api/queue/job/{reply.json()['job_id']}").json()
            assert job["parameters"]["n_threads"] == share
            admin.post("/api/queue/cancel", json={"job_id": job["id"]})


@pytest.fixture(scope="module")
def fair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _server_with_users(tmp_path_factory, "fair", {**AUTH_ENV, "STABLE_DIFFUSION_SCHEDULING": "fair"})
    yield server
    server.stop()


def test_fair_scheduling_runs_a_newcomers_job_second(fair: ServerProcess) -> None:
    """User A queues 5 jobs, then user B 1: under `fair` B's job runs second (FIFO would run it sixth)."""
    with _client(fair, "bob", USERS["bob"]) as bob, _client(fair, "carol", USERS["carol"]) as carol:
        bobs = [_submit(bob, prompt=f"bob {i}").json()["job_id"] for i in range(5)]
        reply = _submit(carol, prompt="carol")
        assert reply.status_code == 202
        carols = reply.json()["job_id"]
        assert reply.json()["position"] <= 2  # the position follows the policy too
        for job_id in bobs:
            assert fair.wait_for(bob, job_id)["status"] == "completed"
        assert fair.wait_for(carol, carols)["status"] == "completed"
    with sqlite3.connect(fair.data_dir / "sdcpp-rest.db") as db:
        started = [row[0] for row in db.execute("SELECT id FROM jobs ORDER BY started_at")]
    assert started[:2] == [bobs[0], carols], started


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("affinity"), "a.safetensors")
    prepare_data_dir(data_dir, "b.safetensors")
    server = ServerProcess(data_dir, env={"STABLE_DIFFUSION_MAX_CONCURRENT_GENERATIONS": "2"}).start()
    yield server
    server.stop()


def _loads(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("sdcpp_rest_model_load_seconds_count")
    )


def test_two_workers_keep_one_model_each_when_jobs_alternate(two_models: ServerProcess) -> None:
    """With two workers and two checkpoints used in turn, only the first two jobs load a model."""
    with two_models.client() as client:
        for model in ["a.safetensors", "b.safetensors"] * 3:
            job_id = two_models.submit(client, model_name=model)
            assert two_models.wait_for(client, job_id)["status"] == "completed"
        assert _loads(client) == 2
