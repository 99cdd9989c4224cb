"""A first start with authentication on and no admin says how to make one; with an admin it is quiet."""

from __future__ import annotations

from pathlib import Path

from tests.server import ServerProcess

HINT = "no admin user exists: create one with `sdcpp-rest users add NAME --role admin`"


def test_a_first_start_without_an_admin_says_how_to_create_one(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    server = ServerProcess(tmp_path / "data", env={"STABLE_DIFFUSION_AUTH_METHOD": "jwt"}).start()
    server.stop()
    assert HINT in server.log_tail(20000)

    (tmp_path / "with-admin").mkdir()
    env = {
        "STABLE_DIFFUSION_AUTH_METHOD": "jwt",
        "STABLE_DIFFUSION_ADMIN_USERNAME": "root-admin",
        "STABLE_DIFFUSION_ADMIN_PASSWORD": "a-long-admin-password",
    }
    server = ServerProcess(tmp_path / "with-admin", env=env).start()
    server.stop()
    log = server.log_tail(20000)
    assert "created the first admin user from settings" in log and HINT not in log
