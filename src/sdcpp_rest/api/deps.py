"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sdcpp_rest.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_owner() -> str | None:
    """The user a job belongs to. Authentication is not enabled yet: every request is the local admin."""
    return None


OwnerDep = Annotated[str | None, Depends(current_owner)]
