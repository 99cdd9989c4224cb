"""Fixtures of the API tests beyond the shared ones in tests/conftest.py."""

from tests.api.modes_support import modes_client, modes_server

__all__ = ["modes_client", "modes_server"]
