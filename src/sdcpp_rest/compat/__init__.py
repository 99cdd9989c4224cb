"""The APIs of the clients people already use, as adapters onto JobService: AUTOMATIC1111's
/sdapi/v1 (compat/a1111) and OpenAI's Images API under /v1 (compat/openai). Each is a FastAPI
sub-application with its own error shape, mounted on the main app (whose middleware still wraps
it) and sharing its services."""

from __future__ import annotations

from fastapi import FastAPI

from sdcpp_rest.compat.a1111.app import build_a1111_app, build_internal_app
from sdcpp_rest.compat.openai.app import build_openai_app
from sdcpp_rest.container import ServicesHolder


def mount_compat_apps(app: FastAPI, holder: ServicesHolder) -> None:
    app.mount("/sdapi/v1", build_a1111_app(holder))
    app.mount("/internal", build_internal_app(holder))
    app.mount("/v1", build_openai_app(holder))
