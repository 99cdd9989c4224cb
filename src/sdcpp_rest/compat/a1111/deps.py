"""Dependencies of the AUTOMATIC1111 routes: the caller (HTTP Basic, Bearer or X-API-Key, see
compat/credentials.py) with the permission a route needs, and the per-user options."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sdcpp_rest.auth.permissions import Permission, Principal
from sdcpp_rest.compat.a1111.options import OptionsStore
from sdcpp_rest.compat.credentials import basic_or_bearer_principal, requiring

# A1111 protects its API with HTTP Basic (--api-auth): its clients expect this challenge.
CHALLENGE = 'Basic realm="sdcpp-rest"'


def _options_store(request: Request) -> OptionsStore:
    store: OptionsStore = request.app.state.options
    return store


OptionsDep = Annotated[OptionsStore, Depends(_options_store)]
GenerateUser = Annotated[
    Principal, Depends(requiring(basic_or_bearer_principal, Permission.GENERATE, CHALLENGE))
]
QueueUser = Annotated[
    Principal, Depends(requiring(basic_or_bearer_principal, Permission.QUEUE_MANAGE_OWN, CHALLENGE))
]
ReadUser = Annotated[
    Principal, Depends(requiring(basic_or_bearer_principal, Permission.MODELS_READ, CHALLENGE))
]
ManageUser = Annotated[
    Principal, Depends(requiring(basic_or_bearer_principal, Permission.MODELS_MANAGE, CHALLENGE))
]
