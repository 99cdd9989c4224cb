"""GET /api/image/download: an image from a URL for the UI (public, as the spec says); the checks live in
sdcpp_rest.downloads.images."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from sdcpp_rest.api.deps import DownloaderDep
from sdcpp_rest.downloads.images import MAX_URL_LENGTH

router = APIRouter(tags=["files"])


@router.get(
    "/api/image/download",
    summary="Download an image from a URL (CORS-free)",
    response_class=Response,
    # The error answers are in api/error_table.py with every other route's.
    responses={
        200: {"content": {"image/*": {}}, "description": "The image, with the type detected from its bytes"}
    },
)
def download_image(
    downloader: DownloaderDep,
    # Optional here so that a missing or overlong URL is the same 400 as any other bad URL.
    url: str = Query("", description=f"http(s) URL of an image, at most {MAX_URL_LENGTH} characters."),
) -> Response:
    # A plain `def`: the fetch blocks (DNS, sockets), so it runs in the thread pool, not on the loop.
    image = downloader.fetch(url)
    # nosniff: the browser must treat the bytes as the detected image type and nothing else.
    return Response(
        image.content,
        media_type=image.media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )
