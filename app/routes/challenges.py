"""Challenge pages and API: the list, the definition form, a challenge's page with live
standings and the manager's controls; JSON for integrations.

Plain forms and redirects (POST, then 303 to a GET), so everything works without JavaScript;
the challenge page's standings are also pushed over the live socket (``/ws/boards?challenge=``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login
from app.badges import EVENT_NAMES
from app.challenges import (
    ChallengeError,
    ChallengeForm,
    ChallengeRefused,
    DefinitionInvalid,
    cancel_challenge,
    create_challenge,
    end_challenge,
    in_scope,
    join_challenge,
    launch_challenge,
    list_for,
    managed_regions,
    may_define,
    may_manage,
    may_see,
    notices_for,
    participant_of,
    standings,
    tracked,
)
from app.context import login_of, render, state_of
from app.i18n import gettext
from app.models import Challenge, ChallengeEntry, League, Partner, Program, Region, Rep, User
from app.programs import current_program
from app.routes.api import _authenticate, problem
from app.routes.pages import base_context
from game.challenges import ChallengeKind, Status
from game.events import EventType

FORM_FIELDS = tuple(
    f for f in ChallengeForm.__dataclass_fields__ if f not in ("regions", "leagues")
)
MAX_FIELD_BYTES = 16 * 1024


async def _login_or_redirect(request: Request) -> Login | Response:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return login


def add_formatters(context: dict[str, Any], program: Program | None) -> None:
    lang = context["lang"]
    zone = program.timezone if program else "UTC"
    currency = program.currency if program else "IDR"
    context["fmt_moment"] = lambda d: formatting.moment(d, zone, lang)
    context["fmt_money"] = lambda minor: formatting.money(minor, currency, lang)

    def value(challenge: Challenge, amount: float) -> str:
        if challenge.metric == "revenue":
            return formatting.money(int(amount), currency, lang)
        return formatting.number(round(amount, 1) if amount % 1 else int(amount), lang)

    context["fmt_value"] = value


# --- list ---------------------------------------------------------------------------------------


async def challenges_page(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    context = await base_context(request)
    user = login.user

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            if program is None:
                return {"program": None, "groups": {}, "notices": []}
            return {
                "program": program,
                "groups": list_for(s, st.boards, program, user, st.clock()),
                "notices": notices_for(s, user),
                "may_define": may_define(user),
            }

    context.update(await run_in_threadpool(load))
    add_formatters(context, context["program"])
    return render(request, "challenges.html", context)


# --- the definition form ------------------------------------------------------------------------


def _choices(s: Session, user: User) -> dict[str, Any]:
    allowed = managed_regions(s, user)
    regions = s.exec(select(Region).order_by(col(Region.code))).all()
    return {
        "regions": [r for r in regions if allowed is None or r.id in allowed],
        "leagues": s.exec(select(League).order_by(col(League.position))).all(),
        "kinds": [k.value for k in ChallengeKind],
        "event_types": [(t.value, EVENT_NAMES.get(t.value, t.value)) for t in EventType],
    }


async def _form_page(
    request: Request,
    login: Login,
    values: dict[str, Any] | None = None,
    problems: dict[str, list[str]] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    st = state_of(request)
    context = await base_context(request)

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            out = _choices(s, login.user)
            out["program"] = program
            return out

    context.update(await run_in_threadpool(load))
    program: Program | None = context["program"]
    if values is None:
        zone = ZoneInfo(program.timezone if program else "UTC")
        start = st.clock().astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        values = {
            "starts": start.isoformat(timespec="minutes"),
            "ends": start.replace(hour=23, minute=59).isoformat(timespec="minutes"),
            "kind": "target",
            "metric": "units",
            "audience": "rep",
            "enrolment": "auto",
            "team_score": "total",
            "reward_points": "0",
            "regions": (),
            "leagues": (),
        }
    context.update({"values": values, "problems": problems or {}, "error": error})
    return render(request, "challenge_form.html", context, status_code=status)


async def new_challenge(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    if not may_define(login.user):
        return PlainTextResponse(
            "Only regional managers and program admins define challenges.", status_code=403
        )
    return await _form_page(request, login)


async def create(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    try:
        form = await request.form(max_files=0, max_fields=60, max_part_size=MAX_FIELD_BYTES)
    except HTTPException:
        return PlainTextResponse("The form could not be read. Reload and try again.", 400)
    values: dict[str, Any] = {name: str(form.get(name, ""))[:4000] for name in FORM_FIELDS}
    values["regions"] = tuple(str(v)[:40] for v in form.getlist("regions"))[:100]
    values["leagues"] = tuple(str(v)[:40] for v in form.getlist("leagues"))[:100]
    launch = form.get("action") != "draft"
    await form.close()
    context = await base_context(request)
    lang = context["lang"]

    def run() -> Challenge:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            raise ChallengeError("There is no program yet.")
        return create_challenge(
            st.db, program, login.user, ChallengeForm(**values), st.clock(), launch=launch
        )

    try:
        challenge = await run_in_threadpool(run)
    except DefinitionInvalid as exc:
        problems: dict[str, list[str]] = {}
        for p in exc.problems:
            problems.setdefault(p.where, []).append(gettext(lang, p.message, **p.values))
        return await _form_page(request, login, values, problems, exc.text(lang), status=400)
    except ChallengeRefused as exc:
        return await _form_page(request, login, values, None, exc.text(lang), status=403)
    except ChallengeError as exc:
        return await _form_page(request, login, values, None, exc.text(lang), status=400)
    return RedirectResponse(f"/challenges/{challenge.id}", status_code=303)


# --- one challenge ------------------------------------------------------------------------------


def challenge_context(
    st: Any, user: User, challenge_id: int, now: datetime
) -> dict[str, Any] | None:
    """Everything the challenge page shows, or None when this person may not see it. Shared by
    the page and its live pushes, so a push is rendered from the same data as the page."""
    with st.db.session() as s:
        c = s.get(Challenge, challenge_id)
        if c is None or not may_see(s, user, c):
            return None
        program = s.get(Program, c.program_id)
        me = participant_of(s, user, c)
        board = standings(s, st.boards, c, me, limit=10)
        manages = may_manage(s, user, c)
        joined = c.enrolment != "opt_in" or (me is not None and _joined(s, c, me))
        scope = _scope_names(s, c)
        return {
            "program": program,
            "challenge": c,
            "board": board,
            "me": me,
            "manages": manages,
            "joined": joined,
            "scope": scope,
            "now": now,
            "tracked": tracked(c),
        }


def _joined(s: Session, c: Challenge, me: tuple[str, int]) -> bool:
    return (
        s.execute(
            sa.select(col(ChallengeEntry.id)).where(
                col(ChallengeEntry.challenge_id) == c.id,
                col(ChallengeEntry.kind) == me[0],
                col(ChallengeEntry.participant_id) == me[1],
            )
        ).first()
        is not None
    )


def _scope_names(s: Session, c: Challenge) -> list[str]:
    names: list[str] = []
    if c.region_ids:
        names += list(
            s.execute(sa.select(col(Region.name)).where(col(Region.id).in_(c.region_ids))).scalars()
        )
    if c.league_ids:
        names += list(
            s.execute(sa.select(col(League.name)).where(col(League.id).in_(c.league_ids))).scalars()
        )
    if c.partner_ids:
        names += list(
            s.execute(
                sa.select(col(Partner.name)).where(col(Partner.id).in_(c.partner_ids))
            ).scalars()
        )
    return names


def _challenge_id(request: Request) -> int:
    return int(request.path_params["challenge_id"])


async def challenge_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    context = await base_context(request)
    found = await run_in_threadpool(
        challenge_context, st, login.user, _challenge_id(request), st.clock()
    )
    if found is None:
        # The same answer for "no such challenge" and "not yours": ids reveal nothing.
        return PlainTextResponse(gettext(context["lang"], "No such challenge."), status_code=404)
    context.update(found)
    add_formatters(context, context["program"])
    context["error"] = error
    context["done"] = request.query_params.get("done", "")[:20]
    return render(request, "challenge.html", context, block="standings", status_code=status)


async def act(request: Request) -> Response:
    """Launch, end early, cancel or join (the last word of the path says which)."""
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    challenge_id = _challenge_id(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD_BYTES)
    reason = str(form.get("reason", ""))[:2000]
    await form.close()
    action = request.url.path.rsplit("/", 1)[-1]
    lang = (await base_context(request))["lang"]

    def run() -> Challenge:
        now = st.clock()
        if action == "launch":
            return launch_challenge(st.db, challenge_id, login.user, now)
        if action == "end":
            return end_challenge(st.db, challenge_id, login.user, reason, now)
        if action == "cancel":
            return cancel_challenge(st.db, challenge_id, login.user, reason, now)
        return join_challenge(st.db, challenge_id, login.user, now)

    try:
        await run_in_threadpool(run)
    except ChallengeRefused as exc:
        if exc.message == "No such challenge.":
            return PlainTextResponse(exc.text(lang), status_code=404)
        return await challenge_page(request, error=exc.text(lang), status=403)
    except ChallengeError as exc:
        return await challenge_page(request, error=exc.text(lang), status=400)
    with st.db.session() as s:
        program = current_program(s)
    if program is not None:  # bonus points from a settlement move the boards now
        await run_in_threadpool(st.boards.settle, program)
    return RedirectResponse(f"/challenges/{challenge_id}?done={action}", status_code=303)


# --- JSON API -----------------------------------------------------------------------------------


def _challenge_json(c: Challenge, participants: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "kind": c.kind,
        "audience": c.audience,
        "metric": c.metric,
        "status": c.status,
        "starts_at": c.starts_at.isoformat(),
        "ends_at": c.ends_at.isoformat(),
        "target": c.target,
        "winners": c.winners,
        "enrolment": c.enrolment,
        "reward_points": c.reward_points,
        "reward_badge": c.reward_badge,
    }
    if participants is not None:
        out["participants"] = participants
    return out


API_STATUSES = {"live", "scheduled", "ended", "settled", "cancelled"}


async def api_list(request: Request) -> JSONResponse:
    try:
        _key, program = await _authenticate(request)
    except HTTPException as exc:
        return problem(exc.status_code, exc.detail)
    wanted = request.query_params.get("status", "")
    if wanted and wanted not in API_STATUSES:
        return problem(400, f"status must be one of {', '.join(sorted(API_STATUSES))}")
    st = state_of(request)

    def load() -> list[dict[str, Any]]:
        with st.db.session() as s:
            query = select(Challenge).where(
                col(Challenge.program_id) == program.id, col(Challenge.status) != Status.DRAFT
            )
            if wanted:
                query = query.where(col(Challenge.status) == wanted)
            rows = s.exec(query.order_by(col(Challenge.starts_at).desc()).limit(200)).all()
            return [_challenge_json(c) for c in rows]

    return JSONResponse({"challenges": await run_in_threadpool(load)})


async def api_progress(request: Request) -> JSONResponse:
    try:
        _key, program = await _authenticate(request)
    except HTTPException as exc:
        return problem(exc.status_code, exc.detail)
    st = state_of(request)
    challenge_id = _challenge_id(request)
    code = request.path_params["code"].strip().upper()

    def load() -> tuple[int, dict[str, Any]]:
        with st.db.session() as s:
            c = s.get(Challenge, challenge_id)
            if c is None or c.program_id != program.id or c.status == Status.DRAFT:
                return 404, {"error": f"no challenge {challenge_id} in this program"}
            model: Any = Rep if c.audience == "rep" else Partner
            pid = s.execute(
                sa.select(model.id).where(sa.func.upper(model.code) == code)
            ).scalar_one_or_none()
            if pid is None:
                noun = "rep" if c.audience == "rep" else "partner"
                return 404, {
                    "error": f"no {noun} with code '{code}' (this challenge is for {noun}s)"
                }
            if not in_scope(s, c, c.audience, pid):
                return 404, {"error": f"'{code}' is not in this challenge's scope"}
            board = standings(s, st.boards, c, (c.audience, pid), limit=3)
            you = board.you
            assert you is not None
            return 200, {
                "challenge": _challenge_json(c, board.participants),
                "participant": code,
                "value": you.value,
                "rank": you.rank if you.value > 0 else None,
                "goal": board.goal,
                "reached": c.target is not None and you.value >= c.target,
                "leaders": [{"rank": r.rank, "name": r.name, "value": r.value} for r in board.rows],
            }

    status, body = await run_in_threadpool(load)
    if status != 200:
        return problem(status, body["error"])
    return JSONResponse(body)


routes = [
    Route("/challenges", challenges_page, methods=["GET"]),
    Route("/challenges", create, methods=["POST"]),
    Route("/challenges/new", new_challenge, methods=["GET"]),
    Route("/challenges/{challenge_id:int}", challenge_page, methods=["GET"]),
    Route("/challenges/{challenge_id:int}/launch", act, methods=["POST"]),
    Route("/challenges/{challenge_id:int}/end", act, methods=["POST"]),
    Route("/challenges/{challenge_id:int}/cancel", act, methods=["POST"]),
    Route("/challenges/{challenge_id:int}/join", act, methods=["POST"]),
    Route("/api/v1/challenges", api_list, methods=["GET"]),
    Route("/api/v1/challenges/{challenge_id:int}/progress/{code}", api_progress, methods=["GET"]),
]
