"""/docs (Swagger UI) and /redoc (ReDoc) with every file served by this server (issue 27 finding 10,
issue 22): FastAPI's own pages load unpinned scripts from a CDN, on the origin whose web UI keeps a
token in localStorage. The viewers' files come from the `fastapi-offline` package (its static folder
only), the two small start scripts from web/docs/; the pages carry a CSP that allows no other origin
and no inline script.

Every app that has docs installs them: the main app and each compat sub-application. All URLs in
the pages are relative (`docs-assets/...`, `openapi.json`), so they resolve under the mount point of
a sub-application and behind a proxy's path prefix alike.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from sdcpp_rest.api.static_files import HeaderedStaticFiles

VIEWER_FILES = Path(fastapi_offline.__file__).resolve().parent / "static"
START_SCRIPTS = Path(__file__).resolve().parent.parent / "web" / "docs"
ASSETS_PATH = "/docs-assets"

# As the web UI's policy, with two differences the viewers need: ReDoc's styles are injected at run
# time as <style> elements ('unsafe-inline' for styles only; scripts stay 'self'), and its search
# index runs in a worker made from a blob: URL.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",  # revalidate (ETag): an upgrade brings new viewer files
}
# FastAPI(**NO_BUILTIN_DOCS): the built-in pages (CDN scripts) are off; install_docs adds these.
NO_BUILTIN_DOCS: dict[str, Any] = {
    "docs_url": None,
    "redoc_url": None,
    "swagger_ui_oauth2_redirect_url": None,
}


def _page(title: str, head: str, body: str) -> HTMLResponse:
    document = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="icon" href="docs-assets/viewer/favicon.png">\n{head}'
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )
    return HTMLResponse(document, headers=DOCS_HEADERS)


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their files under /docs-assets on `app` (built with NO_BUILTIN_DOCS)."""
    app.mount(f"{ASSETS_PATH}/viewer", HeaderedStaticFiles(VIEWER_FILES, DOCS_HEADERS), name="docs-viewer")
    app.mount(f"{ASSETS_PATH}/start", HeaderedStaticFiles(START_SCRIPTS, DOCS_HEADERS), name="docs-start")
    openapi_url = (app.openapi_url or "/openapi.json").lstrip("/")  # relative to the page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(
            f"{app.title} - Swagger UI",
            '<link rel="stylesheet" href="docs-assets/viewer/swagger-ui.css">\n',
            f'<div id="swagger-ui" data-openapi-url="{html.escape(openapi_url)}"></div>\n'
            '<script src="docs-assets/viewer/swagger-ui-bundle.js"></script>\n'
            '<script src="docs-assets/start/swagger-init.js"></script>\n',
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(
            f"{app.title} - ReDoc",
            "",
            f'<div id="redoc" data-openapi-url="{html.escape(openapi_url)}"></div>\n'
            '<script src="docs-assets/viewer/redoc.standalone.js"></script>\n'
            '<script src="docs-assets/start/redoc-init.js"></script>\n',
        )
