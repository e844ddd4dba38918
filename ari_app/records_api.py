"""The read API: calls, agent segments, dispositions and recordings, filtered and paginated,
for supervisors, operators and the systems they connect (docs/api.md).

Each route is declared once, with its query parameters and its answer as pydantic models;
the handlers validate requests and answers with those models, and the OpenAPI document
(``GET /openapi.json``, ``docs/openapi.json``) is generated from the same declarations with
apispec, so the documentation cannot drift from what the API does.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from apispec import APISpec
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ari_app.client import AriClient, AriError, AriNotFound
from callcenter.security.roles import Action
from db.call_query import CallFilter, CallQueryError, list_calls
from db.recording_store import RecordingError, find_recording, list_recordings
from db.records_query import list_dispositions, list_segments

API_VERSION = "1.0.0"

# --- what the routes take ----------------------------------------------------------------


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="How many items, at most 500.")
    offset: int = Field(0, ge=0, description="How many to skip (the previous page's next_offset).")


class Period(Page):
    since: datetime | None = Field(None, description="From this time (ISO 8601, with its zone).")
    until: datetime | None = Field(None, description="Before this time (ISO 8601).")


class CallsQuery(Period):
    queue: str | None = Field(None, description="Calls that were in this queue.")
    agent: str | None = Field(None, description="Calls this agent talked on.")
    campaign: str | None = None
    code: str | None = Field(None, description="Calls with this disposition code.")
    number: str | None = Field(None, description="The caller's or dialed number (its end).")
    direction: Literal["inbound", "outbound", "internal"] | None = None


class SegmentsQuery(Period):
    agent: str | None = None
    queue: str | None = None
    call: uuid.UUID | None = Field(None, description="Only this call's segments.")


class DispositionsQuery(Period):
    agent: str | None = None
    code: str | None = None
    call: uuid.UUID | None = None


class RecordingsQuery(Period):
    queue: str | None = Field(None, description="A queue's recordings (its voicemail too).")
    kind: Literal["call", "voicemail"] | None = None
    call: uuid.UUID | None = None


# --- what they answer ----------------------------------------------------------------------


class CallOut(BaseModel):
    id: uuid.UUID
    linkedid: str | None
    direction: str
    caller_number: str | None
    caller_name: str | None
    dialed_number: str | None
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    queue: str | None
    queue_exit: str | None
    agent: str | None
    outcome: str | None
    hangup_party: str | None
    hangup_cause: int | None
    ivr_flow: str | None
    ivr_exit: str | None
    ivr_seconds: float | None
    wait_seconds: float | None
    talk_seconds: float | None
    hold_seconds: float | None
    wrap_up_seconds: float | None
    total_seconds: float | None
    recording: str | None
    codes: str | None = Field(description="The codes set on the call, in order, as a,b.")


class SegmentOut(BaseModel):
    call_id: uuid.UUID
    seq: int
    agent: str
    kind: str = Field(description="queue, transfer, supervisor or direct.")
    queue: str | None
    offered_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    ring_seconds: float | None
    talk_seconds: float | None
    hold_seconds: float
    hold_count: int
    wrap_up_seconds: float | None


class DispositionOut(BaseModel):
    call_id: uuid.UUID
    code_set: str
    code: str
    set_by: str = Field(description="system, agent:NAME or operator:NAME.")
    agent: str | None
    set_at: datetime
    note: str | None
    callback_at: datetime | None


class GapOut(BaseModel):
    offset: float = Field(description="Seconds of audio in the file before the gap.")
    paused_at: datetime
    resumed_at: datetime | None
    seconds: float | None
    by: str | None


class RecordingOut(BaseModel):
    id: uuid.UUID
    kind: Literal["call", "voicemail"]
    name: str
    format: str
    call_id: uuid.UUID | None
    node_id: str
    queue: str | None
    agent: str | None
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None = Field(description="Seconds of audio in the file.")
    paused_seconds: float
    gaps: list[GapOut] = Field(description="Where the recording was paused.")
    callback_status: str | None = Field(description="A voicemail's callback: pending, done...")


class CallsPage(BaseModel):
    items: list[CallOut]
    next_offset: int | None = Field(description="The offset of the next page (null: last).")


class SegmentsPage(BaseModel):
    items: list[SegmentOut]
    next_offset: int | None


class DispositionsPage(BaseModel):
    items: list[DispositionOut]
    next_offset: int | None


class RecordingsPage(BaseModel):
    items: list[RecordingOut]
    next_offset: int | None


class CallDetailOut(BaseModel):
    call: CallOut
    segments: list[SegmentOut]
    dispositions: list[DispositionOut]
    recordings: list[RecordingOut]


# --- the routes ----------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ReadRoute:
    path: str
    summary: str
    query: type[BaseModel] | None
    answer: type[BaseModel] | None  # None: a file (audio/wav)
    tag: str


ROUTES: tuple[ReadRoute, ...] = (
    ReadRoute("/api/calls", "Calls, latest arrival first.", CallsQuery, CallsPage, "calls"),
    ReadRoute(
        "/api/calls/{id}",
        "One call with its agent segments, dispositions and recordings.",
        None,
        CallDetailOut,
        "calls",
    ),
    ReadRoute(
        "/api/segments",
        "Agents' parts in calls, latest offer first.",
        SegmentsQuery,
        SegmentsPage,
        "segments",
    ),
    ReadRoute(
        "/api/dispositions",
        "Codes set on calls, latest first.",
        DispositionsQuery,
        DispositionsPage,
        "dispositions",
    ),
    ReadRoute(
        "/api/recordings",
        "Recordings (calls and voicemail messages), newest first.",
        RecordingsQuery,
        RecordingsPage,
        "recordings",
    ),
    ReadRoute("/api/recordings/{id}", "One recording.", None, RecordingOut, "recordings"),
    ReadRoute(
        "/api/recordings/{id}/file",
        "A recording's audio (WAV), from the node that holds it.",
        None,
        None,
        "recordings",
    ),
)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _query(request: web.Request, model: type[BaseModel]) -> BaseModel | web.Response:
    given = {k: v for k, v in request.query.items() if k != "token"}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors()
        )
        return _error(400, problems)


def _page(model: type[BaseModel], rows: list[dict[str, Any]], query: Page) -> web.Response:
    # One more than asked was read: there is a next page when it came.
    more = len(rows) > query.limit
    page = model.model_validate(
        {
            "items": rows[: query.limit],
            "next_offset": query.offset + query.limit if more else None,
        }
    )
    return web.json_response(text=page.model_dump_json())


def _uuid(request: web.Request) -> uuid.UUID | web.Response:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        return _error(400, f"{request.match_info['id']!r} is not an id")


class ReadApi:
    """The handlers, over the database (and ARI for recordings' files, on this node)."""

    def __init__(self, engine: AsyncEngine, ari: AriClient | None, node_id: str) -> None:
        self.engine = engine
        self.ari = ari
        self.node_id = node_id

    async def _read(self, work: Callable[[Connection], Any]) -> Any:
        async with self.engine.connect() as conn:
            return await conn.run_sync(work)

    async def calls(self, request: web.Request) -> web.StreamResponse:
        query = _query(request, CallsQuery)
        if isinstance(query, web.Response):
            return query
        assert isinstance(query, CallsQuery)
        fields = query.model_dump(exclude={"limit", "offset"})
        wanted = CallFilter(**fields, limit=query.limit + 1, offset=query.offset)
        try:
            wanted.check()
        except CallQueryError as exc:
            return _error(400, str(exc))
        rows = await self._read(functools.partial(list_calls, f=wanted))
        return _page(CallsPage, rows, query)

    async def call(self, request: web.Request) -> web.StreamResponse:
        call_id = _uuid(request)
        if isinstance(call_id, web.Response):
            return call_id

        def read(conn: Connection) -> dict[str, Any]:
            found = list_calls(conn, CallFilter(limit=1, call_id=call_id))
            if not found:
                raise CallQueryError(f"no call {call_id}")
            # Newest first from the list, in the order they were set here.
            codes = list_dispositions(conn, call_id=call_id, limit=500)
            return {
                "call": found[0],
                "segments": list_segments(conn, call_id=call_id, limit=500),
                "dispositions": codes[::-1],
                "recordings": list_recordings(conn, call_id=call_id, limit=500),
            }

        try:
            found = await self._read(read)
        except CallQueryError as exc:
            return _error(404, str(exc))
        answer = CallDetailOut.model_validate(found)
        return web.json_response(text=answer.model_dump_json())

    async def _list(
        self,
        request: web.Request,
        query_model: type[Page],
        page_model: type[BaseModel],
        reader: Callable[..., list[dict[str, Any]]],
    ) -> web.StreamResponse:
        """A filtered page of ``reader``'s rows (its keyword arguments are the query's
        fields; ``call`` is passed as ``call_id``)."""
        query = _query(request, query_model)
        if isinstance(query, web.Response):
            return query
        assert isinstance(query, Page)
        filters = query.model_dump(exclude={"limit", "offset"})
        if "call" in filters:
            filters["call_id"] = filters.pop("call")
        rows = await self._read(
            functools.partial(reader, **filters, limit=query.limit + 1, offset=query.offset)
        )
        return _page(page_model, rows, query)

    async def segments(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, SegmentsQuery, SegmentsPage, list_segments)

    async def dispositions(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, DispositionsQuery, DispositionsPage, list_dispositions)

    async def recordings(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, RecordingsQuery, RecordingsPage, list_recordings)

    async def _recording(self, request: web.Request) -> dict[str, Any] | web.Response:
        recording_id = _uuid(request)
        if isinstance(recording_id, web.Response):
            return recording_id
        try:
            row: dict[str, Any] = await self._read(
                functools.partial(find_recording, key=str(recording_id))
            )
        except RecordingError as exc:
            return _error(404, str(exc))
        if row["id"] != recording_id:  # the id of a call: not this route's
            return _error(404, f"no recording {recording_id}")
        return row

    async def recording(self, request: web.Request) -> web.StreamResponse:
        row = await self._recording(request)
        if isinstance(row, web.Response):
            return row
        return web.json_response(text=RecordingOut.model_validate(row).model_dump_json())

    async def recording_file(self, request: web.Request) -> web.StreamResponse:
        row = await self._recording(request)
        if isinstance(row, web.Response):
            return row
        if row["node_id"] != self.node_id or self.ari is None:
            return _error(409, f"the file is on node {row['node_id']!r}: ask that node's app")
        try:
            data = await self.ari.get_bytes(f"/recordings/stored/{row['name']}/file")
        except AriNotFound:
            return _error(404, f"Asterisk no longer has {row['name']!r}")
        except AriError as exc:
            return _error(502, f"Asterisk could not give the file: {exc}")
        filename = f"{row['name']}.{row['format']}"
        return web.Response(
            body=data,
            content_type="audio/wav" if row["format"] == "wav" else "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def handlers(self) -> dict[str, Handler]:
        return {
            "/api/calls": self.calls,
            "/api/calls/{id}": self.call,
            "/api/segments": self.segments,
            "/api/dispositions": self.dispositions,
            "/api/recordings": self.recordings,
            "/api/recordings/{id}": self.recording,
            "/api/recordings/{id}/file": self.recording_file,
        }


def register(
    app: web.Application,
    read: ReadApi,
    guarded: Callable[[Action, Handler], Handler],
) -> None:
    """The read routes (records: supervisors and operators) and the OpenAPI document."""
    handlers = read.handlers()
    for route in ROUTES:
        app.router.add_get(route.path, guarded(Action.RECORDS, handlers[route.path]))
    document = json.dumps(openapi(), indent=1)

    async def openapi_json(_request: web.Request) -> web.Response:
        return web.Response(text=document, content_type="application/json")

    app.router.add_get("/openapi.json", openapi_json)


# --- the OpenAPI document ------------------------------------------------------------------


def _schemas(models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _parameters(route: ReadRoute) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if "{id}" in route.path:
        parameters.append(
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        )
    if route.query is None:
        return parameters
    schema = route.query.model_json_schema()
    required = set(schema.get("required", []))
    for name, prop in schema["properties"].items():
        entry: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        description = prop.pop("description", None)
        prop.pop("title", None)
        if description:
            entry["description"] = description
        entry["schema"] = prop
        parameters.append(entry)
    return parameters


def openapi() -> dict[str, Any]:
    """The read API as an OpenAPI 3.1 document."""
    spec = APISpec(
        title="Switchboard read API",
        version=API_VERSION,
        openapi_version="3.1.0",
        info={
            "description": (
                "Calls, agent segments, dispositions and recordings, for supervisor and "
                "operator credentials (Authorization: Bearer TOKEN). Pages: limit (at most "
                "500) and offset; next_offset is null on the last page. Errors are "
                '{"error": "..."} with 400 (bad parameter), 401, 403, 404, 409 or 502.'
            )
        },
        servers=[{"url": "/"}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    answers = [route.answer for route in ROUTES if route.answer is not None]
    for name, schema in sorted(_schemas(answers).items()):
        spec.components.schema(name, schema)
    errors = {
        "description": "Refused: the reason is in error.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                }
            }
        },
    }
    for route in ROUTES:
        if route.answer is not None:
            ok: dict[str, Any] = {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{route.answer.__name__}"}
                    }
                },
            }
        else:
            ok = {
                "description": "The audio file.",
                "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
            }
        responses = {"200": ok}
        for status in ("400", "401", "403", "404") + (
            ("409", "502") if route.answer is None else ()
        ):
            responses[status] = errors
        spec.path(
            path=route.path,
            operations={
                "get": {
                    "summary": route.summary,
                    "tags": [route.tag],
                    "operationId": "get_"
                    + route.path.strip("/").replace("/", "_").replace("{id}", "one"),
                    "parameters": _parameters(route),
                    "responses": responses,
                }
            },
        )
    return spec.to_dict()


if __name__ == "__main__":  # python -m ari_app.records_api > docs/openapi.json
    print(json.dumps(openapi(), indent=1))
