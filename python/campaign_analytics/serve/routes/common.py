"""What both routers share: the service dependency, the documented error responses, the
`format` parameter and the two response types (prepared JSON, CSV).

Every route that answers a campaign's data declares `format` the same way: `json` (the
default) everywhere, `csv` where the route offers it; any other value, on any route, is
FastAPI's own 422 naming `format`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from starlette.responses import Response

from campaign_analytics.serve.schemas import ErrorDetail
from campaign_analytics.serve.service import Service, service_of


async def _service(request: Request) -> Service:
    # async: FastAPI runs a plain `def` dependency in a worker thread, which cost ~170 us a
    # request here (in process, performance 236 -> 66 us)
    return service_of(request)


ServiceDep = Annotated[Service, Depends(_service)]  # the service `create_app()` made for this app

# An id may hold "/" (the routes use `{campaign_id:path}`); an empty one is not an id at all.
CampaignIdPath = Annotated[str, Path(min_length=1, description="The campaign's id, as in campaigns.csv.")]

JsonOnly = Annotated[Literal["json"], Query(alias="format", description="json: this route has no CSV form.")]
JsonOrCsv = Annotated[
    Literal["json", "csv"], Query(alias="format", description="json, or csv (a header row, then one row each).")
]

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown campaign"},
    503: {"model": ErrorDetail, "description": "No rollups loaded"},
}
BENCHMARK_FAILED: dict[int | str, dict[str, Any]] = {
    502: {"model": ErrorDetail, "description": "The benchmark service gave no usable thresholds"},
}
# With `format=csv` a 200 is text/csv: documented beside the JSON model FastAPI writes.
CSV_TOO: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def prepared(body: bytes, build_id: str) -> Response:
    """A 200 JSON body the store already rendered, with the build it came from."""
    return Response(body, media_type=JSON_TYPE, headers={"X-Build-Id": build_id})
