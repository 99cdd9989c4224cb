"""Fixtures of the API tests beyond the shared ones in tests/conftest.py."""

from tests.api.modes_support import modes_client, modes_server
from tests.api.security_support import guarded_server
from tests.api.split_support import split_client, split_server

__all__ = ["guarded_server", "modes_client", "modes_server", "split_client", "split_server"]
