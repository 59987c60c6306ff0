"""The hot read routes' one shortcut: a request in canonical form skips FastAPI's per-request
parameter solving and calls the route's own function.

Each route declares its parameters the FastAPI way (`Annotated[..., Path/Query(...)]`, the
service as a dependency): those declarations write the OpenAPI schema and validate every
request that is not canonical, with FastAPI's own 422. Solving them costs this FastAPI about
10 us per declared parameter and 10 us for the dependency on every request (in process; the
route's own work is under 1 us), which end to end is the difference between meeting the
serving floors and not (DECISIONS.md, "FastAPI idioms and the tricks that remain").

So `CanonicalRoute` asks the route's reader first: a reader looks at the raw path and query
and returns the keyword arguments of the route function when every value is already in the
form the declarations would produce (a non-empty id, a count in ASCII digits with no leading zero, in
range, a `format` the route offers, nothing else), or None, and then the request goes the
declared way. A reader never refuses a request itself, so no answer differs between the two
ways (tests send each query both ways and compare the bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from campaign_analytics.serve.service import service_of

Reader = Callable[[Request], "dict[str, Any] | None"]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CanonicalRoute(APIRoute):
    """An APIRoute whose endpoint may have a reader in READERS (FastAPI's documented way to
    customise a route: a subclass with its own `get_route_handler`)."""

    def get_route_handler(self) -> Handler:
        declared = super().get_route_handler()
        reader = READERS.get(self.endpoint)
        if reader is None:
            return declared
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            arguments = reader(request)
            if arguments is None:
                return await declared(request)
            response: Response = await endpoint(**arguments)
            return response

        return handler


READERS: dict[Callable[..., Any], Reader] = {}


def reads(reader: Reader) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `reader` for the decorated route function (put it below the router's decorator)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        READERS[endpoint] = reader
        return endpoint

    return register


def campaign_path_only(request: Request) -> dict[str, Any] | None:
    """`/campaigns/{campaign_id}/...` with no query string at all."""
    campaign_id = request.path_params.get("campaign_id")
    if not campaign_id or request.scope.get("query_string"):
        return None
    return {"campaign_id": campaign_id, "service": service_of(request), "fmt": "json"}


def canonical_count(text: str | None, default: int, low: int, high: int) -> int | None:
    """A count written as FastAPI would read it to the same number: ASCII digits, no sign, no
    leading zero (at most 9 digits), within [low, high]; `default` when absent; None for
    anything else (the request then goes the declared way)."""
    if text is None:
        return default
    if not (0 < len(text) <= 9 and text.isascii() and text.isdigit()) or (text[0] == "0" and text != "0"):
        return None
    value = int(text)
    return value if low <= value <= high else None


def top_query(limit_min: int, limit_max: int, limit_default: int) -> Reader:
    """`/creators/top?campaign_id=...[&limit=N][&format=json|csv]`."""

    def read(request: Request) -> dict[str, Any] | None:
        query: Mapping[str, str] = request.query_params
        campaign_id = query.get("campaign_id")
        if not campaign_id or len(query) > 3:
            return None
        raw_limit = query.get("limit")
        limit = canonical_count(raw_limit, limit_default, limit_min, limit_max)
        if limit is None:
            return None
        fmt = query.get("format", "json")
        if fmt not in ("json", "csv") or len(query) != 1 + (raw_limit is not None) + ("format" in query):
            return None
        return {"campaign_id": campaign_id, "service": service_of(request), "limit": limit, "fmt": fmt}

    return read
