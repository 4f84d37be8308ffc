"""The schedule admin page: next runs, the history of closes, late events, close now, reopen.

Program admins only. Actions that change frozen results (close now, reopen, apply a late
event) ask for a confirmation first: the first POST shows what will happen, the second (with
``confirm=1``) does it. Plain forms and 303 redirects; htmx polls the progress block while a
close runs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login, Role
from app.closing import (
    CloseRefused,
    apply_adjustment,
    close_period,
    due_periods,
    pending_adjustments,
    recent_closes,
    reject_adjustment,
    reopen_period,
)
from app.context import login_of, render, state_of
from app.i18n import N_, gettext
from app.models import PeriodClose, Program
from app.programs import current_program, rules_of
from app.routes.pages import base_context, language_of
from app.scheduler import Scheduler, planned_runs
from game.periods import parse_period_key

log = logging.getLogger(__name__)

DONE = {
    "closing": N_("The close of %(period)s has started; its progress shows below."),
    "reopened": N_("Period %(period)s is reopened. Close it again when the corrections are in."),
    "applied": N_("The late event is in period %(period)s, which was closed again."),
    "rejected": N_("The late event was rejected."),
}
STATE_LABEL = {
    "started": N_("closing"),
    "finished": N_("closed"),
    "reopened": N_("reopened"),
}


async def _admin(request: Request) -> Response | None:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if login.user.role != Role.PROGRAM_ADMIN:
        lang = language_of(request, login)
        return PlainTextResponse(
            gettext(lang, "Only program admins can manage the schedule."), status_code=403
        )
    return None


def _page_data(request: Request, lang: str) -> dict[str, Any]:
    st = state_of(request)
    now = st.clock()
    with st.db.session() as s:
        program = current_program(s)
        if program is None:
            return {"program": None}
        zone = program.timezone
        closes = recent_closes(s, program)
        due = due_periods(s, program, now)
        adjustments = pending_adjustments(s, program)
    scheduler: Scheduler | None = getattr(request.app.state, "scheduler", None)
    runs = scheduler.next_runs() if scheduler is not None else []
    reopened = [c.period_key for c in closes if c.state == "reopened"]
    closed = [c.period_key for c in closes if c.state == "finished"]
    return {
        "program": program,
        "scheduler_running": scheduler is not None,
        "next_runs": [(r.job, formatting.moment(r.at, zone, lang) if r.at else "—") for r in runs],
        "planned": [formatting.moment(at, zone, lang) for at in planned_runs(program, now)],
        "closes": closes,
        "running": [c for c in closes if c.state == "started"],
        "closable": [p.key for p in due] + reopened,
        "reopenable": closed,
        "adjustments": adjustments,
        "state_label": lambda state: gettext(lang, STATE_LABEL.get(state) or state),
        "when": lambda at: formatting.moment(at, zone, lang) if at else "—",
        "seconds": lambda ms: formatting.number(round(ms / 1000, 1), lang),
    }


async def schedule_page(request: Request) -> Response:
    if (refused := await _admin(request)) is not None:
        return refused
    context = await base_context(request)
    lang = context["lang"]
    context.update(await run_in_threadpool(_page_data, request, lang))
    done, _, period = request.query_params.get("done", "").partition(":")
    if done in DONE:
        context["notice"] = gettext(lang, DONE[done], period=period[:16])
    return render(request, "admin_schedule.html", context, block="progress")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
    values = {k: str(v)[:500] for k, v in form.items()}
    await form.close()
    return values


async def _again(
    request: Request, lang: str, error: str | None = None, confirm: dict[str, str] | None = None
) -> Response:
    context = await base_context(request)
    context.update(await run_in_threadpool(_page_data, request, lang))
    context["error"], context["confirm"] = error, confirm
    return render(request, "admin_schedule.html", context, status_code=400 if error else 200)


def _program(request: Request) -> Program | None:
    with state_of(request).db.session() as s:
        return current_program(s)


async def _admin_action(request: Request) -> tuple[Login, str, dict[str, str]] | Response:
    """A program admin's POST: (who, their language, the form), or the refusal to send."""
    if (refused := await _admin(request)) is not None:
        return refused
    login = await login_of(request)
    assert login is not None
    return login, language_of(request, login), await _form(request)


async def close_now(request: Request) -> Response:
    action = await _admin_action(request)
    if isinstance(action, Response):
        return action
    login, lang, form = action
    period = form.get("period", "").strip()
    st = state_of(request)
    program = await run_in_threadpool(_program, request)
    if program is None or not period:
        return await _again(request, lang, gettext(lang, "Choose a period to close."))
    if form.get("confirm") != "1":
        return await _again(request, lang, confirm={"action": "close", "period": period})
    now = st.clock()
    rules = rules_of(program)
    try:
        ended = parse_period_key(period, rules.cadence, rules.zone).end <= now
    except ValueError as exc:
        return await _again(request, lang, str(exc))
    if not ended:
        return await _again(
            request, lang, gettext(lang, "Period %(period)s has not ended yet.", period=period)
        )

    def work() -> None:
        # A close of a million participants takes minutes: it runs beside the request, and
        # the page shows its progress (from the close record, so any process can show it).
        try:
            close_period(st.db, program, period, st.clock(), by=login.user, reclose=True)
        except Exception:  # logged; the record says how far it got and the sweep resumes it
            log.exception("manual close of %s failed", period)

    threading.Thread(target=work, name=f"close-{period}", daemon=True).start()
    return RedirectResponse(f"/admin/schedule?done=closing:{period}", status_code=303)


async def reopen(request: Request) -> Response:
    action = await _admin_action(request)
    if isinstance(action, Response):
        return action
    login, lang, form = action
    period, reason = form.get("period", "").strip(), form.get("reason", "")
    if form.get("confirm") != "1":
        return await _again(
            request, lang, confirm={"action": "reopen", "period": period, "reason": reason}
        )
    st = state_of(request)
    program = await run_in_threadpool(_program, request)
    if program is None:
        return await _again(request, lang, gettext(lang, "Choose a period to close."))
    try:
        await run_in_threadpool(
            reopen_period, st.db, program, period, login.user, reason, st.clock()
        )
    except CloseRefused as exc:
        return await _again(request, lang, exc.text(lang))
    return RedirectResponse(f"/admin/schedule?done=reopened:{period}", status_code=303)


async def apply(request: Request) -> Response:
    action = await _admin_action(request)
    if isinstance(action, Response):
        return action
    login, lang, form = action
    adjustment_id = int(request.path_params["adjustment_id"])
    if form.get("confirm") != "1":
        return await _again(request, lang, confirm={"action": "apply", "id": str(adjustment_id)})
    st = state_of(request)
    program = await run_in_threadpool(_program, request)
    if program is None:
        return await _again(request, lang, gettext(lang, "Choose a period to close."))
    try:
        outcome = await run_in_threadpool(
            apply_adjustment, st.db, program, adjustment_id, login.user, st.clock()
        )
    except CloseRefused as exc:
        return await _again(request, lang, exc.text(lang))
    return RedirectResponse(f"/admin/schedule?done=applied:{outcome.period_key}", status_code=303)


async def reject(request: Request) -> Response:
    action = await _admin_action(request)
    if isinstance(action, Response):
        return action
    login, lang, form = action
    adjustment_id = int(request.path_params["adjustment_id"])
    st = state_of(request)
    program = await run_in_threadpool(_program, request)
    if program is None:
        return await _again(request, lang, gettext(lang, "Choose a period to close."))
    try:
        await run_in_threadpool(
            reject_adjustment,
            st.db,
            program,
            adjustment_id,
            login.user,
            form.get("reason", ""),
            st.clock(),
        )
    except CloseRefused as exc:
        return await _again(request, lang, exc.text(lang))
    return RedirectResponse("/admin/schedule?done=rejected:", status_code=303)


def progress_of(record: PeriodClose) -> int:
    """Percent done of a running close."""
    return int(100 * record.units_done / record.units_total) if record.units_total else 0


routes = [
    Route("/admin/schedule", schedule_page, methods=["GET"]),
    Route("/admin/schedule/close", close_now, methods=["POST"]),
    Route("/admin/schedule/reopen", reopen, methods=["POST"]),
    Route("/admin/schedule/adjustments/{adjustment_id:int}/apply", apply, methods=["POST"]),
    Route("/admin/schedule/adjustments/{adjustment_id:int}/reject", reject, methods=["POST"]),
]
