"""My profile: language, hiding my (company's) name on public boards, changing my password.

Plain forms and redirects (POST, then 303 to a GET), so everything works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.accounts import SESSION_LIFETIME, Login
from app.context import SESSION_COOKIE, AppState, login_of, render, state_of
from app.i18n import N_, Refusal, gettext
from app.models import Program, User
from app.profiles import Preferences, preferences_of, replace_password, save_preferences
from app.programs import current_program
from app.routes.pages import base_context

MAX_FIELD_BYTES = 4096  # a password is long at 1 KiB; nothing here is bigger


async def _login_or_redirect(request: Request) -> Login | Response:
    login = await login_of(request)
    if login is None:
        return RedirectResponse("/login?next=/profile", status_code=303)
    return login


async def _context(request: Request, login: Login) -> dict[str, Any]:
    st = state_of(request)
    context = await base_context(request)

    def load() -> Preferences:
        with st.db.session() as s:
            user = s.get(User, login.user.id)
            assert user is not None
            return preferences_of(s, user)

    context["preferences"] = await run_in_threadpool(load)
    return context


async def profile_page(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    context = await _context(request, login)
    context["saved"] = request.query_params.get("saved", "")[:12]
    return render(request, "profile.html", context)


async def _form(request: Request) -> dict[str, str] | Response:
    try:
        async with request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD_BYTES) as form:
            return {k: str(v)[:1024] for k, v in form.items() if isinstance(v, str)}
    except HTTPException:
        lang = (await base_context(request))["lang"]
        return PlainTextResponse(
            gettext(lang, "The form could not be read. Reload the page and try again."), 400
        )


async def _refused(
    request: Request, login: Login, where: str, error: Refusal, status: int = 400
) -> Response:
    context = await _context(request, login)
    context["error"] = error.text(context["lang"])
    context["error_at"] = where
    return render(request, "profile.html", context, status_code=status)


async def profile_save(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    form = await _form(request)
    if isinstance(form, Response):
        return form
    st = state_of(request)
    wanted = Preferences(
        language=form.get("language", "").strip(),
        # Unticked checkboxes send nothing: "off" for whoever was shown the box.
        hide_me=form.get("hide_me") == "on",
        hide_company=form.get("hide_company") == "on",
    )
    assert login.user.id is not None
    user_id = login.user.id

    def save() -> bool:
        with st.db.write() as s:
            return save_preferences(s, user_id, wanted)

    try:
        renamed = await run_in_threadpool(save)
    except Refusal as exc:
        return await _refused(request, login, "settings", exc)
    if renamed:
        await _show_names_anew(st)
    return RedirectResponse("/profile?saved=settings", status_code=303)


async def _show_names_anew(st: AppState) -> None:
    """A name was hidden or shown again: pages kept by the page cache still show it the old
    way, and open live boards would until their next sale. Forget the pages and re-render
    every watched board now (each is pushed only if its rendering changed; with Redis, the
    other processes re-render theirs). On the event loop: the hub's feeds live there."""

    def program() -> Program | None:
        with st.db.session() as s:
            return current_program(s)

    st.pages.clear()
    found = await run_in_threadpool(program)
    if found is not None:
        st.live.boards_changed(found, st.live.watched())


async def password_change(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    form = await _form(request)
    if isinstance(form, Response):
        return form
    st = state_of(request)
    now = st.clock()
    address = request.client.host if request.client else "unknown"
    # Guessing the current password here is guessing a login: the same limits apply.
    wait = st.login_limiter.wait_seconds(login.user.email, address)
    if wait:
        too_many = Refusal(
            N_("Too many attempts. Wait %(seconds)s seconds and try again."), seconds=wait
        )
        response = await _refused(request, login, "password", too_many, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    assert login.user.id is not None
    user_id = login.user.id

    def change() -> str:
        with st.db.write() as s:
            return replace_password(
                s,
                user_id,
                form.get("current_password", ""),
                form.get("new_password", ""),
                form.get("confirm_password", ""),
                now,
            )

    try:
        token = await run_in_threadpool(change)
    except Refusal as exc:
        return await _refused(request, login, "password", exc)
    # Every session ended with the old password, this one too: the browser that changed it
    # gets a fresh session (and with it a fresh CSRF token on the next page).
    response = RedirectResponse("/profile?saved=password", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
    return response


routes = [
    Route("/profile", profile_page, methods=["GET"]),
    Route("/profile", profile_save, methods=["POST"]),
    Route("/profile/password", password_change, methods=["POST"]),
]
