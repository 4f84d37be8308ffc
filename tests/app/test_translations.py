"""Two languages for every page: every message id has its Indonesian text, and every page the
router serves, opened by every role in Indonesian, shows no English left over."""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.claims import submit_claim
from app.db import Database
from app.i18n import catalog, extract_message_ids
from app.ingest import ingest_events
from app.models import League, Partner, Product, Program, Region, Rep, TvLink, User
from app.routes.boards import token_hash
from game.boards import Audience, Metric, ScopeKind
from tests.app.conftest import client_for
from tests.app.test_access import ACCESS, EMAIL, OK, ROLES, _fill
from tests.app.test_claims import NOW, PASSWORD, _form, _people, _program
from tests.app.test_pages import csrf_of
from tests.factories import sale

pytestmark = pytest.mark.anyio
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")
TAG = re.compile(r"</?[a-z]+")
WORD = re.compile(r"[A-Za-z][a-z]{2,}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _translations() -> dict[str, str]:
    found = catalog("id")._catalog  # type: ignore[attr-defined]
    texts = {k: v for k, v in found.items() if isinstance(k, str) and k}
    # Plural entries are keyed (singular id, form); Indonesian has one form.
    texts.update({k[0]: v for k, v in found.items() if isinstance(k, tuple) and k[1] == 0})
    return texts


def test_every_message_id_has_an_indonesian_text_with_the_same_placeholders() -> None:
    used = extract_message_ids()
    assert len(used) > 100, "the extractor found the messages of templates and code"
    translated = _translations()
    missing = {m: where[0] for m, where in used.items() if not translated.get(m, "").strip()}
    assert not missing, f"{len(missing)} message ids have no Indonesian text: {missing}"
    for msgid in used:
        text = translated[msgid]
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(msgid)), msgid
        assert sorted(TAG.findall(text)) == sorted(TAG.findall(msgid)), msgid


class _Text(HTMLParser):
    """The words a reader sees or hears: text nodes and the attributes shown or read aloud."""

    SHOWN = {"title", "placeholder", "aria-label", "alt"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):
            self._skip += 1
        self.parts += [v for k, v in attrs if k in self.SHOWN and v]
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _english_only_words(data_words: set[str]) -> set[str]:
    """Words of the English message ids that no Indonesian text uses (so "target", "email",
    "Podium" don't count) and that are not names stored in the world."""
    translated = _translations()
    english = {
        w.lower() for m in extract_message_ids() for w in WORD.findall(PLACEHOLDER.sub(" ", m))
    }
    indonesian = {w.lower() for t in translated.values() for w in WORD.findall(t)}
    return english - indonesian - data_words


def _data_words(db: Database) -> set[str]:
    with db.session() as s:
        texts = [
            *s.execute(sa.select(Partner.name)).scalars(),
            *s.execute(sa.select(Partner.city)).scalars(),
            *s.execute(sa.select(Rep.name)).scalars(),
            *s.execute(sa.select(Region.name)).scalars(),
            *s.execute(sa.select(League.name)).scalars(),
            *s.execute(sa.select(Program.name)).scalars(),
            *s.execute(sa.select(Program.objective)).scalars(),
            *s.execute(sa.select(Product.name)).scalars(),
            *s.execute(sa.select(User.name)).scalars(),
            *s.execute(sa.select(User.email)).scalars(),
            *s.execute(sa.select(Rep.email)).scalars(),
        ]
        # Tier names are the program's own words, as its admin typed them.
        tiers = [
            t["name"] for p in s.execute(sa.select(Program.tiers)).scalars() for t in p["tiers"]
        ]
    codes = [m.value for m in Metric] + [a.value for a in Audience] + [k.value for k in ScopeKind]
    return {w.lower() for t in texts + tiers + codes if t for w in WORD.findall(t)}


async def test_every_page_in_indonesian_shows_no_english_to_any_role(
    sqlite_db: Database, tmp_path: Path
) -> None:
    users = _people(sqlite_db)
    program = _program(sqlite_db)
    ingest_events(
        sqlite_db,
        program,
        "erp",
        [sale(f"S{i}", units=i + 1, rep=f"R000{i % 2:02d}") for i in range(4)]
        + [sale("P1", partner="PT001", rep="R00100", occurred_at="2026-10-03T10:00:00+07:00")],
        NOW,
    )
    submit_claim(sqlite_db, program, users["rep"], _form(), NOW)
    tv_token = secrets.token_urlsafe(16)
    with sqlite_db.write() as s:
        s.execute(sa.update(User).values(language="id"))
        s.add(
            TvLink(
                token_hash=token_hash(tv_token),
                program_id=program.id,  # type: ignore[arg-type]
                label="Kantor Jakarta",
                audience="reps",
                scope="everyone",
                metric="points",
                created_at=NOW,
            )
        )
    english = _english_only_words(_data_words(sqlite_db))
    leftovers: dict[str, set[str]] = {}
    pages = 0
    for who in ROLES:
        async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
            c.headers["Accept-Language"] = "id-ID,id;q=0.9"  # a stranger gets it from the browser
            if who != "stranger":
                page = await c.get("/login")
                r = await c.post(
                    "/login",
                    data={"email": EMAIL[who], "password": PASSWORD, "csrf_token": csrf_of(page)},
                )
                assert r.status_code == 303, who
            paths = [_fill(path, 1) for (method, path) in ACCESS if method == "GET"]
            paths += [f"/tv/{tv_token}", "/boards?metric=nope", "/boards?metric=target_pct"]
            for path in paths:
                answer = await c.get(path)
                if "text/html" not in answer.headers.get("content-type", ""):
                    continue
                if answer.status_code not in (OK, 400, 404):
                    continue
                pages += 1
                parser = _Text()
                parser.feed(answer.text)
                seen = {w.lower() for part in parser.parts for w in WORD.findall(part)}
                if found := seen & english:
                    leftovers.setdefault(path, set()).update(found)
    assert pages > 30
    assert not leftovers, f"English words on Indonesian pages: {leftovers}"
