"""Sales claim pages: a rep submits, a regional manager (or program admin) reviews.

Plain forms and redirects (POST, then 303 to a GET), so everything works without JavaScript.
Every sentence is in the reader's language (``app.i18n``); services raise English message ids.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login
from app.claims import (
    ClaimError,
    ClaimForm,
    ClaimRefused,
    Status,
    approve_claim,
    claims_of_rep,
    claims_to_review,
    may_review,
    may_see,
    reject_claim,
    submit_claim,
)
from app.context import login_of, render, state_of
from app.i18n import N_, gettext
from app.models import Claim, Product, Program
from app.photos import (
    MAX_PHOTO_BYTES,
    NOT_AN_IMAGE,
    TOO_BIG,
    PhotoError,
    photo_file,
    reencode_photo,
)
from app.programs import current_program
from app.routes.pages import base_context, language_of

FIELDS = ("invoice", "day", "sku", "units", "amount")
MAX_FIELD_BYTES = 16 * 1024  # the text fields are short; only the photo may be large
# The status badge beside a claim.
STATUS_LABEL = {
    Status.PENDING: N_("Pending approval"),
    Status.APPROVED: N_("Approved"),
    Status.REJECTED: N_("Rejected"),
}
# The notice after a decision (?done=approved-12).
DONE = {
    Status.APPROVED: N_("Claim #%(id)s approved: the sale is posted."),
    Status.REJECTED: N_("Claim #%(id)s rejected; the rep sees your reason."),
}


def photo_dir(request: Request) -> Any:
    return state_of(request).settings.data_dir / "claims"


async def _login_or_redirect(request: Request) -> Login | Response:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return login


async def _page_context(request: Request, login: Login) -> dict[str, Any]:
    st = state_of(request)
    context = await base_context(request)
    user = login.user

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            skus = list(
                s.execute(
                    sa.select(col(Product.sku)).order_by(col(Product.sku)).limit(500)
                ).scalars()
            )
            return {"program": program, "skus": skus, "mine": claims_of_rep(s, user)}

    context.update(await run_in_threadpool(load))
    _formatters(context)
    return context


def _formatters(context: dict[str, Any]) -> None:
    program: Program | None = context.get("program")
    lang = context["lang"]
    currency = program.currency if program else "IDR"
    zone = program.timezone if program else "UTC"
    context["fmt_money"] = lambda minor: formatting.money(minor, currency, lang)
    context["fmt_day"] = lambda d: formatting.day(d, lang, zone)
    context["fmt_moment"] = lambda d: formatting.moment(d, zone, lang)
    context["status_label"] = lambda status: gettext(lang, STATUS_LABEL[Status(status)])
    context["say_mentions"] = lambda mentions: ", ".join(m.text(lang) for m in mentions)


async def claims_page(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    if login.user.rep_id is None and may_review(login.user):
        return RedirectResponse("/claims/review", status_code=303)
    context = await _page_context(request, login)
    program: Program | None = context["program"]
    zone = ZoneInfo(program.timezone if program else "UTC")
    # Today in the program's zone: the date a rep most often claims.
    context["values"] = {"day": state_of(request).clock().astimezone(zone).date().isoformat()}
    sent = request.query_params.get("sent", "")[:12]
    context["sent"] = int(sent) if sent.isdigit() else None
    return render(request, "claims.html", context)


async def claims_submit(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    lang = language_of(request, login)
    values: dict[str, str] = {}
    error: str | None = None
    photo: bytes | None = None
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=MAX_FIELD_BYTES)
    except HTTPException:
        return PlainTextResponse(
            gettext(lang, "The form could not be read. Reload and try again."), 400
        )
    try:
        values = {name: str(form.get(name, ""))[:200] for name in FIELDS}
        upload = form.get("photo")
        if isinstance(upload, UploadFile) and upload.filename:
            # Refused before a single byte is decoded; the type is checked for real by Pillow.
            # app.photos words its refusals as constant English sentences: message ids.
            if upload.size is not None and upload.size > MAX_PHOTO_BYTES:
                error = gettext(lang, TOO_BIG)
            elif not (upload.content_type or "").startswith("image/"):
                error = gettext(lang, NOT_AN_IMAGE)
            else:
                data = await upload.read(MAX_PHOTO_BYTES + 1)
                try:
                    photo = await run_in_threadpool(reencode_photo, data)
                except PhotoError as exc:
                    error = gettext(lang, str(exc))
    finally:
        await form.close()

    claim: Claim | None = None
    status = 400
    if error is None:

        def submit() -> Claim:
            with st.db.session() as s:
                program = current_program(s)
            if program is None:
                raise ClaimError(N_("There is no program yet."))
            return submit_claim(
                st.db,
                program,
                login.user,
                ClaimForm(**values),
                st.clock(),
                photo=photo,
                photo_dir=photo_dir(request),
            )

        try:
            claim = await run_in_threadpool(submit)
        except ClaimRefused as exc:
            error, status = exc.text(lang), 403
        except ClaimError as exc:
            error = exc.text(lang)
    if claim is not None:
        return RedirectResponse(f"/claims?sent={claim.id}", status_code=303)
    context = await _page_context(request, login)
    context.update({"values": values, "error": error})
    return render(request, "claims.html", context, status_code=status)


async def review_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    if not may_review(login.user):
        return PlainTextResponse(
            gettext(
                language_of(request, login),
                "Only regional managers and program admins review claims.",
            ),
            status_code=403,
        )
    st = state_of(request)
    context = await base_context(request)
    user = login.user

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            rows = claims_to_review(s, program, user) if program else []
            return {"program": program, "pending": rows}

    context.update(await run_in_threadpool(load))
    _formatters(context)
    context["error"] = error
    context["done"] = _done_notice(request.query_params.get("done", "")[:40], context["lang"])
    return render(request, "claims_review.html", context, status_code=status)


def _done_notice(done: str, lang: str) -> str | None:
    """ "approved-12" (from the redirect after a decision) as a sentence, else nothing."""
    status, _, claim_id = done.partition("-")
    if status not in DONE or not claim_id.isdigit():
        return None
    return gettext(lang, DONE[Status(status)], id=int(claim_id))


def _claim_id(request: Request) -> int:
    return int(request.path_params["claim_id"])


async def decide(request: Request) -> Response:
    login = await _login_or_redirect(request)
    if isinstance(login, Response):
        return login
    st = state_of(request)
    lang = language_of(request, login)
    claim_id = _claim_id(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD_BYTES)
    reason = str(form.get("reason", ""))
    await form.close()
    approving = request.url.path.endswith("/approve")

    def run() -> Claim:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            raise ClaimError(N_("There is no program yet."))
        if approving:
            return approve_claim(st.db, program, claim_id, login.user, st.clock())
        return reject_claim(st.db, claim_id, login.user, reason, st.clock())

    try:
        claim = await run_in_threadpool(run)
    except ClaimRefused as exc:
        return await review_page(request, error=exc.text(lang), status=403)
    except ClaimError as exc:
        error = gettext(lang, "Claim #%(id)s: %(problem)s", id=claim_id, problem=exc.text(lang))
        return await review_page(request, error=error, status=400)
    return RedirectResponse(f"/claims/review?done={claim.status}-{claim.id}", status_code=303)


async def photo(request: Request) -> Response:
    login = await login_of(request)
    lang = language_of(request, login)
    if login is None:
        return PlainTextResponse(gettext(lang, "Log in to see claim photos."), status_code=401)
    st = state_of(request)
    claim_id = _claim_id(request)

    def find() -> str | None:
        with st.db.session() as s:
            claim = s.get(Claim, claim_id)
            if claim is None or not claim.photo_path or not may_see(s, claim, login.user):
                return None
            return claim.photo_path

    name = await run_in_threadpool(find)
    path = photo_file(photo_dir(request), name) if name else None
    if path is None:
        # The same answer for "no such photo" and "not yours": ids reveal nothing.
        return PlainTextResponse(gettext(lang, "No such photo."), status_code=404)
    return FileResponse(
        path,
        media_type="image/webp",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": "inline",
        },
    )


routes = [
    Route("/claims", claims_page, methods=["GET"]),
    Route("/claims", claims_submit, methods=["POST"]),
    Route("/claims/review", review_page, methods=["GET"]),
    Route("/claims/{claim_id:int}/approve", decide, methods=["POST"]),
    Route("/claims/{claim_id:int}/reject", decide, methods=["POST"]),
    Route("/claims/{claim_id:int}/photo", photo, methods=["GET"]),
]
