"""Badge pages, artwork, share cards, certificates and the public Open Badges documents.

Public (a shared link must open for anyone): the gallery, showcases, earned-badge pages, images,
certificates and the JSON-LD documents. Logged in: "my badges". Program admins: define and
preview badges, revoke an award, award a closed period's placements.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login, Role
from app.artwork import CardText, draw_medallion, medallion_png, png_bytes, share_card_png
from app.badges import (
    METRIC_NAMES,
    Earned,
    criteria_text,
    definition_of,
    definitions,
    earned,
    evaluate_period_close,
    find_definition,
    gallery,
    level_label,
    participant_of,
    revoke_award,
    save_definition,
)
from app.boards import load_rows
from app.certificates import CertificateText, certificate_pdf
from app.context import AppState, render, state_of
from app.i18n import gettext
from app.models import Partner, Program, Rep
from app.openbadges import (
    LD_JSON,
    Urls,
    assertion,
    badge_class,
    bake,
    issuer_profile,
    level_of_slug,
    revoked_assertion,
)
from app.programs import current_program, rules_of
from app.routes.pages import base_context
from game.badges import ICONS, LEVELS, Audience, BadgeDefinition, Kind, final_standings
from game.boards import Audience as BoardAudience
from game.boards import BoardSpec, Metric, Scope, ScopeKind
from game.periods import parse_period_key

PUBLIC_CACHE = "public, max-age=60"  # revocation must show within a minute
ART_CACHE = "public, max-age=3600"


def _urls(st: AppState) -> Urls:
    return Urls(st.settings.base_url)


def _issuer_email(st: AppState) -> str:
    if st.settings.issuer_email:
        return st.settings.issuer_email
    host = urlsplit(st.settings.base_url).hostname or "localhost"
    return f"badges@{host}"


def _viewer(login: Login | None) -> tuple[Audience, int] | None:
    """Whose badges a logged-in person sees as "mine": a rep's own, a partner admin's company's."""
    if login is None:
        return None
    if login.user.rep_id is not None:
        return Audience.REP, login.user.rep_id
    if login.user.partner_id is not None:
        return Audience.PARTNER, login.user.partner_id
    return None


def _ld_json(request: Request, body: dict[str, Any], status: int = 200) -> Response:
    """JSON-LD as ``application/ld+json``, or ``application/json`` to a client that asks only
    for that (the Open Badges publishing rule)."""
    accept = request.headers.get("Accept", "")
    media = (
        "application/json" if "application/json" in accept and LD_JSON not in accept else LD_JSON
    )
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        status_code=status,
        media_type=media,
        headers={"Cache-Control": PUBLIC_CACHE, "Access-Control-Allow-Origin": "*"},
    )


def _not_found(message: str) -> Response:
    return PlainTextResponse(message, status_code=404)


# --- pages ---------------------------------------------------------------------------------------


async def gallery_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    viewer = _viewer(context["login"])
    lang = context["lang"]

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            if program is None:
                return {"program": None, "items": []}
            return {"program": program, "items": gallery(s, program, viewer, lang, st.clock())}

    context.update(await run_in_threadpool(load))
    context.update({"viewer": viewer, "title": gettext(lang, "Badges"), "mine": False})
    return render(request, "badges.html", context)


async def my_badges(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    login: Login | None = context["login"]
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    viewer = _viewer(login)
    lang = context["lang"]

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            if program is None or viewer is None:
                return {"program": program, "items": []}
            code = _code_of(s, viewer)
            items = gallery(s, program, viewer, lang, st.clock(), only_earned=True)
            return {"program": program, "items": items, "showcase": code}

    context.update(await run_in_threadpool(load))
    context.update({"viewer": viewer, "title": gettext(lang, "My badges"), "mine": True})
    return render(request, "badges.html", context)


def _code_of(session: Any, viewer: tuple[Audience, int]) -> str:
    kind, pid = viewer
    found = session.get(Rep if kind == Audience.REP else Partner, pid)
    return str(found.code) if found else ""


async def showcase(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang = context["lang"]
    code = request.path_params["code"][:40]

    def load() -> dict[str, Any] | None:
        with st.db.session() as s:
            program = current_program(s)
            found = participant_of(s, code)
            if program is None or found is None:
                return None
            kind, pid, name, anonymous = found
            items = gallery(s, program, (kind, pid), lang, st.clock(), only_earned=True)
            shown = gettext(lang, "Anonymous") if anonymous else name
            return {"program": program, "items": items, "name": shown, "code": code.upper()}

    found = await run_in_threadpool(load)
    if found is None:
        return _not_found(gettext(lang, "No rep or partner has this code."))
    context.update(found)
    return render(request, "badge_showcase.html", context)


def _earned_context(st: AppState, e: Earned, lang: str) -> dict[str, Any]:
    urls = _urls(st)
    name, description = e.definition.localized(lang)
    return {
        "e": e,
        "badge_title": e.title(lang),
        "badge_name": name,
        "badge_description": description,
        "criteria": criteria_text(e.definition, lang, e.program.currency),
        "earned_day": formatting.day(e.award.earned_at, lang, e.program.timezone),
        "page_url": urls.earned(e.award.uid),
        "card_url": urls.card(e.award.uid),
        "assertion_url": urls.assertion(e.award.uid),
        "image_url": urls.image(e.program, e.row.code, e.award.level, 512),
        "level_name": level_label(e.award.level, lang) if e.award.level else "",
    }


async def earned_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang = context["lang"]
    uid = request.path_params["uid"][:40]

    def load() -> Earned | None:
        with st.db.session() as s:
            return earned(s, uid, lang)

    e = await run_in_threadpool(load)
    if e is None:
        return _not_found(gettext(lang, "This badge link does not exist."))
    context.update(_earned_context(st, e, lang))
    status = 410 if e.award.revoked_at is not None else 200
    return render(request, "badge_earned.html", context, status_code=status)


def _card_text(st: AppState, e: Earned, lang: str) -> CardText:
    day = formatting.day(e.award.earned_at, lang, e.program.timezone)
    return CardText(
        program=e.program.name,
        person=e.display_name,
        company=e.company,
        badge=e.title(lang),
        date=day,
        earned_label=gettext(lang, "Earned on %(date)s", date=day),
        footer=gettext(lang, "Verify: %(url)s", url=_urls(st).earned(e.award.uid)),
    )


async def share_card(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang = context["lang"]
    uid = request.path_params["uid"][:40]

    def draw() -> bytes | None:
        with st.db.session() as s:
            e = earned(s, uid, lang)
        if e is None or e.award.revoked_at is not None:
            return None
        name = e.definition.localized(lang)[0]
        return share_card_png(
            st.settings.data_dir, _card_text(st, e, lang), name, e.definition.icon, e.award.level
        )

    data = await run_in_threadpool(draw)
    if data is None:
        return _not_found(gettext(lang, "This badge link does not exist."))
    return Response(data, media_type="image/png", headers={"Cache-Control": ART_CACHE})


async def baked_png(request: Request) -> Response:
    """The medallion with this award's Assertion baked in: the file to upload to a backpack."""
    st = state_of(request)
    context = await base_context(request)
    uid = request.path_params["uid"][:40]

    def make() -> tuple[bytes, str] | None:
        with st.db.session() as s:
            e = earned(s, uid)
        if e is None or e.award.revoked_at is not None:
            return None
        art = medallion_png(
            st.settings.data_dir, e.definition.name, e.definition.icon, e.award.level, 512
        )
        return bake(art, assertion(_urls(st), e)), e.row.code

    made = await run_in_threadpool(make)
    if made is None:
        return _not_found(gettext(context["lang"], "This badge link does not exist."))
    data, code = made
    return Response(
        data,
        media_type="image/png",
        headers={
            "Content-Disposition": f'attachment; filename="{code}-{uid[:8]}.png"',
            "Cache-Control": "private, max-age=60",
        },
    )


async def award_certificate(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang = context["lang"]
    uid = request.path_params["uid"][:40]

    def make() -> bytes | None:
        with st.db.session() as s:
            e = earned(s, uid, lang)
        if e is None or e.award.revoked_at is not None:
            return None
        art = medallion_png(
            st.settings.data_dir,
            e.definition.localized(lang)[0],
            e.definition.icon,
            e.award.level,
            512,
        )
        day = formatting.day(e.award.earned_at, lang, e.program.timezone)
        text = CertificateText(
            heading=gettext(lang, "Certificate of achievement"),
            presented=gettext(lang, "presented to"),
            person=e.display_name,
            company=e.company,
            achievement=e.title(lang),
            detail=criteria_text(e.definition, lang, e.program.currency),
            program=e.program.name,
            date_line=gettext(lang, "Earned on %(date)s", date=day),
            verify_line=gettext(lang, "Verify: %(url)s", url=_urls(st).earned(uid)),
        )
        return certificate_pdf(text, art)

    data = await run_in_threadpool(make)
    if data is None:
        return _not_found(gettext(lang, "This badge link does not exist."))
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="certificate-{uid[:8]}.pdf"'},
    )


def _ordinal(place: int, lang: str) -> str:
    if lang == "id":
        return gettext(lang, "#%(place)s", place=place)
    suffix = "th" if 10 <= place % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(place % 10, "th")
    return f"{place}{suffix}"


async def placement_certificate(request: Request) -> Response:
    """A certificate for a place on the everyone board of a closed period (points by default;
    ``?metric=units`` or ``revenue`` for another board)."""
    st = state_of(request)
    context = await base_context(request)
    lang = context["lang"]
    program_code = request.path_params["program"][:40]
    period_key = request.path_params["period"][:16]
    code = request.path_params["code"][:40]
    metric_text = request.query_params.get("metric", "points")

    def make() -> tuple[int, bytes | str]:
        if metric_text not in ("points", "units", "revenue"):
            return 400, gettext(lang, "The board must be points, units or revenue.")
        with st.db.session() as s:
            program = s.execute(
                sa.select(Program).where(col(Program.code) == program_code)
            ).scalar_one_or_none()
            found = participant_of(s, code)
            if program is None or found is None:
                return 404, gettext(lang, "No such program or participant.")
            rules = rules_of(program)
            try:
                period = parse_period_key(period_key, rules.cadence, rules.zone)
            except ValueError as exc:
                return 400, str(exc)
            if st.clock() < period.end:
                return 409, gettext(
                    lang, "This period has not closed yet; its places are not final."
                )
            kind, pid, name, anonymous = found
            audience = BoardAudience.REPS if kind == Audience.REP else BoardAudience.PARTNERS
            spec = BoardSpec(audience, Scope(ScopeKind.EVERYONE), Metric(metric_text), period.key)
            standings = final_standings(load_rows(s, program, spec))
            mine = next((st_ for st_ in standings if st_.participant_id == pid), None)
            if mine is None or mine.value <= 0:
                return 404, gettext(
                    lang, "This participant has no place on that board in that period."
                )
            company = ""
            if kind == Audience.REP:
                rep = s.get(Rep, pid)
                partner = s.get(Partner, rep.partner_id) if rep else None
                company = (
                    gettext(lang, "Anonymous")
                    if partner is None or partner.anonymous
                    else partner.name
                )
        text = CertificateText(
            heading=gettext(lang, "Certificate of placement"),
            presented=gettext(lang, "presented to"),
            person=gettext(lang, "Anonymous") if anonymous else name,
            company=company,
            achievement=gettext(
                lang,
                "%(place)s place of %(count)s · %(metric)s",
                place=_ordinal(mine.rank, lang),
                count=len(standings),
                metric=gettext(lang, METRIC_NAMES[metric_text]),
            ),
            detail=gettext(
                lang, "Period %(period)s, everyone's board; ties share a place.", period=period.key
            ),
            program=program.name,
            date_line=formatting.day(period.last_day, lang),
            verify_line=gettext(lang, "Verify: %(url)s", url=f"{_urls(st).base}/boards/history"),
        )
        return 200, certificate_pdf(text, None)

    status, body = await run_in_threadpool(make)
    if isinstance(body, str):
        return PlainTextResponse(body, status_code=status)
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="placement-{period_key}-{code}.pdf"'},
    )


# --- Open Badges documents and artwork ------------------------------------------------------------


async def assertion_json(request: Request) -> Response:
    st = state_of(request)
    uid = request.path_params["uid"][:40]

    def load() -> Earned | None:
        with st.db.session() as s:
            return earned(s, uid)

    e = await run_in_threadpool(load)
    if e is None:
        return JSONResponse({"error": "no assertion has this id"}, status_code=404)
    if e.award.revoked_at is not None:
        return _ld_json(request, revoked_assertion(_urls(st), e.award), status=410)
    return _ld_json(request, assertion(_urls(st), e))


async def badge_class_json(request: Request) -> Response:
    st = state_of(request)
    program_code, code = request.path_params["program"][:40], request.path_params["badge"][:40]
    level = level_of_slug(request.path_params["level"][:16])

    def load() -> dict[str, Any] | None:
        with st.db.session() as s:
            found = find_definition(s, program_code, code)
        if found is None:
            return None
        program, row = found
        d = definition_of(row)
        if level not in {lv.name for lv in d.steps}:
            return None
        return badge_class(_urls(st), program, d, level, criteria_text(d, "en", program.currency))

    body = await run_in_threadpool(load)
    if body is None:
        return JSONResponse({"error": "no badge class has this id"}, status_code=404)
    return _ld_json(request, body)


async def issuer_json(request: Request) -> Response:
    st = state_of(request)
    program_code = request.path_params["program"][:40]

    def load() -> Program | None:
        with st.db.session() as s:
            return s.execute(
                sa.select(Program).where(col(Program.code) == program_code)
            ).scalar_one_or_none()

    program = await run_in_threadpool(load)
    if program is None:
        return JSONResponse({"error": "no issuer has this id"}, status_code=404)
    return _ld_json(request, issuer_profile(_urls(st), program, _issuer_email(st)))


async def artwork(request: Request) -> Response:
    st = state_of(request)
    program_code, code = request.path_params["program"][:40], request.path_params["badge"][:40]
    level = level_of_slug(request.path_params["level"][:16])
    size = request.path_params["size"]

    def load() -> bytes | None:
        if size not in (512, 128):
            return None
        with st.db.session() as s:
            found = find_definition(s, program_code, code)
        if found is None:
            return None
        d = definition_of(found[1])
        if level not in {lv.name for lv in d.steps}:
            return None
        return medallion_png(st.settings.data_dir, d.name, d.icon, level, size)

    data = await run_in_threadpool(load)
    if data is None:
        return PlainTextResponse("No such badge image (sizes are 512 and 128).", status_code=404)
    return Response(data, media_type="image/png", headers={"Cache-Control": ART_CACHE})


# --- admin: define, preview, revoke, close a period ------------------------------------------------


async def _admin(request: Request) -> tuple[dict[str, Any], Response | None]:
    context = await base_context(request)
    login: Login | None = context["login"]
    if login is None:
        return context, RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if login.user.role != Role.PROGRAM_ADMIN:
        refusal = gettext(context["lang"], "Only program admins can define badges.")
        return context, PlainTextResponse(refusal, status_code=403)
    return context, None


def definition_from_form(form: Any) -> dict[str, Any]:
    """The admin form as definition data (``BadgeDefinition.from_data`` validates it)."""

    def number(name: str, default: int = 0) -> int:
        raw = str(form.get(name, "") or "").strip().replace(".", "").replace(",", "")
        if not raw:
            return default
        if not raw.lstrip("-").isdigit():
            raise ValueError(f"{name.replace('_', ' ')} must be a whole number")
        return int(raw)

    levels: list[dict[str, Any]] = [
        {"name": lv, "threshold": number(f"level_{lv}")}
        for lv in LEVELS
        if str(form.get(f"level_{lv}", "") or "").strip()
    ]
    kind = str(form.get("kind", "threshold"))
    measure = str(form.get("measure", "units"))
    scale = (
        100 if measure == "revenue" and kind == Kind.THRESHOLD else 1
    )  # revenue typed in whole money
    for lv in levels:
        lv["threshold"] *= scale
    translations = {}
    if str(form.get("name_id", "")).strip():
        translations["id"] = {
            "name": str(form.get("name_id", "")).strip(),
            "description": str(form.get("description_id", "")).strip(),
        }
    return {
        "code": str(form.get("code", "")).strip().lower(),
        "name": str(form.get("name", "")).strip(),
        "description": str(form.get("description", "")).strip(),
        "audience": str(form.get("audience", "rep")),
        "repeat": str(form.get("repeat", "once")),
        "secret": form.get("secret") in ("on", "1", "true"),
        "icon": str(form.get("icon", "star")),
        "levels": levels,
        "criterion": {
            "kind": kind,
            "threshold": number("threshold", 1) * scale,
            "event_type": str(form.get("event_type", "sale")),
            "measure": measure,
            "window": str(form.get("window", "all")),
            "minimum": number("minimum", 1),
            "board_metric": str(form.get("board_metric", "points")),
            "board_scope": str(form.get("board_scope", "everyone")),
        },
        "translations": translations,
    }


def _admin_context(st: AppState, lang: str) -> dict[str, Any]:
    with st.db.session() as s:
        program = current_program(s)
        rows = definitions(s, program, active_only=False) if program else []
    badges = [(row, definition_of(row)) for row in rows]
    return {
        "program": program,
        "badges": badges,
        "icons": ICONS,
        "kinds": [k.value for k in Kind],
        "criteria_of": lambda d: criteria_text(d, lang, program.currency if program else "IDR"),
    }


async def admin_page(request: Request) -> Response:
    context, refused = await _admin(request)
    if refused is not None:
        return refused
    st = state_of(request)
    context.update(await run_in_threadpool(_admin_context, st, context["lang"]))
    context["saved"] = request.query_params.get("saved", "")[:40]
    context["form"] = {}
    return render(request, "badge_admin.html", context)


def _preview(data: dict[str, Any], lang: str, currency: str) -> dict[str, Any]:
    d = BadgeDefinition.from_data(data)
    images = []
    for level in d.steps:
        png = png_bytes(draw_medallion(d.localized(lang)[0], d.icon, level.name, 128))
        images.append(
            (
                level_label(level.name, lang),
                "data:image/png;base64," + base64.b64encode(png).decode(),
            )
        )
    return {
        "preview": d,
        "preview_images": images,
        "preview_criteria": criteria_text(d, lang, currency),
    }


async def admin_preview(request: Request) -> Response:
    context, refused = await _admin(request)
    if refused is not None:
        return refused
    st = state_of(request)
    lang = context["lang"]
    form = await request.form()
    try:
        data = definition_from_form(form)
        context.update(await run_in_threadpool(_preview, data, lang, "IDR"))
        status = 200
    except ValueError as exc:
        context["error"] = str(exc)
        status = 400
    context.update(await run_in_threadpool(_admin_context, st, lang))
    context["form"] = dict(form)
    return render(request, "badge_admin.html", context, block="preview", status_code=status)


async def admin_save(request: Request) -> Response:
    context, refused = await _admin(request)
    if refused is not None:
        return refused
    st = state_of(request)
    lang = context["lang"]
    form = await request.form()

    def save() -> str:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            raise ValueError("there is no program yet")
        row = save_definition(st.db, program, definition_from_form(form), st.clock())
        return row.code

    try:
        code = await run_in_threadpool(save)
    except ValueError as exc:
        context.update(await run_in_threadpool(_admin_context, st, lang))
        context["error"] = str(exc)
        context["form"] = dict(form)
        return render(request, "badge_admin.html", context, status_code=400)
    return RedirectResponse(f"/admin/badges?saved={code}", status_code=303)


async def admin_revoke(request: Request) -> Response:
    context, refused = await _admin(request)
    if refused is not None:
        return refused
    st = state_of(request)
    form = await request.form()
    uid = str(form.get("uid", "")).strip().rsplit("/", 1)[-1][:40]
    reason = str(form.get("reason", ""))[:200]
    try:
        await run_in_threadpool(revoke_award, st.db, uid, reason, st.clock())
    except ValueError:
        lang = context["lang"]
        context.update(await run_in_threadpool(_admin_context, st, lang))
        context["error"] = gettext(lang, "No award has this id; paste the badge link or its id.")
        context["form"] = {}
        return render(request, "badge_admin.html", context, status_code=400)
    return RedirectResponse("/admin/badges?saved=revoked", status_code=303)


async def admin_close_period(request: Request) -> Response:
    """Award a closed period's top-N badges now (the scheduled period close will call the
    same function; running it again awards nothing twice)."""
    context, refused = await _admin(request)
    if refused is not None:
        return refused
    st = state_of(request)
    lang = context["lang"]
    form = await request.form()
    period_key = str(form.get("period", "")).strip()[:16]

    def close() -> int:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            raise ValueError("there is no program yet")
        return evaluate_period_close(st.db, program, period_key, st.clock())

    try:
        await run_in_threadpool(close)
    except ValueError as exc:
        context.update(await run_in_threadpool(_admin_context, st, lang))
        context["error"] = str(exc)
        context["form"] = {}
        return render(request, "badge_admin.html", context, status_code=400)
    return RedirectResponse(f"/admin/badges?saved=closed-{period_key}", status_code=303)


routes = [
    Route("/badges", gallery_page, methods=["GET"]),
    Route("/badges/mine", my_badges, methods=["GET"]),
    Route("/badges/showcase/{code}", showcase, methods=["GET"]),
    Route("/badges/earned/{uid}", earned_page, methods=["GET"]),
    Route("/badges/earned/{uid}/card.png", share_card, methods=["GET"]),
    Route("/badges/earned/{uid}/baked.png", baked_png, methods=["GET"]),
    Route("/badges/earned/{uid}/certificate.pdf", award_certificate, methods=["GET"]),
    Route(
        "/badges/placements/{program}/{period}/{code}/certificate.pdf",
        placement_certificate,
        methods=["GET"],
    ),
    Route("/badges/assertions/{uid}", assertion_json, methods=["GET"]),
    Route("/badges/classes/{program}/{badge}/{level}", badge_class_json, methods=["GET"]),
    Route("/badges/issuers/{program}", issuer_json, methods=["GET"]),
    Route("/badges/art/{program}/{badge}/{level}/{size:int}.png", artwork, methods=["GET"]),
    Route("/admin/badges", admin_page, methods=["GET"]),
    Route("/admin/badges", admin_save, methods=["POST"]),
    Route("/admin/badges/preview", admin_preview, methods=["POST"]),
    Route("/admin/badges/revoke", admin_revoke, methods=["POST"]),
    Route("/admin/badges/close-period", admin_close_period, methods=["POST"]),
]
