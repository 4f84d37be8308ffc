"""JSON API for integrations (ERP, CRM, DMS): bearer API keys, never cookies."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.apikeys import find_api_key
from app.context import state_of
from app.ingest import ingest_events
from app.models import ApiKey, Program
from app.openapi import openapi_document
from app.participants import summarise


def problem(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="podium"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


async def _authenticate(request: Request) -> tuple[ApiKey, Program]:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(
            401,
            "send 'Authorization: Bearer <api key>'; create one with `podium apikey create NAME`",
        )
    st = state_of(request)

    def lookup() -> tuple[ApiKey, Program] | None:
        with st.db.session() as s:
            key = find_api_key(s, secret.strip())
            if key is None:
                return None
            program = s.get(Program, key.program_id)
            assert program is not None
            return key, program

    found = await run_in_threadpool(lookup)
    if found is None:
        raise HTTPException(401, "this API key is unknown or revoked")
    return found


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            413, f"the body is larger than {limit} bytes; send fewer events per request"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(
                413, f"the body is larger than {limit} bytes; send fewer events per request"
            )
    try:
        return json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise HTTPException(400, f"the body is not valid JSON{where}") from None


async def post_events(request: Request) -> JSONResponse:
    """Ingest up to N events; answer what was accepted, repeated and rejected (by index)."""
    st = state_of(request)
    try:
        key, program = await _authenticate(request)
        data = await _read_json(request, st.settings.max_body_bytes)
    except HTTPException as exc:
        return problem(exc.status_code, exc.detail)
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return problem(422, 'the body must be an object like {"events": [ ... ]}')
    events = data["events"]
    limit = st.settings.max_events_per_request
    if not events:
        return problem(422, "events is empty; send at least one event")
    if len(events) > limit:
        return problem(
            413, f"{len(events)} events in one request; send at most {limit} per request"
        )
    report = await run_in_threadpool(ingest_events, st.db, program, key.source, events, st.clock())
    if report.accepted:  # move the boards now rather than at the next view
        await run_in_threadpool(st.boards.catch_up, program)
    if report.rejected and not report.accepted and not report.duplicates:
        status = 422
    elif report.rejected:
        status = 207
    else:
        status = 200
    return JSONResponse(report.as_json(), status_code=status)


async def get_participant(request: Request) -> JSONResponse:
    try:
        _key, program = await _authenticate(request)
    except HTTPException as exc:
        return problem(exc.status_code, exc.detail)
    code = request.path_params["code"]
    st = state_of(request)

    def load() -> dict[str, Any] | None:
        with st.db.session() as s:
            summary = summarise(s, program, code, st.clock())
            return summary.as_json(program.currency) if summary else None

    found = await run_in_threadpool(load)
    if found is None:
        return problem(404, f"no rep or partner with code '{code}'")
    return JSONResponse(found)


async def get_openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(state_of(request).settings))


routes = [
    Route("/api/v1/events", post_events, methods=["POST"]),
    Route("/api/v1/participants/{code}", get_participant, methods=["GET"]),
    Route("/api/v1/openapi.json", get_openapi, methods=["GET"]),
]
