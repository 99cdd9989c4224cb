"""The browser UI: `src/sdcpp_rest/web/index.html` at `/`, the files it loads under `/ui/`.

Plain HTML, CSS and JavaScript modules that the browser loads as they are (no build step, nothing
fetched from elsewhere). The pages are hash routes (`/#/gallery`), so every page is `/` to the server:
no catch-all route is needed and an unknown path stays the API's JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from sdcpp_rest.api.static_files import HeaderedStaticFiles

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
UI_PREFIX = "/ui"

# The UI runs no inline script or style and talks only to its own origin ('self' covers the same
# origin's ws:/wss: in CSP 3): markup that slipped in could neither run code nor send data elsewhere.
# data:/blob: images are the live previews, dropped input images and the mask canvas.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Revalidate every time (the ETag makes that a 304): after an upgrade the browser must not mix
    # cached modules of the old version with new ones.
    "Cache-Control": "no-cache",
}


def install_web_ui(app: FastAPI) -> None:
    """Serve the UI's page at `/` and its files under `/ui/` (left out of the OpenAPI document)."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_ROOT / "index.html", media_type="text/html", headers=UI_HEADERS)

    app.mount(UI_PREFIX, HeaderedStaticFiles(WEB_ROOT, UI_HEADERS), name="ui")
