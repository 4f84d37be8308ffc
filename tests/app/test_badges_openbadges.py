"""Open Badges 2.0: a baked PNG read back with Pillow, and the hosted Assertion, BadgeClass and
issuer Profile fetched from the running app and checked field by field against the spec."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import col

from app.badges import evaluate_new_entries, revoke_award, save_definition
from app.db import Database
from app.ingest import ingest_events
from app.models import BadgeAward, Program, Rep
from app.openbadges import CONTEXT, verify_recipient
from tests.app.conftest import NOW, client_for
from tests.factories import make_world, sale

pytestmark = pytest.mark.anyio
BASE = "http://testserver"  # PODIUM_BASE_URL: the documents' ids are this app's own URLs


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _earned(db: Database) -> tuple[str, str]:
    """An award of the silver level of a levelled badge to R00000: (uid, the rep's email)."""
    make_world(db)
    with db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
    save_definition(
        db,
        program,
        {
            "code": "unit-mover",
            "name": "Unit Mover",
            "description": "Units sold since the program started.",
            "levels": [{"name": "bronze", "threshold": 2}, {"name": "silver", "threshold": 4}],
            "criterion": {"kind": "threshold", "measure": "units"},
        },
        NOW,
    )
    ingest_events(db, program, "erp", [sale("s1", units=5)], NOW)
    evaluate_new_entries(db, program, NOW)
    with db.session() as s:
        uid = s.execute(
            sa.select(BadgeAward.uid).where(col(BadgeAward.level) == "silver")
        ).scalar_one()
        email = s.execute(sa.select(Rep.email).where(col(Rep.code) == "R00000")).scalar_one()
    return uid, email


async def _fetch(c: httpx.AsyncClient, url: str, status: int = 200) -> dict[str, Any]:
    """GET a document by its id, as a verifier would (the id must be this app's URL)."""
    assert url.startswith(BASE + "/"), url
    r = await c.get(urlsplit(url).path, headers={"Accept": "application/ld+json"})
    assert r.status_code == status, (url, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/ld+json")
    body: dict[str, Any] = json.loads(r.text)
    assert body["@context"] == CONTEXT
    return body


async def test_a_baked_badge_verifies_against_the_hosted_documents(
    sqlite_db: Database, tmp_path: Path
) -> None:
    uid, email = _earned(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path), PODIUM_BASE_URL=BASE) as c:
        baked = await c.get(f"/badges/earned/{uid}/baked.png")
        assert baked.status_code == 200 and baked.headers["content-type"] == "image/png"

        # The PNG carries exactly one iTXt "openbadges" chunk, uncompressed, with the Assertion.
        with Image.open(io.BytesIO(baked.content)) as img:
            assert img.format == "PNG" and img.size == (512, 512)
            img.load()
            baked_text = img.text["openbadges"]  # type: ignore[attr-defined]
        assert baked.content.count(b"iTXtopenbadges\x00\x00\x00") == 1  # keyword, compression 0
        in_png = json.loads(baked_text)
        assert in_png["id"] == f"{BASE}/badges/assertions/{uid}"

        # Hosted verification: the id is the source of truth.
        hosted = await _fetch(c, in_png["id"])
        assert hosted == in_png
        for field in ("id", "type", "recipient", "badge", "verification", "issuedOn"):
            assert field in hosted, field
        assert hosted["type"] == "Assertion"
        assert hosted["verification"] == {"type": "hosted"}
        assert hosted["issuedOn"].endswith("+00:00") and "T" in hosted["issuedOn"]
        recipient = hosted["recipient"]
        assert recipient["type"] == "email" and recipient["hashed"] is True
        assert recipient["identity"].startswith("sha256$") and len(recipient["identity"]) == 7 + 64
        assert email not in json.dumps(hosted)  # only the salted hash leaves the server
        assert verify_recipient(recipient, email)
        assert verify_recipient(recipient, email.upper())  # emails are case-insensitive
        assert not verify_recipient(recipient, "someone.else@example.com")
        assert not verify_recipient({**recipient, "salt": "other-salt"}, email)

        badge = await _fetch(c, hosted["badge"])
        assert badge["type"] == "BadgeClass" and badge["id"] == hosted["badge"]
        for field in ("id", "type", "name", "description", "image", "criteria", "issuer"):
            assert badge[field], field
        assert badge["name"] == "Unit Mover (Silver)"
        assert badge["criteria"]["narrative"].startswith("Reach 2 / 4 units")
        image = await c.get(urlsplit(badge["image"]).path)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(image.content)) as art:
            assert art.format == "PNG" and art.size[0] == art.size[1] >= 90  # square, legible

        issuer = await _fetch(c, badge["issuer"])
        assert issuer["type"] == "Issuer" and issuer["id"] == badge["issuer"]
        for field in ("id", "type", "name", "url", "email"):  # required of an issuer Profile
            assert issuer[field], field
        assert issuer["email"] == "badges@testserver"
        # The default verification rule: assertion and badge class on the issuer's origin.
        origin = urlsplit(issuer["id"]).netloc
        assert urlsplit(hosted["id"]).netloc == urlsplit(badge["id"]).netloc == origin

        # A client asking only for JSON gets application/json.
        plain = await c.get(f"/badges/assertions/{uid}", headers={"Accept": "application/json"})
        assert plain.headers["content-type"].startswith("application/json")


async def test_a_revoked_assertion_answers_410_revoked_and_its_downloads_stop(
    sqlite_db: Database, tmp_path: Path
) -> None:
    uid, _email = _earned(sqlite_db)
    revoke_award(sqlite_db, uid, "Awarded in error", NOW)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path), PODIUM_BASE_URL=BASE) as c:
        gone = await _fetch(c, f"{BASE}/badges/assertions/{uid}", status=410)
        assert gone == {
            "@context": CONTEXT,
            "type": "Assertion",
            "id": f"{BASE}/badges/assertions/{uid}",
            "revoked": True,
            "revocationReason": "Awarded in error",
        }
        page = await c.get(f"/badges/earned/{uid}")
        assert page.status_code == 410 and "This badge was revoked" in page.text
        assert (await c.get(f"/badges/earned/{uid}/baked.png")).status_code == 404
        assert (await c.get("/badges/assertions/not-an-award")).status_code == 404


async def test_an_award_certificate_is_a_pdf_with_the_name_and_badge(
    sqlite_db: Database, tmp_path: Path
) -> None:
    uid, _email = _earned(sqlite_db)
    with sqlite_db.session() as s:
        program = s.execute(sa.select(Program)).scalar_one()
    october = sale("o1", rep="R00001", occurred_at="2026-10-05T10:00:00+07:00")
    ingest_events(sqlite_db, program, "erp", [october], NOW)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path), PODIUM_BASE_URL=BASE) as c:
        pdf = await c.get(f"/badges/earned/{uid}/certificate.pdf")
        open_period = await c.get("/badges/placements/P1/2026-11/R00000/certificate.pdf")
        nowhere = await c.get("/badges/placements/P1/2026-10/R00000/certificate.pdf")
        placed = await c.get("/badges/placements/P1/2026-10/R00001/certificate.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"DejaVu" in pdf.content
    assert open_period.status_code == 409  # November has not closed
    assert nowhere.status_code == 404  # R00000 sold nothing in October
    assert placed.status_code == 200 and placed.content.startswith(b"%PDF-")
