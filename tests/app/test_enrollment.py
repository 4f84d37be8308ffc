"""Enrollment by invitation: a program admin invites partners (one by one or by CSV), a partner
admin invites its own reps and nobody else's, an invitation is single use, expires, needs the
program rules accepted, and its email is in the outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.db import Database
from app.enrollment import RepInvite, invite_rep
from app.models import AuditEntry, Invitation, OutboxMessage, Partner, Rep, User
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _people
from tests.app.test_pages import csrf_of, log_in

pytestmark = pytest.mark.anyio
BASE = "https://podium.example.com"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.execute(sa.select(OutboxMessage).order_by(col(OutboxMessage.id))).scalars())


def _invitations(db: Database) -> list[Invitation]:
    with db.session() as s:
        return list(s.execute(sa.select(Invitation).order_by(col(Invitation.id))).scalars())


def _link(message: OutboxMessage) -> str:
    match = re.search(rf"{re.escape(BASE)}(/invite/[A-Za-z0-9_-]+)", message.body)
    assert match, message.body
    return match.group(1)


def _partner_id(db: Database, code: str) -> int:
    with db.session() as s:
        partner = s.execute(sa.select(Partner).where(col(Partner.code) == code)).scalar_one()
    assert partner.id is not None
    return partner.id


PARTNER_FORM = {
    "partner_code": "BDG-0001",
    "partner_name": "Toko Sinar Bandung",
    "city": "Bandung",
    "region": "JKT",
    "league": "L",
    "admin_name": "Dewi Lestari",
    "admin_email": "Dewi@SinarBandung.co.id",
    "language": "en",
}


async def _post(c: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    token = csrf_of(await c.get("/"))  # the logout form carries the session's token
    return await c.post(path, data={**data, "csrf_token": token})


async def _accept(
    c: httpx.AsyncClient, link: str, rules: bool = True, password: str = NEW_PASSWORD
) -> httpx.Response:
    token = csrf_of(await c.get("/login"))
    data = {"name": "", "password": password, "confirm": password, "csrf_token": token}
    if rules:
        data["accept_rules"] = "yes"
    return await c.post(link, data=data)


async def test_a_program_admin_invites_a_new_partner_whose_admin_joins_and_is_logged_in(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        page = await admin.get("/admin/partners")
        sent = await _post(admin, "/admin/partners/invite", **PARTNER_FORM)
        listed = await admin.get("/admin/partners")
    [mail] = _outbox(any_db)
    link = _link(mail)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as invitee:
        opened = await invitee.get(link)
        no_rules = await _accept(invitee, link, rules=False)
        joined = await _accept(invitee, link)
        team = await invitee.get("/team")
        reused = await invitee.get(link)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        accepted = await admin.get("/admin/partners")

    assert page.status_code == 200 and 'href="/admin/partners"' in page.text
    assert sent.status_code == 303 and sent.headers["location"] == "/admin/partners?done=invited"
    assert "Dewi Lestari" in listed.text and "Pending" in listed.text
    assert mail.to == "dewi@sinarbandung.co.id" and "Juara Elektronik 2026" in mail.subject
    assert "Toko Sinar Bandung" in mail.body and "7 days" in mail.body
    assert opened.status_code == 200 and "Toko Sinar Bandung" in opened.text
    assert 'href="/rules"' in opened.text
    assert no_rules.status_code == 400 and "I accept the program rules" in no_rules.text
    assert joined.status_code == 303 and joined.headers["location"] == "/team"
    assert team.status_code == 200 and "Toko Sinar Bandung" in team.text
    assert reused.status_code == 410 and "already used" in reused.text
    assert "Accepted" in accepted.text
    with any_db.session() as s:
        partner = s.execute(sa.select(Partner).where(col(Partner.code) == "BDG-0001")).scalar_one()
        user = s.execute(
            sa.select(User).where(col(User.email) == "dewi@sinarbandung.co.id")
        ).scalar_one()
        actions = list(s.execute(sa.select(col(AuditEntry.action))).scalars())
    assert (partner.name, partner.city) == ("Toko Sinar Bandung", "Bandung")
    assert (user.role, user.partner_id, user.name) == ("partner_admin", partner.id, "Dewi Lestari")
    [invitation] = _invitations(any_db)
    assert invitation.accepted_at == NOW and invitation.user_id == user.id
    assert link.rsplit("/", 1)[1] not in invitation.token_hash
    assert {"invite", "invitation_accepted"} <= set(actions)


async def test_a_partner_admin_invites_a_rep_who_joins_with_a_generated_code(
    any_db: Database,
) -> None:
    _people(any_db)
    pt000 = _partner_id(any_db, "PT000")
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as owner:
        await log_in(owner, "owner@example.com")
        page = await owner.get("/team")
        sent = await _post(
            owner,
            "/team/invite",
            name="Rina Wati",
            email="rina@example.com",
            language="id",
            partner_id=str(pt000),
        )
    [mail] = _outbox(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as rina:
        joined = await _accept(rina, _link(mail))
        home = await rina.get("/")
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as owner:
        await log_in(owner, "owner@example.com")
        team = await owner.get("/team")

    assert page.status_code == 200 and 'href="/team"' in page.text
    assert sent.status_code == 303
    assert mail.subject == "Undangan Anda ke Juara Elektronik 2026"  # the invitee's language
    assert joined.status_code == 303 and joined.headers["location"] == "/"
    assert "Rina Wati" in home.text
    with any_db.session() as s:
        rep = s.execute(sa.select(Rep).where(col(Rep.email) == "rina@example.com")).scalar_one()
        user = s.execute(sa.select(User).where(col(User.email) == "rina@example.com")).scalar_one()
    assert rep.code == "PT000-01" and rep.partner_id == pt000
    assert (user.role, user.rep_id, user.partner_id) == ("rep", rep.id, pt000)
    assert "Rina Wati" in team.text and "PT000-01" in team.text


async def test_a_partner_admin_can_never_invite_into_another_partner(any_db: Database) -> None:
    _people(any_db)
    other = _partner_id(any_db, "PT001")
    with any_db.write() as s:  # a rep invitation of the other partner, sent by a program admin
        admin = s.execute(
            sa.select(User).where(col(User.email) == "admin@example.com")
        ).scalar_one()
        theirs = invite_rep(s, admin, other, RepInvite("Eko", "eko@example.com"), NOW, BASE, "en")
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as owner:
        await log_in(owner, "owner@example.com")
        forged = await _post(
            owner, "/team/invite", name="Mole", email="mole@example.com", partner_id=str(other)
        )
        resend = await _post(owner, f"/invitations/{theirs.id}/resend")
        revoke = await _post(owner, f"/invitations/{theirs.id}/revoke")
        admins = await _post(owner, "/admin/partners/invite", **PARTNER_FORM)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as rep:
        await log_in(rep, "rep@example.com")
        by_rep = await _post(
            rep,
            "/team/invite",
            name="Mole",
            email="mole@example.com",
            partner_id=str(_partner_id(any_db, "PT000")),
        )

    assert forged.status_code == 403 and "your own company" in forged.text
    assert resend.status_code == revoke.status_code == 403
    assert admins.status_code == by_rep.status_code == 403
    assert [i.email for i in _invitations(any_db)] == ["eko@example.com"]
    assert _invitations(any_db)[0].revoked_at is None
    assert len(_outbox(any_db)) == 1


CSV = (
    "partner_code,partner_name,city,region,league,admin_name,admin_email\n"
    "SBY-0100,Toko Terang,Surabaya,SBY,L,Agus,agus@terang.co.id\n"
    "MDN-0001,Toko Medan,Medan,Sumatra,L,Butet,butet@medan.co.id\n"
    "SBY-0101,Toko Kedua,Surabaya,Jawa Timur,large,Citra,rep@example.com\n"
    "PT001,,,,,Dodi,dodi@example.com\n"
    "SBY-0102,Toko Ketiga,Surabaya,SBY,L,Eka,AGUS@terang.co.id\n"
    "SBY-0103,Toko Keempat\n"
)


async def test_a_csv_upload_invites_the_good_rows_and_reports_each_bad_row_by_line(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        token = csrf_of(await admin.get("/admin/partners"))
        result = await admin.post(
            "/admin/partners/import",
            data={"csrf_token": token},
            files={"file": ("partners.csv", CSV.encode(), "text/csv")},
            headers={"HX-Request": "true"},
        )
        bad_header = await admin.post(
            "/admin/partners/import",
            data={"csrf_token": token},
            files={"file": ("x.csv", b"code,name\nA,B\n", "text/csv")},
        )

    assert result.status_code == 200 and "<html" not in result.text
    rows = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", result.text))
    assert set(rows) == {"3", "4", "6", "7"}, rows
    assert "There is no region “Sumatra”. Known regions: JKT, SBY." in rows["3"]
    assert "There is already an account for rep@example.com." in rows["4"]
    assert "already has a pending invitation" in rows["6"]  # row 2 of the same file
    assert rows["7"] == "Type the person&#39;s name."  # a short row: the missing cells are empty
    assert (
        bad_header.status_code == 400
        and "The CSV header is missing partner_code" in bad_header.text
    )
    invited = _invitations(any_db)
    assert [i.email for i in invited] == ["agus@terang.co.id", "dodi@example.com"]
    assert [m.to for m in _outbox(any_db)] == ["agus@terang.co.id", "dodi@example.com"]
    with any_db.session() as s:
        codes = set(s.execute(sa.select(col(Partner.code))).scalars())
    assert "SBY-0100" in codes and not {"MDN-0001", "SBY-0101", "SBY-0102"} & codes
    assert invited[1].partner_id == _partner_id(any_db, "PT001")  # an existing partner


async def test_a_duplicate_email_is_refused_with_a_clear_sentence(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        first = await _post(admin, "/admin/partners/invite", **PARTNER_FORM)
        twice = await _post(
            admin, "/admin/partners/invite", **{**PARTNER_FORM, "partner_code": "BDG-0002"}
        )
        user = await _post(
            admin,
            "/admin/partners/invite",
            **{**PARTNER_FORM, "partner_code": "BDG-0003", "admin_email": "REP@example.com"},
        )
        renamed = await _post(
            admin,
            "/admin/partners/invite",
            **{**PARTNER_FORM, "partner_name": "Other", "admin_email": "x@example.com"},
        )

    assert first.status_code == 303
    assert twice.status_code == 400
    assert "dewi@sinarbandung.co.id already has a pending invitation" in twice.text
    assert 'value="BDG-0002"' in twice.text  # what was typed is kept
    assert (
        user.status_code == 400 and "There is already an account for rep@example.com" in user.text
    )
    assert renamed.status_code == 400 and "already exists as “Toko Sinar Bandung”" in renamed.text
    assert len(_invitations(any_db)) == len(_outbox(any_db)) == 1


async def test_expired_revoked_and_replaced_invitations_are_refused(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        await _post(admin, "/admin/partners/invite", **PARTNER_FORM)
        await _post(
            admin,
            "/admin/partners/invite",
            **{**PARTNER_FORM, "partner_code": "BDG-0002", "admin_email": "eko@example.com"},
        )
        first, second = _invitations(any_db)
        revoked = await _post(admin, f"/invitations/{second.id}/revoke")
    first_link, second_link = (_link(m) for m in _outbox(any_db))
    later = NOW + timedelta(days=7)
    async with client_for(any_db, now=later - timedelta(seconds=1)) as c:
        in_time = await c.get(first_link)
    async with client_for(any_db, now=later) as c:
        expired = await c.get(first_link)
        expired_post = await _accept(c, first_link)
        withdrawn = await c.get(second_link)
    async with client_for(any_db, now=later, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        listed = await admin.get("/admin/partners")
        resent = await _post(admin, f"/invitations/{first.id}/resend")
    fresh = _link(_outbox(any_db)[-1])
    async with client_for(any_db, now=later) as c:
        old = await c.get(first_link)
        joined = await _accept(c, fresh)

    assert revoked.status_code == 303
    assert in_time.status_code == 200
    assert expired.status_code == expired_post.status_code == 410
    assert "has expired" in expired.text
    assert withdrawn.status_code == 410 and "withdrawn" in withdrawn.text
    assert "Expired" in listed.text and "Revoked" in listed.text
    assert resent.status_code == 303 and len(_outbox(any_db)) == 3
    assert old.status_code == 404  # a resend replaces the link
    assert joined.status_code == 303
    with any_db.session() as s:
        assert s.execute(
            sa.select(User).where(col(User.email) == "dewi@sinarbandung.co.id")
        ).scalar_one()
        assert not s.execute(sa.select(User).where(col(User.email) == "eko@example.com")).first()


async def test_an_accepted_invitation_cannot_be_revoked_or_resent(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as admin:
        await log_in(admin, "admin@example.com")
        await _post(admin, "/admin/partners/invite", **PARTNER_FORM)
        async with client_for(any_db, PODIUM_BASE_URL=BASE) as invitee:
            assert (await _accept(invitee, _link(_outbox(any_db)[0]))).status_code == 303
        [invitation] = _invitations(any_db)
        revoke = await _post(admin, f"/invitations/{invitation.id}/revoke")
        resend = await _post(admin, f"/invitations/{invitation.id}/resend")

    assert revoke.status_code == resend.status_code == 400
    assert "already accepted this invitation" in revoke.text
    assert _invitations(any_db)[0].revoked_at is None and len(_outbox(any_db)) == 1
