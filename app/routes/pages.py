"""Server-rendered pages. Each works as a plain link or form; htmx swaps named blocks."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel import negotiate_locale
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login, Role, authenticate, end_session, start_session
from app.challenges import announcements
from app.context import SESSION_COOKIE, AppState, is_htmx, login_of, render, state_of
from app.dashboard import dashboard_of
from app.i18n import N_, gettext
from app.imports import ImportRefused, decode_upload, import_csv
from app.models import Partner, PeriodTotal, Program, Rep
from app.participants import summarise
from app.programs import current_program, rules_of
from app.security import csrf_token_for
from game.boards import Audience, BoardSpec, Metric, Scope, ScopeKind


def language_of(request: HTTPConnection, login: Login | None) -> str:
    if login is not None and login.user.language in formatting.SUPPORTED:
        return login.user.language
    return _negotiated(request.headers.get("Accept-Language", ""))


@functools.lru_cache(maxsize=512)
def _negotiated(accept_language: str) -> str:
    # Few distinct headers exist in practice; negotiating each once keeps it off the hot path.
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in accept_language.split(",")]
    found = negotiate_locale(
        [w for w in wanted if w] or ["en"], list(formatting.SUPPORTED), sep="_"
    )
    return found or "en"


async def base_context(request: Request) -> dict[str, Any]:
    login = await login_of(request)
    language = language_of(request, login)
    return {
        "login": login,
        "user": login.user if login else None,
        # Only a logged-in page can change state; an anonymous page that has a form (login)
        # asks for its token itself. Anonymous pages are then the same for everyone: cacheable.
        "csrf_token": login.session.csrf_token if login else None,
        "lang": language,
        "fmt_number": lambda v: formatting.number(v, language),
    }


def display_name(name: str, anonymous: bool, lang: str) -> str:
    return gettext(lang, "Anonymous") if anonymous else name


def _period_stats(session: Any, program: Program, period_key: str) -> dict[str, int]:
    """Program-wide figures for the period (one aggregate over the partners' running totals)."""
    points, units, selling = session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(col(PeriodTotal.points)), 0),
            sa.func.coalesce(sa.func.sum(col(PeriodTotal.units)), 0),
            sa.func.count(),
        ).where(
            col(PeriodTotal.program_id) == program.id,
            col(PeriodTotal.period_key) == period_key,
            col(PeriodTotal.kind) == "partner",
        )
    ).one()
    reps = session.execute(sa.select(sa.func.count()).select_from(Rep)).scalar_one()
    partners = session.execute(sa.select(sa.func.count()).select_from(Partner)).scalar_one()
    return {
        "points": points,
        "units": units,
        "active_partners": selling,
        "partners": partners,
        "reps": reps,
    }


# (program id, period, board version) -> stats: the aggregate is recomputed only after a write.
_STATS: dict[tuple[int, str, int], dict[str, int]] = {}


def home_context(
    st: AppState,
    login: Login | None,
    lang: str,
    wanted: str,
    now: datetime,
    with_dashboard: bool = True,
) -> dict[str, Any]:
    """Everything the home page shows below the header (blocking: call from a thread).

    Shared by the page and by its live pushes (``app/live.py``), so a pushed card or top-reps
    list is rendered from exactly the same data as the page. ``wanted`` is a participant code,
    or "rep:" / "partner:" for the logged-in person's own card. ``with_dashboard``: also the
    logged-in rep's or partner admin's own streak, ranks and recent activity."""
    with st.db.session() as s:
        program = current_program(s)
        if program is None:
            return {"program": None}
        rules = rules_of(program)
        period = rules.period_of(now)
        code = wanted
        if wanted == "rep:" and login is not None:
            rep = s.get(Rep, login.user.rep_id)
            code = rep.code if rep else ""
        elif wanted == "partner:" and login is not None:
            partner = s.get(Partner, login.user.partner_id)
            code = partner.code if partner else ""
        summary = summarise(s, program, code, now) if code else None
        assert program.id is not None
        version = st.boards.version(program)
        cache_key = (program.id, period.key, version)
        stats = _STATS.get(cache_key)
        if stats is None:
            _STATS.clear()  # only the newest version is worth keeping
            stats = _STATS[cache_key] = _period_stats(s, program, period.key)
        you = login.user.rep_id if login is not None else None
        board = st.boards.view(program, home_board(period.key), you=you, limit=10)
        dashboard = (
            dashboard_of(s, st.boards, program, login.user, now)
            if with_dashboard and login is not None
            else None
        )
        # Live challenges this person is in or manages: the launch announcement.
        launches = announcements(s, program, login.user if login else None, now)
    context: dict[str, Any] = {
        "lang": lang,  # live pushes render blocks without the page's base context
        "program": program,
        "dashboard": dashboard,
        "period": period,
        "summary": summary,
        # The logged-in rep's own card: the one live pushes replace (never a looked-up one).
        "own_card": wanted == "rep:" and summary is not None,
        "looked_up": code if wanted and not wanted.endswith(":") else "",
        "top": board.top,
        "stats": stats,
        "fmt_number": lambda v: formatting.number(v, lang),
        "fmt_money": lambda minor: formatting.money(minor, program.currency, lang),
        "fmt_day": lambda d: formatting.day(d, lang, program.timezone),
        "days_left": _days_left(period.end, now),
    }
    context.update(launches)
    if summary is not None:
        context["summary_name"] = summary.name
    return context


def home_board(period_key: str) -> BoardSpec:
    """The board the home page lists (and keeps live): every rep, by points, this period."""
    return BoardSpec(Audience.REPS, Scope(ScopeKind.EVERYONE), Metric.POINTS, period_key)


async def home(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    login: Login | None = context["login"]
    wanted = request.query_params.get("participant", "").strip()[:40]
    if not wanted and login is not None:
        user = login.user
        if user.rep_id is not None:
            wanted = "rep:"
        elif user.partner_id is not None:
            wanted = "partner:"
    now = st.clock()
    # A looked-up card (an htmx swap of the card alone) does not need the dashboard.
    own = not is_htmx(request)
    context.update(
        await run_in_threadpool(home_context, st, login, context["lang"], wanted, now, own)
    )
    return render(request, "home.html", context, block="participant_card")


def _days_left(end: datetime, now: datetime) -> int:
    return max(0, (end - now).days)


async def login_form(request: Request) -> Response:
    context = await base_context(request)
    context["csrf_token"] = await csrf_token_for(request)
    context["next"] = _safe_next(request.query_params.get("next", "/"))
    return render(request, "login.html", context)


def _safe_next(target: str) -> str:
    # Only same-site paths: never an open redirect to another host.
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def login_submit(request: Request) -> Response:
    st = state_of(request)
    form = await request.form()
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1024]
    target = _safe_next(str(form.get("next", "/")))
    now = st.clock()

    address = request.client.host if request.client else "unknown"
    wait = st.login_limiter.wait_seconds(email, address)
    if wait:
        context = await base_context(request)
        context["csrf_token"] = await csrf_token_for(request)
        context.update(
            {
                "error": gettext(
                    context["lang"],
                    "Too many login attempts. Wait %(seconds)s seconds and try again.",
                    seconds=wait,
                ),
                "email": email,
                "next": target,
            }
        )
        response = render(request, "login.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response

    def attempt() -> str | None:
        with st.db.write() as s:
            user = authenticate(s, email, password)
            return start_session(s, user, now) if user else None

    token = await run_in_threadpool(attempt)
    if token is None:
        context = await base_context(request)
        context["csrf_token"] = await csrf_token_for(request)
        context.update(
            {
                "error": gettext(
                    context["lang"], "That email and password do not match an account."
                ),
                "email": email,
                "next": target,
            }
        )
        return render(request, "login.html", context, status_code=400)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=14 * 24 * 3600,
    )
    return response


async def logout(request: Request) -> Response:
    st = state_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:

        def end() -> None:
            with st.db.write() as s:
                end_session(s, token, st.clock())

        await run_in_threadpool(end)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def _require_admin(request: Request) -> Response | None:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if login.user.role != Role.PROGRAM_ADMIN:
        return PlainTextResponse(
            gettext(language_of(request, login), "Only program admins can import sales."),
            status_code=403,
        )
    return None


async def import_page(request: Request) -> Response:
    if (refused := await _require_admin(request)) is not None:
        return refused
    context = await base_context(request)
    return render(request, "admin_import.html", context)


async def import_upload(request: Request) -> Response:
    if (refused := await _require_admin(request)) is not None:
        return refused
    st = state_of(request)
    context = await base_context(request)
    form = await request.form(max_part_size=st.settings.max_upload_bytes)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        context["error"] = gettext(context["lang"], "Choose a CSV file to import.")
        return render(request, "admin_import.html", context, block="import_result", status_code=400)
    data = await upload.read()
    filename = upload.filename
    await form.close()

    def run() -> Any:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            raise ImportRefused(
                N_("There is no program yet; run `podium demo` or create one first.")
            )
        return import_csv(st.db, program, decode_upload(data), st.clock(), filename=filename)

    try:
        context["report"] = await run_in_threadpool(run)
    except ImportRefused as exc:
        context["error"] = exc.text(context["lang"])
        return render(request, "admin_import.html", context, block="import_result", status_code=400)
    except ValueError as exc:
        context["error"] = str(exc).capitalize() + "."
        return render(request, "admin_import.html", context, block="import_result", status_code=400)
    context["filename"] = filename
    return render(request, "admin_import.html", context, block="import_result")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/admin/import", import_page, methods=["GET"]),
    Route("/admin/import", import_upload, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
