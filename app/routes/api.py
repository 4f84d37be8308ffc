"""JSON API for integrations (ERP, CRM, DMS): bearer API keys, never cookies."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.apikeys import find_api_key
from app.badges import settle_badges
from app.boards import BoardRow, BoardView
from app.context import state_of
from app.ingest import ingest_events
from app.models import ApiKey, Program
from app.openapi import openapi_document
from app.participants import find_participant, summarise
from app.routes.boards import TIE_RULE, parse_board, places_of, program_periods
from game.boards import Audience, Metric


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
        await run_in_threadpool(st.boards.settle, program)
    if report.rejected and not report.accepted and not report.duplicates:
        status = 422
    elif report.rejected:
        status = 207
    else:
        status = 200
    # Badges are evaluated after the answer is sent: the integration never waits for them.
    badges = BackgroundTask(settle_badges, st.db, program, st.clock()) if report.accepted else None
    return JSONResponse(report.as_json(), status_code=status, background=badges)


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


MAX_BOARD_LIMIT = 100
VALUE_UNIT = {
    Metric.POINTS: "points",
    Metric.UNITS: "units",
    Metric.REVENUE: "minor currency units",
    Metric.TARGET_PCT: "basis points",
    Metric.GROWTH_PCT: "basis points",
}


def _board_row(row: BoardRow) -> dict[str, Any]:
    # position is 1-based here (the service counts from 0): the third row has position 3.
    return {
        "rank": row.rank,
        "position": row.position + 1,
        "tied": row.tied,
        "code": row.code,
        "name": row.name,
        "value": row.value,
    }


async def get_leaderboard(request: Request) -> JSONResponse:
    """One board: the top ``limit`` rows and, with ``around=CODE``, that participant's standing
    and the 5 rows either side of it."""
    try:
        _key, program = await _authenticate(request)
    except HTTPException as exc:
        return problem(exc.status_code, exc.detail)
    st = state_of(request)
    wanted = request.path_params["program"]
    if wanted.strip().upper() != program.code.upper():
        return problem(403, f"this API key belongs to program {program.code}, not '{wanted[:40]}'")
    params = request.query_params
    raw_limit = params.get("limit", "10").strip()
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_BOARD_LIMIT:
        return problem(400, f"limit must be a whole number from 1 to {MAX_BOARD_LIMIT}")
    limit = int(raw_limit)
    around_code = params.get("around", "").strip()[:40]
    now = st.clock()

    def load() -> tuple[int, dict[str, Any]]:
        with st.db.session() as s:
            periods = program_periods(program, now)
            try:
                spec = parse_board(
                    s,
                    program,
                    periods,
                    places_of(s),
                    period=params.get("period", ""),
                    audience=params.get("audience", ""),
                    scope=request.path_params["scope"],
                    metric=request.path_params["metric"],
                )
            except ValueError as exc:
                return 400, {"error": str(exc)}
            you: int | None = None
            you_code = around_code.upper()
            if around_code:
                found = find_participant(s, around_code)
                if found is None:
                    return 404, {"error": f"no rep or partner with code '{around_code}'"}
                kind, rep, partner = found
                if (kind == "rep") != (spec.audience == Audience.REPS):
                    return 400, {
                        "error": f"{around_code} is a {kind}; ask a board of "
                        f"audience={'reps' if kind == 'rep' else 'partners'}"
                    }
                you = rep.id if rep is not None else partner.id
                you_code = rep.code if rep is not None else partner.code
        board: BoardView = st.boards.view(program, spec, limit=limit, around=0)
        answer: dict[str, Any] = {
            "program": program.code,
            "period": spec.period_key,
            "audience": spec.audience.value,
            "scope": str(spec.scope),
            "metric": spec.metric.value,
            "value_unit": VALUE_UNIT[spec.metric],
            "size": board.size,
            "rule": TIE_RULE,
            "rows": [_board_row(r) for r in board.top],
        }
        if spec.metric == Metric.REVENUE:
            answer["currency"] = program.currency
        if around_code:
            # limit=0: the window is returned even when the participant is in the top rows.
            near = st.boards.view(program, spec, you=you, limit=0, around=5)
            answer["around"] = {
                "code": you_code,
                "standing": _board_row(near.you) if near.you else None,
                "rows": [_board_row(r) for r in near.around],
            }
        return 200, answer

    status, body = await run_in_threadpool(load)
    if status != 200:
        return problem(status, body["error"])
    return JSONResponse(body)


async def get_openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_document(state_of(request).settings))


routes = [
    Route("/api/v1/events", post_events, methods=["POST"]),
    Route("/api/v1/participants/{code}", get_participant, methods=["GET"]),
    Route("/api/v1/leaderboards/{program}/{scope}/{metric}", get_leaderboard, methods=["GET"]),
    Route("/api/v1/openapi.json", get_openapi, methods=["GET"]),
]
