// Starts ReDoc on /redoc (api/docs_pages.py): a file, not an inline script, so the page's CSP can
// forbid inline code. The OpenAPI document's URL comes from the page, relative to it.
const root = document.getElementById("redoc");
Redoc.init(root.dataset.openapiUrl, {}, root);
