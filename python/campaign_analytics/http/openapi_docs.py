"""API documentation that works offline, and the parts of the OpenAPI schema routes cannot say.

    install_docs(app)   /docs (Swagger UI) and /redoc served with assets shipped in the
                        `fastapi-offline` package, under /docs-assets/; no CDN, no web fonts
    document(app)       the schema also lists what the HTTP layer adds: the response headers
                        (X-Build-Id, ETag, Cache-Control, X-Request-ID), 304 on read routes, and
                        HEAD (in each route's description); the rest FastAPI writes from the routes

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN (pinned to a major version,
without integrity); here the same pages point at local copies instead.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
ASSETS = {
    "swagger_js": "swagger-ui-bundle.js",
    "swagger_css": "swagger-ui.css",
    "redoc_js": "redoc.standalone.js",
    "favicon": "favicon.png",
}


def assets_dir() -> Path:
    return Path(str(resources.files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Replace FastAPI's CDN-backed /docs and /redoc with pages whose assets the app serves."""
    if not app.openapi_url:
        return
    replaced = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url

    def asset(request: Request, key: str) -> str:
        return f"{request.scope.get('root_path', '').rstrip('/')}{ASSETS_URL}/{ASSETS[key]}"

    if app.docs_url:

        async def swagger_ui(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "").rstrip("/")
            redirect = app.swagger_ui_oauth2_redirect_url
            return get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=asset(request, "swagger_js"),
                swagger_css_url=asset(request, "swagger_css"),
                swagger_favicon_url=asset(request, "favicon"),
                oauth2_redirect_url=root + redirect if redirect else None,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=app.swagger_ui_parameters,
            )

        app.add_route(app.docs_url, swagger_ui, include_in_schema=False)
    if app.redoc_url:

        async def redoc(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "").rstrip("/")
            return get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=asset(request, "redoc_js"),
                redoc_favicon_url=asset(request, "favicon"),
                with_google_fonts=False,
            )

        app.add_route(app.redoc_url, redoc, include_in_schema=False)


# --- the schema ----------------------------------------------------------------------------

_STRING = {"schema": {"type": "string"}}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        **_STRING,
        "description": "The request's id: the client's X-Request-ID when it is 1-128 characters of "
        "[A-Za-z0-9._:-], else a generated one. Also in the access log line.",
    },
    "X-Content-Type-Options": {**_STRING, "description": "Always `nosniff`."},
}
READ_HEADERS: dict[str, dict[str, Any]] = {
    "X-Build-Id": {
        **_STRING,
        "description": "The build the answer was computed from (also `build_id` in /health).",
        "example": "20261126T060118816709Z-dfc41b55c9",
    },
    "ETag": {
        **_STRING,
        "description": "Strong validator of this answer: a hash of the build id and the body (the body "
        "of anomalies includes the thresholds used). Send it back in If-None-Match to get a 304.",
    },
    "Cache-Control": {
        **_STRING,
        "description": "`public, max-age=N` (N = CACHE_MAX_AGE_SECONDS, default 5: no longer than a new "
        "build takes to be picked up); `no-cache` for anomalies, whose thresholds are live.",
    },
}
NOT_MODIFIED = {
    "description": "Not modified: If-None-Match matched the current ETag (`*` and lists accepted). No body.",
    "headers": {**READ_HEADERS, **HEADERS},
}
HEAD_NOTE = "\n\nHEAD is accepted too: the same status and headers, no body."


def document(app: FastAPI) -> None:
    """Have `app.openapi()` also describe the headers, 304s and 422 the HTTP layer adds."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if not done or done[-1] != id(schema):  # FastAPI caches the schema; enrich each new one once
            _enrich(schema)
            done[:] = [id(schema)]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing it


def _enrich(schema: dict[str, Any]) -> None:
    for path, item in schema.get("paths", {}).items():
        get = item.get("get")
        if get is None:
            continue
        get["description"] = get.get("description", "") + HEAD_NOTE
        responses = get.setdefault("responses", {})
        read_route = path.startswith(("/campaigns/", "/creators/"))
        for status, response in responses.items():
            headers = response.setdefault("headers", {})
            headers.update(HEADERS)
            if read_route and status == "200":
                headers.update(READ_HEADERS)
        if read_route:
            responses.setdefault("304", NOT_MODIFIED)
