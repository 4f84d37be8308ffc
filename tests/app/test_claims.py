"""Sales claims: submit, four-eyes decisions, duplicates, audit log, invoice photos."""

from __future__ import annotations

import io
import sqlite3
import struct
import zlib
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import col

from app.accounts import Role, create_user
from app.claims import (
    ClaimError,
    ClaimForm,
    ClaimRefused,
    approve_claim,
    claims_to_review,
    reject_claim,
    submit_claim,
)
from app.db import Database
from app.ingest import ingest_events
from app.ledger import balance_of
from app.models import AuditEntry, Claim, Event, LedgerEntry, Partner, Program, Rep, User
from app.photos import PhotoError, reencode_photo
from app.programs import current_program
from app.routes.pages import display_name
from tests.app.conftest import NOW, client_for
from tests.app.test_pages import PASSWORD, csrf_of, log_in
from tests.factories import make_world, sale
from tests.raw import assert_postgres_refuses

HOSTILE = "<img src=x onerror=alert(1)>"


def _people(db: Database) -> dict[str, User]:
    """Reps and admin of PT000 (region JKT), managers of JKT and SBY, a program admin."""
    make_world(db)
    with db.write() as s:
        reps = {r.code: r for r in s.execute(sa.select(Rep)).scalars()}
        pt000 = s.execute(sa.select(Partner).where(col(Partner.code) == "PT000")).scalar_one()
        regions = {code: rid for code, rid in s.execute(sa.text("SELECT code, id FROM region"))}
        users = {
            "rep": create_user(
                s, "rep@example.com", "Budi", PASSWORD, Role.REP, pt000.id, reps["R00000"].id
            ),
            "colleague": create_user(
                s, "rep2@example.com", "Sari", PASSWORD, Role.REP, pt000.id, reps["R00001"].id
            ),
            "owner": create_user(
                s, "owner@example.com", "Pak Owner", PASSWORD, Role.PARTNER_ADMIN, pt000.id
            ),
            "manager": create_user(
                s,
                "mgr@example.com",
                "Maya Manager",
                PASSWORD,
                Role.REGIONAL_MANAGER,
                region_ids=(regions["JKT"],),
            ),
            "other_manager": create_user(
                s,
                "sby@example.com",
                "Joko Manager",
                PASSWORD,
                Role.REGIONAL_MANAGER,
                region_ids=(regions["SBY"],),
            ),
            "admin": create_user(s, "admin@example.com", "Ayu", PASSWORD, Role.PROGRAM_ADMIN),
        }
    return users


def _program(db: Database) -> Program:
    with db.session() as s:
        program = current_program(s)
    assert program is not None
    return program


def _form(invoice: str = "INV-0042", **changes: str) -> ClaimForm:
    values = {"invoice": invoice, "day": "2026-11-20", "sku": "TV-55", "units": "3"}
    values["amount"] = "24000000"
    values.update(changes)
    return ClaimForm(**values)


def _submit(db: Database, user: User, invoice: str = "INV-0042", **changes: str) -> Claim:
    return submit_claim(db, _program(db), user, _form(invoice, **changes), NOW)


def test_an_approved_claim_is_posted_through_ingestion_and_moves_the_balance(
    sqlite_db: Database,
) -> None:
    u = _people(sqlite_db)
    claim = _submit(sqlite_db, u["rep"])
    assert claim.status == "pending" and claim.line_key == "inv42|TV-55"
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 0

    approved = approve_claim(sqlite_db, _program(sqlite_db), claim.id or 0, u["manager"], NOW)

    assert approved.status == "approved" and approved.decided_by == u["manager"].id
    assert approved.event_external_id == f"claim-{claim.id}"
    with sqlite_db.session() as s:
        event = s.execute(sa.select(Event).where(col(Event.source) == "claims")).scalar_one()
        entry = s.execute(sa.select(LedgerEntry).where(col(LedgerEntry.event_id) == event.id)).one()
        assert event.external_id == f"claim-{claim.id}" and event.units == 3
        assert entry[0].points == 30  # 10 points per unit, the program's rule
        assert balance_of(s, rep_code="R00000") == 30


def test_submitting_refuses_future_dates_unknown_skus_and_out_of_bounds_numbers(
    sqlite_db: Database,
) -> None:
    u = _people(sqlite_db)
    cases = {
        "in the future": {"day": "2026-11-24"},
        "not in the product catalog": {"sku": "NOPE-1"},
        "Units must be at most 100,000": {"units": "100001"},
        "Units must be a whole number": {"units": "2.5"},
        "Amount must be a number": {"amount": "lots"},
        "more than 2 decimals": {"amount": "10.123"},
        "YYYY-MM-DD": {"day": "20/11/2026"},
        "before the program starts": {"day": "2025-12-01"},
    }
    for message, change in cases.items():
        with pytest.raises(ClaimError, match=message):
            _submit(sqlite_db, u["rep"], **change)
    with pytest.raises(ClaimRefused, match="Only sales reps"):
        _submit(sqlite_db, u["manager"])
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Claim)).scalar_one() == 0


def test_rejecting_needs_a_reason_which_the_claim_keeps(sqlite_db: Database) -> None:
    u = _people(sqlite_db)
    claim = _submit(sqlite_db, u["rep"])
    with pytest.raises(ClaimError, match="Say why"):
        reject_claim(sqlite_db, claim.id or 0, u["manager"], "   ", NOW)
    rejected = reject_claim(sqlite_db, claim.id or 0, u["manager"], "Invoice  is unreadable", NOW)
    assert rejected.status == "rejected" and rejected.reason == "Invoice is unreadable"


def test_nobody_decides_their_own_claim_or_one_from_their_company(sqlite_db: Database) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    claim_id = _submit(sqlite_db, u["rep"]).id or 0
    with pytest.raises(ClaimRefused, match="your own claim"):
        approve_claim(sqlite_db, program, claim_id, u["rep"], NOW)
    for same_partner in ("owner", "colleague"):
        with pytest.raises(ClaimRefused, match="your own company"):
            approve_claim(sqlite_db, program, claim_id, u[same_partner], NOW)
        with pytest.raises(ClaimRefused, match="your own company"):
            reject_claim(sqlite_db, claim_id, u[same_partner], "no", NOW)
    with sqlite_db.session() as s:
        assert s.get(Claim, claim_id).status == "pending"  # type: ignore[union-attr]
        assert s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one() == 0


def test_a_manager_of_another_region_cannot_see_or_decide_the_claim(sqlite_db: Database) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    claim_id = _submit(sqlite_db, u["rep"]).id or 0
    with sqlite_db.session() as s:
        assert claims_to_review(s, program, u["other_manager"]) == []
        assert [r.claim.id for r in claims_to_review(s, program, u["manager"])] == [claim_id]
        assert [r.claim.id for r in claims_to_review(s, program, u["admin"])] == [claim_id]
        assert claims_to_review(s, program, u["owner"]) == []
    with pytest.raises(ClaimRefused, match="region you do not manage"):
        approve_claim(sqlite_db, program, claim_id, u["other_manager"], NOW)
    with pytest.raises(ClaimRefused, match="region you do not manage"):
        reject_claim(sqlite_db, claim_id, u["other_manager"], "no", NOW)
    # A program admin may decide anywhere.
    assert approve_claim(sqlite_db, program, claim_id, u["admin"], NOW).status == "approved"


def test_the_same_invoice_line_written_differently_is_flagged_and_cannot_be_approved(
    sqlite_db: Database,
) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    erp = sale("erp-1", units=3, invoice="INV-0042", sku="TV-55")
    assert ingest_events(sqlite_db, program, "erp", [erp], NOW).accepted == 1
    claim_id = _submit(sqlite_db, u["rep"], invoice="inv 42").id or 0
    twin_id = _submit(sqlite_db, u["colleague"], invoice="Inv/00042").id or 0
    with sqlite_db.session() as s:
        flags = {r.claim.id: r.duplicates for r in claims_to_review(s, program, u["manager"])}
    assert flags[claim_id] == ["sale erp-1 from erp", f"claim #{twin_id} (pending)"]
    assert flags[twin_id] == ["sale erp-1 from erp", f"claim #{claim_id} (pending)"]
    with pytest.raises(ClaimError, match="already recorded as sale erp-1 from erp"):
        approve_claim(sqlite_db, program, claim_id, u["manager"], NOW)
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 30  # the ERP sale only, never twice


def test_a_claim_is_decided_once(sqlite_db: Database) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    claim_id = _submit(sqlite_db, u["rep"]).id or 0
    approve_claim(sqlite_db, program, claim_id, u["manager"], NOW)
    with pytest.raises(ClaimError, match="already approved"):
        approve_claim(sqlite_db, program, claim_id, u["admin"], NOW)
    with pytest.raises(ClaimError, match="already approved"):
        reject_claim(sqlite_db, claim_id, u["admin"], "changed my mind", NOW)
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 30


def _audited(db: Database) -> list[tuple[str, str, int | None]]:
    with db.session() as s:
        rows = s.execute(sa.select(AuditEntry).order_by(col(AuditEntry.id))).scalars()
        return [(a.action, a.subject, a.actor_user_id) for a in rows]


def _decide_two(db: Database) -> dict[str, User]:
    u = _people(db)
    program = _program(db)
    first = _submit(db, u["rep"]).id or 0
    second = _submit(db, u["rep"], invoice="INV-7").id or 0
    approve_claim(db, program, first, u["manager"], NOW)
    reject_claim(db, second, u["admin"], "No such invoice", NOW)
    return u


def test_every_submission_and_decision_is_audited(sqlite_db: Database) -> None:
    u = _decide_two(sqlite_db)
    assert _audited(sqlite_db) == [
        ("claim.submit", "claim:1", u["rep"].id),
        ("claim.submit", "claim:2", u["rep"].id),
        ("claim.approve", "claim:1", u["manager"].id),
        ("claim.reject", "claim:2", u["admin"].id),
    ]
    with sqlite_db.session() as s:
        reject = s.execute(
            sa.select(AuditEntry).where(col(AuditEntry.action) == "claim.reject")
        ).one()
        assert reject[0].details == {"reason": "No such invoice"} and reject[0].at == NOW


def test_sqlite_refuses_update_and_delete_of_audit_entries_over_a_raw_connection(
    sqlite_db: Database,
) -> None:
    _decide_two(sqlite_db)
    raw = sqlite3.connect(sqlite_db.url.removeprefix("sqlite:///"))
    try:
        for statement in ("UPDATE audit_entry SET actor_user_id = NULL", "DELETE FROM audit_entry"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
        assert raw.execute("SELECT count(*) FROM audit_entry").fetchone() == (4,)
    finally:
        raw.close()


@pytest.mark.postgres
def test_postgres_refuses_update_delete_and_truncate_of_audit_entries(
    postgres_db: Database,
) -> None:
    _decide_two(postgres_db)
    statements = (
        "UPDATE audit_entry SET actor_user_id = NULL",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
    )
    with assert_postgres_refuses(postgres_db, statements, match="append-only") as raw:
        assert raw.execute("SELECT count(*) FROM audit_entry").fetchone() == (4,)


@pytest.mark.postgres
def test_claims_are_approved_and_refused_the_same_way_on_postgres(postgres_db: Database) -> None:
    u = _people(postgres_db)
    program = _program(postgres_db)
    claim_id = _submit(postgres_db, u["rep"]).id or 0
    with pytest.raises(ClaimRefused):
        approve_claim(postgres_db, program, claim_id, u["other_manager"], NOW)
    approve_claim(postgres_db, program, claim_id, u["manager"], NOW)
    with pytest.raises(ClaimError, match="already approved"):
        approve_claim(postgres_db, program, claim_id, u["manager"], NOW)
    with postgres_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 30


# --- photos ------------------------------------------------------------------------------------


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make: metadata that must not survive re-encoding
    image.save(out, format="PNG", exif=exif)
    return out.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_photo_is_re_encoded_to_webp_without_its_metadata() -> None:
    webp = reencode_photo(_png())
    with Image.open(io.BytesIO(webp)) as img:
        assert img.format == "WEBP" and img.size == (64, 48)
        assert not img.getexif()
    assert b"SpyCam" not in webp


@pytest.mark.parametrize("size", [(100_000, 100_000), (9_000, 9_000)])
def test_a_decompression_bomb_is_refused_before_decoding(size: tuple[int, int]) -> None:
    # 9000 x 9000 is under Pillow's own limit: our lower one must catch it.
    with pytest.raises(PhotoError, match="too many pixels"):
        reencode_photo(_png_claiming(*size))


def test_text_posing_as_an_image_is_refused() -> None:
    with pytest.raises(PhotoError, match="must be an image"):
        reencode_photo(b"<svg onload=alert(1)>" + b" " * 100)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _send_claim(
    c: httpx.AsyncClient, invoice: str, photo: tuple[str, bytes, str] | None = None
) -> httpx.Response:
    page = await c.get("/claims")
    data = {
        "csrf_token": csrf_of(page),
        "invoice": invoice,
        "day": "2026-11-20",
        "sku": "TV-55",
        "units": "2",
        "amount": "16000000",
    }
    return await c.post("/claims", data=data, files={"photo": photo} if photo else None)


def _stored(data_dir: Path) -> list[Path]:
    folder = data_dir / "claims"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.anyio
async def test_an_uploaded_photo_is_stored_as_webp_and_shown_only_to_the_rep_and_deciders(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _people(sqlite_db)
    data_dir = tmp_path / "data"
    allowed = {"rep@example.com": 200, "mgr@example.com": 200, "admin@example.com": 200}
    refused = {"sby@example.com": 404, "rep2@example.com": 404, "owner@example.com": 404}
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(data_dir)) as c:
        await log_in(c, "rep@example.com")
        sent = await _send_claim(c, "INV-9", ("invoice.png", _png(), "image/png"))
        assert sent.status_code == 303 and sent.headers["location"] == "/claims?sent=1"
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(data_dir)) as c:
        assert (await c.get("/claims/1/photo")).status_code == 401
    [stored] = _stored(data_dir)
    assert stored.suffix == ".webp" and stored.read_bytes()[8:12] == b"WEBP"
    for email, status in {**allowed, **refused}.items():
        async with client_for(sqlite_db, PODIUM_DATA_DIR=str(data_dir)) as c:
            await log_in(c, email)
            r = await c.get("/claims/1/photo")
        assert r.status_code == status, email
        if status == 200:
            assert r.headers["content-type"] == "image/webp"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.content == stored.read_bytes()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (("big.png", b"\x89PNG" + b"\x00" * (6 * 1024 * 1024), "image/png"), "larger than 5 MB"),
        (("bomb.png", _png_claiming(100_000, 100_000), "image/png"), "too many pixels"),
        (("page.html", b"<html><script>alert(1)</script>", "text/html"), "must be an image"),
        (("fake.png", b"GIF89a not really", "image/png"), "must be an image"),
    ],
)
async def test_oversized_bombs_and_non_images_are_refused_and_nothing_is_stored(
    sqlite_db: Database, tmp_path: Path, photo: tuple[str, bytes, str], message: str
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        r = await _send_claim(c, "INV-10", photo)
    assert r.status_code == 400 and message in r.text
    assert 'value="INV-10"' in r.text  # what the rep typed is kept
    assert _stored(tmp_path) == []
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Claim)).scalar_one() == 0


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_hostile_text_in_invoice_and_reason_is_shown_escaped(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        assert (await _send_claim(c, HOSTILE)).status_code == 303
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "mgr@example.com")
        review = await c.get("/claims/review")
        r = await c.post(
            "/claims/1/reject", data={"csrf_token": csrf_of(review), "reason": HOSTILE}
        )
        assert r.status_code == 303
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        mine = await c.get("/claims")
    for page in (review, mine):
        assert HOSTILE not in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "Reason: &lt;img" in mine.text and "rejected" in mine.text


@pytest.mark.anyio
async def test_managers_review_only_their_regions_and_a_rejection_needs_a_reason(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        home = await c.get("/")
        await _send_claim(c, "INV-0042")
        refused = await c.get("/claims/review")
    assert 'href="/claims"' in home.text and "Submit a sale" in home.text
    assert refused.status_code == 403
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "sby@example.com")
        other = await c.get("/claims/review")
        blocked = await c.post("/claims/1/approve", data={"csrf_token": csrf_of(other)})
    assert "INV-0042" not in other.text and "No claims are waiting" in other.text
    assert blocked.status_code == 403 and "region you do not manage" in blocked.text
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "mgr@example.com")
        home = await c.get("/")
        review = await c.get("/claims/review")
        token = csrf_of(review)
        no_reason = await c.post("/claims/1/reject", data={"csrf_token": token, "reason": " "})
        approved = await c.post("/claims/1/approve", data={"csrf_token": token})
        after = await c.get(approved.headers["location"])
    assert "Review claims" in home.text
    assert "INV-0042" in review.text and 'action="/claims/1/approve"' in review.text
    assert no_reason.status_code == 400 and "Say why" in no_reason.text
    assert approved.status_code == 303 and "Claim #1 approved" in after.text
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 20


def test_a_rejection_that_lands_while_the_sale_is_posted_takes_the_points_back(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    claim_id = _submit(sqlite_db, u["rep"]).id or 0

    def reject_first(*args: object, **kwargs: object) -> object:
        # Another decider rejects between the approver's check and the posting.
        reject_claim(sqlite_db, claim_id, u["admin"], "Wrong partner", NOW)
        return ingest_events(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("app.claims.ingest_events", reject_first)
    with pytest.raises(ClaimError, match="rejected by someone else"):
        approve_claim(sqlite_db, program, claim_id, u["manager"], NOW)
    with sqlite_db.session() as s:
        assert balance_of(s, rep_code="R00000") == 0
        assert s.get(Claim, claim_id).status == "rejected"  # type: ignore[union-attr]
    assert [a for a, _, _ in _audited(sqlite_db)][-1] == "claim.approve_undone"


# --- Bahasa Indonesia --------------------------------------------------------------------------


def _speaks_indonesian(db: Database, *emails: str) -> None:
    with db.write() as s:
        s.execute(sa.update(User).where(col(User.email).in_(emails)).values(language="id"))


def test_refusals_are_english_for_logs_and_indonesian_on_an_indonesian_page(
    sqlite_db: Database,
) -> None:
    u = _people(sqlite_db)
    program = _program(sqlite_db)
    claim_id = _submit(sqlite_db, u["rep"]).id or 0
    approve_claim(sqlite_db, program, claim_id, u["manager"], NOW)
    with pytest.raises(ClaimError) as decided:
        approve_claim(sqlite_db, program, claim_id, u["admin"], NOW)
    assert str(decided.value) == "This claim was already approved."
    assert decided.value.text("id") == "Klaim ini sudah disetujui."
    with pytest.raises(ClaimError) as early:
        _submit(sqlite_db, u["rep"], invoice="INV-1", day="2025-12-01")
    # The program starts 2026-01-01 UTC: 07:00 that day in Jakarta, the program's zone.
    assert str(early.value) == "The invoice date is before the program starts (Jan 1, 2026)."
    assert early.value.text("id") == "Tanggal faktur lebih awal dari mulainya program (1 Jan 2026)."
    with pytest.raises(ClaimError) as twice:
        erp = sale("erp-9", units=3, invoice="INV-0043", sku="TV-55")
        ingest_events(sqlite_db, program, "erp", [erp], NOW)
        twin = _submit(sqlite_db, u["rep"], invoice="inv-43").id or 0
        approve_claim(sqlite_db, program, twin, u["manager"], NOW)
    assert "already recorded as sale erp-9 from erp;" in str(twice.value)
    assert "tercatat sebagai penjualan erp-9 dari erp; tolak" in twice.value.text("id")
    assert display_name("Budi", True, "id") == "Anonim"
    assert display_name("Budi", True, "en") == "Anonymous"
    assert display_name("Budi", False, "id") == "Budi"


@pytest.mark.anyio
async def test_claim_pages_speak_indonesian_to_a_user_who_chose_it(
    any_db: Database, tmp_path: Path
) -> None:
    _people(any_db)
    _speaks_indonesian(any_db, "rep@example.com", "mgr@example.com", "rep2@example.com")
    async with client_for(any_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        form = await c.get("/claims")
        token = csrf_of(form)
        bad = {"csrf_token": token, "invoice": "INV-1", "day": "2026-11-20", "sku": "TV-55"}
        wrong_units = await c.post("/claims", data={**bad, "units": "2.5", "amount": "1"})
        sent = await _send_claim(c, "INV-0042")
        after = await c.get(sent.headers["location"])
    assert '<html lang="id">' in form.text
    assert "<title>Laporkan penjualan · Podium</title>" in form.text
    for phrase in ("Nomor faktur", 'placeholder="mis. INV-0042"', "Kirim untuk disetujui"):
        assert phrase in form.text
    assert "Belum ada klaim." in form.text and "Invoice" not in form.text
    assert wrong_units.status_code == 400
    assert "Jumlah unit harus bilangan bulat, mis. 3." in wrong_units.text
    assert "Klaim #1 sudah dikirim dan menunggu persetujuan." in after.text
    # Money the Indonesian way: Rp, dots between thousands, no cents for rupiah.
    assert "Rp 16.000.000" in after.text and "Menunggu persetujuan" in after.text

    async with client_for(any_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep2@example.com")
        assert (await _send_claim(c, "inv 42")).status_code == 303  # the same line, again
    async with client_for(any_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "mgr@example.com")
        review = await c.get("/claims/review")
        token = csrf_of(review)
        no_reason = await c.post("/claims/1/reject", data={"csrf_token": token, "reason": " "})
        approved = await c.post("/claims/1/approve", data={"csrf_token": token})
        blocked = await c.post("/claims/2/approve", data={"csrf_token": token})
        rejected = await c.post("/claims/2/reject", data={"csrf_token": token, "reason": "Dobel"})
        done = await c.get(rejected.headers["location"])
    assert "<h1>Periksa klaim</h1>" in review.text
    assert "Rp 16.000.000" in review.text and ">Setujui</button>" in review.text
    assert "Kemungkinan duplikat: baris faktur ini juga tercatat sebagai klaim #2" in review.text
    assert "(menunggu persetujuan)" in review.text and "Alasan penolakan" in review.text
    assert no_reason.status_code == 400
    assert (
        "Klaim #1: Tuliskan alasan penolakan; tenaga penjual akan melihat alasannya."
        in no_reason.text
    )
    assert approved.status_code == 303
    assert blocked.status_code == 400
    assert (
        "Klaim #2: Baris faktur ini sudah tercatat sebagai penjualan claim-1 dari claims, "
        "klaim #1 (disetujui); tolak klaim ini sebagai duplikat."
    ) in blocked.text
    assert "Klaim #2 ditolak; tenaga penjual dapat melihat alasan Anda." in done.text

    async with client_for(any_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        mine = await c.get("/claims")
    assert ">Disetujui</span>" in mine.text


@pytest.mark.anyio
async def test_a_browser_asking_for_indonesian_gets_it_until_the_user_chooses_otherwise(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _people(sqlite_db)
    indonesian = {"Accept-Language": "id-ID,id;q=0.9,en;q=0.5"}
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        c.headers.update(indonesian)
        photo = await c.get("/claims/1/photo")
        token = csrf_of(await c.get("/login"))
        wrong = await c.post(
            "/login", data={"email": "sby@example.com", "password": "nope!", "csrf_token": token}
        )
        await log_in(c, "sby@example.com")
        review = await c.get("/claims/review")
        mine = await c.get("/claims")  # a manager without a rep goes to the review page
    assert photo.status_code == 401 and photo.text == "Masuk untuk melihat foto klaim."
    assert "Email dan kata sandi tersebut tidak cocok dengan akun mana pun." in wrong.text
    assert "Tidak ada klaim yang menunggu keputusan Anda." in review.text
    assert mine.headers["location"] == "/claims/review"
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        c.headers.update(indonesian)
        await log_in(c, "rep@example.com")
        refused = await c.get("/claims/review")
        _speaks_indonesian(sqlite_db)  # nobody: the header still decides
        with sqlite_db.write() as s:
            s.execute(
                sa.update(User).where(col(User.email) == "rep@example.com").values(language="en")
            )
        english = await c.get("/claims")
    assert refused.status_code == 403
    assert refused.text == "Hanya manajer regional dan admin program yang dapat memeriksa klaim."
    assert "<h1>Submit a sale</h1>" in english.text  # the user's own choice wins over the header


IMPORT_CSV = (
    "id,type,partner,rep,sku,units,amount,occurred_at,invoice\n"
    "c1,sale,PT000,R00000,TV-55,2,16000000,2026-11-02T10:00:00+07:00,INV-1\n"
    "c2,sale,PT000,R00000,NOPE,2,16000000,2026-11-02T10:00:00+07:00,INV-2\n"
    "c3,sale,PT000,R00000,TV-55,2,16000000,2026-11-02T10:00:00+07:00,INV-3,extra\n"
)


@pytest.mark.anyio
async def test_the_import_page_speaks_indonesian_around_ingestions_english_row_errors(
    any_db: Database,
) -> None:
    _people(any_db)
    _speaks_indonesian(any_db, "admin@example.com", "rep@example.com")
    async with client_for(any_db) as c:
        await log_in(c, "rep@example.com")
        refused = await c.get("/admin/import")
    async with client_for(any_db) as c:
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/import")
        token = csrf_of(page)

        async def upload(name: str, body: bytes) -> httpx.Response:
            return await c.post(
                "/admin/import", data={"csrf_token": token}, files={"file": (name, body)}
            )

        report = await upload("nov.csv", IMPORT_CSV.encode())
        bad_header = await upload("x.csv", b"id,type\nx,sale\n")
        latin1 = await upload(
            "y.csv", "id,type,partner,occurred_at\nü,sale,P,2026\n".encode("cp1252")
        )
    assert refused.status_code == 403
    assert refused.text == "Hanya admin program yang dapat mengimpor penjualan."
    assert "<h1>Impor penjualan dari CSV</h1>" in page.text and ">Impor</button>" in page.text
    assert 'aria-label="Berkas CSV"' in page.text
    assert report.status_code == 200
    for label in ("baris", "diimpor", "sudah ada", "ditolak", "Masalah"):
        assert f">{label}<" in report.text
    # Ingestion's sentence is the JSON API's too: it stays English; this module's own is Indonesian.
    assert "<td>3</td><td>SKU &#39;NOPE&#39; is not in the product catalog</td>" in report.text
    assert "<td>4</td><td>10 sel, padahal header hanya punya 9 kolom</td>" in report.text
    assert bad_header.status_code == 400
    assert "Header CSV tidak memuat kolom partner, occurred_at" in bad_header.text
    assert "Berkas ini bukan teks UTF-8" in latin1.text
