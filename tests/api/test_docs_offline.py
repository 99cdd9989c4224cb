"""Issue 27 finding 10 and issue 22: /docs and /redoc of the main app and of every compat sub-app
load nothing from another origin (they loaded Swagger UI and ReDoc from a CDN), every file they name
is served here, and pages and files carry a CSP that allows no other origin. A real server."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from tests.server import ServerProcess

DOCS_PAGES = [
    f"{prefix}/{page}" for prefix in ("", "/sdapi/v1", "/internal", "/v1") for page in ("docs", "redoc")
]
LINKED = re.compile(r"""(?:src|href|data-openapi-url)="([^"]+)\"""")


def _check_csp(response: httpx.Response) -> None:
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "script-src 'self';" in policy, policy
    assert "http" not in policy and "*" not in policy, policy  # no other origin is allowed


@pytest.mark.parametrize("path", DOCS_PAGES)
def test_docs_pages_name_no_other_origin_and_their_files_are_served_here(
    server: ServerProcess, path: str
) -> None:
    with server.client() as client:
        page = client.get(path)
        assert page.status_code == 200, page.text
        _check_csp(page)
        assert "http://" not in page.text and "https://" not in page.text and "//" not in page.text
        linked = LINKED.findall(page.text)
        assert any(name.endswith(".js") for name in linked), page.text
        for name in linked:
            url = urljoin(f"{server.url}{path}", name)
            assert url.startswith(f"{server.url}{path.rsplit('/', 1)[0]}/"), url  # under the app's mount
            asset = client.get(url)
            assert asset.status_code == 200, (url, asset.text[:200])
            if not name.endswith("openapi.json"):
                _check_csp(asset)
                assert len(asset.content) > 0
