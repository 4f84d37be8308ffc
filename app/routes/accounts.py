"""Account pages: forgotten passwords, invitations and their acceptance, a partner admin's team,
the program admin's partner enrollment.

Plain forms and redirects (POST, then 303 to a GET), so everything works without JavaScript.
Every email is queued in the transaction of the action that causes it; the outbox sender is
woken once that transaction has committed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import (
    RESET_LIFETIME,
    Login,
    PasswordRejected,
    ResetLinkGone,
    ResetRequestLimiter,
    Role,
    open_reset_link,
    reset_password,
    send_reset_link,
    start_session,
)
from app.context import SESSION_COOKIE, login_of, render, state_of
from app.enrollment import (
    INVITATION_LIFETIME,
    Acceptance,
    EnrollmentError,
    EnrollmentRefused,
    InvitationGone,
    PartnerInvite,
    RepInvite,
    accept_invitation,
    import_invitations,
    invitations_for,
    invite_partner_admin,
    invite_rep,
    open_invitation,
    resend_invitation,
    revoke_invitation,
    team_of,
)
from app.i18n import gettext
from app.imports import decode_upload
from app.models import League, Partner, Region
from app.programs import current_program
from app.routes.pages import base_context
from app.security import csrf_token_for

MAX_FIELD_BYTES = 16 * 1024
PARTNER_FIELDS = (
    "partner_code",
    "partner_name",
    "city",
    "region",
    "league",
    "admin_name",
    "admin_email",
    "language",
)
LANGUAGES = {"en": "English", "id": "Bahasa Indonesia"}  # each in its own language


def _wake_outbox(request: Request) -> None:
    sender = getattr(request.app.state, "outbox", None)
    if sender is not None:
        sender.wake()


def _reset_limiter(request: Request) -> ResetRequestLimiter:
    limiter: ResetRequestLimiter | None = getattr(request.app.state, "reset_limiter", None)
    if limiter is None:  # an app built without web.create_app's wiring (keeps this usable)
        limiter = request.app.state.reset_limiter = ResetRequestLimiter()
    return limiter


async def _small_form(request: Request) -> FormData | Response:
    try:
        return await request.form(max_files=0, max_fields=20, max_part_size=MAX_FIELD_BYTES)
    except HTTPException:
        return PlainTextResponse("The form could not be read. Reload and try again.", 400)


def _text(form: FormData, name: str, limit: int = 300) -> str:
    return str(form.get(name, ""))[:limit]


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=14 * 24 * 3600,
    )


async def _anonymous_context(request: Request) -> dict[str, Any]:
    """A page with a form that anyone may send: it carries its own CSRF token."""
    context = await base_context(request)
    context["csrf_token"] = await csrf_token_for(request)
    return context


# --- Forgotten password ---


async def forgot_page(request: Request) -> Response:
    context = await _anonymous_context(request)
    context.update({"email": "", "sent": False, "minutes": _reset_minutes()})
    return render(request, "password_forgot.html", context)


def _reset_minutes() -> int:
    return int(RESET_LIFETIME.total_seconds() // 60)


async def forgot_submit(request: Request) -> Response:
    st = state_of(request)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    email = _text(form, "email", 254).strip()
    context = await _anonymous_context(request)
    lang: str = context["lang"]
    context.update({"email": email, "sent": False, "minutes": _reset_minutes()})
    if not email:
        context["error"] = gettext(lang, "Type the email address of your account.")
        return render(request, "password_forgot.html", context, status_code=400)
    address = request.client.host if request.client else "unknown"
    wait = _reset_limiter(request).wait_seconds(email, address)
    if wait:
        context["error"] = gettext(
            lang,
            "Too many requests for a reset link. Wait %(seconds)s seconds and try again.",
            seconds=wait,
        )
        response = render(request, "password_forgot.html", context, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response

    def send() -> bool:
        with st.db.write() as s:
            return send_reset_link(s, email, lang, st.settings.base_url, st.clock())

    if await run_in_threadpool(send):
        _wake_outbox(request)
    # The same page whether or not the email has an account: it reveals nothing.
    context["sent"] = True
    return render(request, "password_forgot.html", context)


def _token(request: Request) -> str:
    return str(request.path_params["token"])[:200]


async def reset_page(request: Request) -> Response:
    st = state_of(request)
    token = _token(request)
    context = await _anonymous_context(request)

    def check() -> None:
        with st.db.session() as s:
            if open_reset_link(s, token, st.clock()) is None:
                raise LookupError

    try:
        await run_in_threadpool(check)
    except LookupError:
        return _unknown_link(context)
    except ResetLinkGone as exc:
        context["gone"] = exc.text(context["lang"])
        return render(request, "password_reset.html", context, status_code=410)
    context["token"] = token
    return render(request, "password_reset.html", context)


def _unknown_link(context: dict[str, Any]) -> Response:
    # The same answer for a mistyped token as for one that never existed.
    return PlainTextResponse(
        gettext(context["lang"], "This link is not valid. Check that it was copied whole."),
        status_code=404,
    )


async def reset_submit(request: Request) -> Response:
    st = state_of(request)
    token = _token(request)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    password = _text(form, "password", 1024)
    confirm = _text(form, "confirm", 1024)
    context = await _anonymous_context(request)

    def run() -> bool:
        with st.db.write() as s:
            return reset_password(s, token, password, confirm, st.clock()) is not None

    try:
        done = await run_in_threadpool(run)
    except ResetLinkGone as exc:
        context["gone"] = exc.text(context["lang"])
        return render(request, "password_reset.html", context, status_code=410)
    except PasswordRejected as exc:
        context.update({"token": token, "error": exc.text(context["lang"])})
        return render(request, "password_reset.html", context, status_code=400)
    if not done:
        return _unknown_link(context)
    response = RedirectResponse("/login?reset=done", status_code=303)
    response.delete_cookie(SESSION_COOKIE)  # it was ended with every other session
    return response


# --- Accepting an invitation ---


async def invite_page(request: Request) -> Response:
    st = state_of(request)
    token = _token(request)
    context = await _anonymous_context(request)

    def load() -> dict[str, Any] | None:
        with st.db.session() as s:
            invitation = open_invitation(s, token, st.clock())
            if invitation is None:
                return None
            return {"invitation": invitation, "partner": s.get(Partner, invitation.partner_id)}

    try:
        found = await run_in_threadpool(load)
    except InvitationGone as exc:
        context["gone"] = exc.text(context["lang"])
        return render(request, "invite_accept.html", context, status_code=410)
    if found is None:
        return _unknown_link(context)
    context.update(found)
    context.update({"token": token, "name": found["invitation"].name, "accepted_rules": False})
    return render(request, "invite_accept.html", context)


async def invite_submit(request: Request) -> Response:
    st = state_of(request)
    token = _token(request)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    acceptance = Acceptance(
        name=_text(form, "name", 200),
        password=_text(form, "password", 1024),
        confirm=_text(form, "confirm", 1024),
        accepted_rules=form.get("accept_rules") == "yes",
    )
    context = await _anonymous_context(request)
    now = st.clock()

    def run() -> tuple[str, str] | None:
        with st.db.write() as s:
            user = accept_invitation(s, token, acceptance, now)
            if user is None:
                return None
            return start_session(s, user, now), user.role

    try:
        accepted = await run_in_threadpool(run)
    except InvitationGone as exc:
        context["gone"] = exc.text(context["lang"])
        return render(request, "invite_accept.html", context, status_code=410)
    except (EnrollmentError, PasswordRejected) as exc:

        def load() -> dict[str, Any]:
            with st.db.session() as s:
                invitation = open_invitation(s, token, now)
                assert invitation is not None
                return {"invitation": invitation, "partner": s.get(Partner, invitation.partner_id)}

        context.update(await run_in_threadpool(load))
        context.update(
            {
                "token": token,
                "name": acceptance.name,
                "accepted_rules": acceptance.accepted_rules,
                "error": exc.text(context["lang"]),
            }
        )
        return render(request, "invite_accept.html", context, status_code=400)
    if accepted is None:
        return _unknown_link(context)
    cookie, role = accepted
    response = RedirectResponse("/team" if role == Role.PARTNER_ADMIN else "/", status_code=303)
    _set_session_cookie(request, response, cookie)
    return response


# --- A partner admin's team ---


async def _login_with_role(request: Request, role: Role) -> Login | Response:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if login.user.role != role:
        lang = (await base_context(request))["lang"]
        message = (
            gettext(lang, "Only program admins enrol partners.")
            if role == Role.PROGRAM_ADMIN
            else gettext(lang, "Only a partner's admin manages its team.")
        )
        return PlainTextResponse(message, status_code=403)
    return login


def _formatters(context: dict[str, Any], zone: str) -> None:
    lang = context["lang"]
    context["fmt_moment"] = lambda d: formatting.moment(d, zone, lang)


async def _team_context(request: Request, login: Login) -> dict[str, Any]:
    st = state_of(request)
    context = await base_context(request)
    partner_id = login.user.partner_id
    now = st.clock()

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            partner = s.get(Partner, partner_id) if partner_id is not None else None
            return {
                "program": program,
                "partner": partner,
                "reps": team_of(s, partner_id) if partner_id is not None else [],
                "invitations": [
                    row
                    for row in (invitations_for(s, now, partner_id) if partner_id else [])
                    if row.invitation.role == Role.REP
                ],
            }

    context.update(await run_in_threadpool(load))
    program = context["program"]
    _formatters(context, program.timezone if program else "UTC")
    context.update(
        {
            "languages": LANGUAGES,
            "values": {"language": context["lang"]},
            "done": request.query_params.get("done", "")[:40],
            "days": INVITATION_LIFETIME.days,
        }
    )
    return context


async def team_page(request: Request) -> Response:
    login = await _login_with_role(request, Role.PARTNER_ADMIN)
    if isinstance(login, Response):
        return login
    return render(request, "team.html", await _team_context(request, login))


async def team_invite(request: Request) -> Response:
    login = await _login_with_role(request, Role.PARTNER_ADMIN)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    values = {name: _text(form, name) for name in ("name", "email", "language", "partner_id")}
    context = await base_context(request)
    lang: str = context["lang"]
    try:
        # The form names its partner; the service refuses any but the admin's own.
        partner_id = int(values["partner_id"])
    except ValueError:
        partner_id = -1

    def run() -> None:
        with st.db.write() as s:
            invite_rep(
                s,
                login.user,
                partner_id,
                RepInvite(values["name"], values["email"], values["language"]),
                st.clock(),
                st.settings.base_url,
                lang,
            )

    try:
        await run_in_threadpool(run)
    except EnrollmentError as exc:
        context = await _team_context(request, login)
        context.update({"values": values, "error": exc.text(lang)})
        status = 403 if isinstance(exc, EnrollmentRefused) else 400
        return render(request, "team.html", context, status_code=status)
    _wake_outbox(request)
    return RedirectResponse("/team?done=invited", status_code=303)


# --- The program admin's partner enrollment ---


async def _partners_context(request: Request) -> dict[str, Any]:
    st = state_of(request)
    context = await base_context(request)
    now = st.clock()

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            return {
                "program": program,
                "regions": _choices(s, Region),
                "leagues": _choices(s, League),
                "invitations": invitations_for(s, now),
                "partners": s.execute(sa.select(sa.func.count()).select_from(Partner)).scalar_one(),
            }

    context.update(await run_in_threadpool(load))
    program = context["program"]
    _formatters(context, program.timezone if program else "UTC")
    context.update(
        {
            "languages": LANGUAGES,
            "values": {"language": context["lang"]},
            "done": request.query_params.get("done", "")[:40],
            "days": INVITATION_LIFETIME.days,
            "columns": ",".join(PARTNER_FIELDS[:-1]),
        }
    )
    return context


def _choices(s: Session, table: type[Region] | type[League]) -> list[tuple[str, str]]:
    return [
        (code, name)
        for code, name in s.execute(
            sa.select(col(table.code), col(table.name)).order_by(col(table.name))
        )
    ]


async def partners_page(request: Request) -> Response:
    login = await _login_with_role(request, Role.PROGRAM_ADMIN)
    if isinstance(login, Response):
        return login
    return render(request, "admin_partners.html", await _partners_context(request))


async def partners_invite(request: Request) -> Response:
    login = await _login_with_role(request, Role.PROGRAM_ADMIN)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    form = await _small_form(request)
    if isinstance(form, Response):
        return form
    values = {name: _text(form, name) for name in PARTNER_FIELDS}
    lang = (await base_context(request))["lang"]

    def run() -> None:
        with st.db.write() as s:
            invite_partner_admin(
                s, login.user, PartnerInvite(**values), st.clock(), st.settings.base_url, lang
            )

    try:
        await run_in_threadpool(run)
    except EnrollmentError as exc:
        context = await _partners_context(request)
        context.update({"values": values, "error": exc.text(lang)})
        return render(request, "admin_partners.html", context, status_code=400)
    _wake_outbox(request)
    return RedirectResponse("/admin/partners?done=invited", status_code=303)


async def partners_import(request: Request) -> Response:
    login = await _login_with_role(request, Role.PROGRAM_ADMIN)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    context = await _partners_context(request)
    lang: str = context["lang"]
    try:
        form = await request.form(
            max_files=1, max_fields=5, max_part_size=st.settings.max_upload_bytes
        )
    except HTTPException:
        return PlainTextResponse("The form could not be read. Reload and try again.", 400)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        await form.close()
        context["import_error"] = gettext(lang, "Choose a CSV file to upload.")
        return render(
            request, "admin_partners.html", context, block="import_result", status_code=400
        )
    data = await upload.read()
    filename = upload.filename
    await form.close()

    def run() -> Any:
        return import_invitations(
            st.db, login.user, decode_upload(data), st.clock(), st.settings.base_url, lang
        )

    try:
        report = await run_in_threadpool(run)
    except EnrollmentError as exc:
        context["import_error"] = exc.text(lang)
        return render(
            request, "admin_partners.html", context, block="import_result", status_code=400
        )
    except ValueError:  # not UTF-8 (app.imports.decode_upload)
        context["import_error"] = gettext(
            lang, "The file is not UTF-8 text. In Excel, save it as “CSV UTF-8”."
        )
        return render(
            request, "admin_partners.html", context, block="import_result", status_code=400
        )
    if report.invited:
        _wake_outbox(request)
    context = await _partners_context(request)  # the list now shows the new invitations
    context.update({"report": report, "filename": filename})
    return render(request, "admin_partners.html", context, block="import_result")


# --- Resending and revoking (program admins: any; partner admins: their reps') ---


async def change_invitation(request: Request) -> Response:
    login = await login_of(request)
    if login is None:
        return RedirectResponse("/login", status_code=303)
    st = state_of(request)
    invitation_id = int(request.path_params["invitation_id"])
    resending = request.url.path.endswith("/resend")
    lang = (await base_context(request))["lang"]

    def run() -> None:
        with st.db.write() as s:
            if resending:
                resend_invitation(s, login.user, invitation_id, st.clock(), st.settings.base_url)
            else:
                revoke_invitation(s, login.user, invitation_id, st.clock())

    back = "/admin/partners" if login.user.role == Role.PROGRAM_ADMIN else "/team"
    try:
        await run_in_threadpool(run)
    except EnrollmentError as exc:
        status = 403 if isinstance(exc, EnrollmentRefused) else 400
        if login.user.role == Role.PROGRAM_ADMIN:
            context = await _partners_context(request)
            template = "admin_partners.html"
        elif login.user.role == Role.PARTNER_ADMIN:
            context = await _team_context(request, login)
            template = "team.html"
        else:
            return PlainTextResponse(exc.text(lang), status_code=status)
        context["error"] = exc.text(lang)
        return render(request, template, context, status_code=status)
    if resending:
        _wake_outbox(request)
    done = "resent" if resending else "revoked"
    return RedirectResponse(f"{back}?done={done}", status_code=303)


routes = [
    Route("/password/forgot", forgot_page, methods=["GET"]),
    Route("/password/forgot", forgot_submit, methods=["POST"]),
    Route("/password/reset/{token}", reset_page, methods=["GET"]),
    Route("/password/reset/{token}", reset_submit, methods=["POST"]),
    Route("/invite/{token}", invite_page, methods=["GET"]),
    Route("/invite/{token}", invite_submit, methods=["POST"]),
    Route("/team", team_page, methods=["GET"]),
    Route("/team/invite", team_invite, methods=["POST"]),
    Route("/admin/partners", partners_page, methods=["GET"]),
    Route("/admin/partners/invite", partners_invite, methods=["POST"]),
    Route("/admin/partners/import", partners_import, methods=["POST"]),
    Route("/invitations/{invitation_id:int}/resend", change_invitation, methods=["POST"]),
    Route("/invitations/{invitation_id:int}/revoke", change_invitation, methods=["POST"]),
]
