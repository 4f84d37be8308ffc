"""Hostile text typed into names, cities, regions and claims is shown escaped on every page
that shows it, to every role: never as markup, never as an htmx attribute, never evaluated as a
template."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from markupsafe import escape

from app.claims import reject_claim, submit_claim
from app.db import Database
from app.ingest import ingest_events
from app.models import Partner, Region, Rep, TvLink, User
from app.routes.boards import token_hash
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _form, _people, _program
from tests.app.test_pages import log_in
from tests.factories import sale

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    'hx-get="/admin"',
    '<div hx-on:click="alert(1)">',
    "</script><script>alert(1)</script>",
    "{{7*7}}",
]
ROLES = {
    "rep": "rep@example.com",
    "partner admin": "owner@example.com",
    "manager": "mgr@example.com",
    "admin": "admin@example.com",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _poison(db: Database, payload: str) -> str:
    """A world whose partner PT000 (name, city), rep R00000 (name, and its account's name),
    region JKT and claims (invoice, rejection reason) all carry ``payload``; returns the
    token of a TV link (labelled with it) to the JKT board."""
    users = _people(db)
    program = _program(db)
    ingest_events(
        db,
        program,
        "erp",
        [
            sale("now", units=5, rep="R00000"),
            sale("then", units=3, rep="R00000", occurred_at="2026-10-20T10:00:00+07:00"),
            sale("other", units=4, partner="PT001", rep="R00100"),
        ],
        NOW,
    )
    submit_claim(db, program, users["rep"], _form(invoice=payload), NOW)
    rejected = submit_claim(db, program, users["rep"], _form(invoice=payload, sku="AC-1PK"), NOW)
    reject_claim(db, rejected.id or 0, users["manager"], payload, NOW)
    token = secrets.token_urlsafe(32)
    with db.write() as s:
        partner = s.execute(sa.select(Partner).where(Partner.code == "PT000")).scalar_one()
        partner.name = partner.city = payload
        rep = s.execute(sa.select(Rep).where(Rep.code == "R00000")).scalar_one()
        rep.name = payload
        s.execute(sa.update(User).where(User.email == "rep@example.com").values(name=payload))
        s.execute(sa.update(Region).where(Region.code == "JKT").values(name=payload))
        s.add(
            TvLink(
                token_hash=token_hash(token),
                program_id=program.id,
                label=payload,
                audience="reps",
                scope="region:JKT",
                metric="points",
            )
        )
    return token


def _pages(token: str) -> list[str]:
    return [
        "/",
        "/?participant=PT000",
        "/boards",
        "/boards?audience=partners",
        "/boards?scope=region:JKT",
        "/boards/history",
        "/boards/history?audience=partners",
        "/participants/R00000",
        "/participants/PT000",
        "/claims",
        "/claims/review",
        f"/tv/{token}",
        "/profile",
        "/rules",
    ]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_hostile_text_is_shown_escaped_on_every_page_for_every_role(
    any_db: Database, payload: str
) -> None:
    token = _poison(any_db, payload)
    escaped = str(escape(payload))
    shown: dict[str, list[str]] = {}
    for role, email in ROLES.items():
        async with client_for(any_db) as c:
            await log_in(c, email)
            for path in _pages(token):
                page = await c.get(path)
                if page.status_code != 200:
                    continue  # refused to this role (test_access.py says which)
                text = page.text
                if escaped != payload:  # "{{7*7}}" has nothing to escape
                    assert payload not in text, (role, path)
                else:
                    # Never evaluated as a template: where it is shown it is shown verbatim.
                    assert not re.search(r">\s*49\s*<", text.replace(payload, "")), (role, path)
                if escaped in text:
                    shown.setdefault(path, []).append(role)
    # Every page did show it to someone: the test looked where the text really is.
    assert set(shown) == set(_pages(token)), set(_pages(token)) - set(shown)
    # The claim text reaches both sides of a claim.
    assert "rep" in shown["/claims"] and "manager" in shown["/claims/review"]


def test_no_template_turns_escaping_off() -> None:
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        assert not re.search(r"\|\s*safe\b", text), f"{template.name} uses |safe"
        assert not re.search(r"autoescape\s+false", text), template.name
        # The CSP (style-src 'self') drops inline styles: a width set this way silently vanishes.
        assert not re.search(r"\sstyle=", text), f"{template.name} uses an inline style"


def test_markup_only_wraps_constant_html() -> None:
    """``Markup(...)`` marks text as already safe: only a literal may be so marked; user text
    goes in through ``.format``/``%``, which escape it."""
    for module in sorted((ROOT / "app").rglob("*.py")):
        for match in re.finditer(r"Markup\(\s*(.)", module.read_text()):
            assert match.group(1) in "\"'", f"{module.relative_to(ROOT)}: Markup of a variable"
