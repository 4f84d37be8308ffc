"""Password reset by emailed link: single use, 30 minutes, hashed, no account enumeration,
rate limited, every session ended; and the outbox that carries the email."""

from __future__ import annotations

import io
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.accounts import token_digest
from app.db import Database
from app.mail import ConsoleDelivery, SmtpDelivery, deliver_pending
from app.models import OutboxMessage, PasswordReset, User, UserSession
from tests.app.conftest import NOW, client_for
from tests.app.test_claims import _people
from tests.app.test_pages import PASSWORD, csrf_of, log_in

pytestmark = pytest.mark.anyio
BASE = "https://podium.example.com"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.execute(sa.select(OutboxMessage).order_by(col(OutboxMessage.id))).scalars())


def _link(message: OutboxMessage) -> str:
    match = re.search(rf"{re.escape(BASE)}(/password/reset/[A-Za-z0-9_-]+)", message.body)
    assert match, message.body
    return match.group(1)


async def _ask(c: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await c.get("/password/forgot")
    return await c.post("/password/forgot", data={"email": email, "csrf_token": csrf_of(page)})


async def _reset(
    c: httpx.AsyncClient, path: str, password: str = NEW_PASSWORD, confirm: str | None = None
) -> httpx.Response:
    token = csrf_of(await c.get("/password/forgot"))
    return await c.post(
        path,
        data={"password": password, "confirm": confirm or password, "csrf_token": token},
    )


async def _can_log_in(db: Database, email: str, password: str) -> bool:
    async with client_for(db) as c:
        page = await c.get("/login")
        r = await c.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_of(page)}
        )
    return r.status_code == 303


async def test_a_reset_link_is_emailed_and_sets_a_new_password_once(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as c:
        login = await c.get("/login")
        asked = await _ask(c, "Rep@Example.com ")
        [mail] = _outbox(any_db)
        form = await c.get(_link(mail))
        done = await _reset(c, _link(mail))
        notice = await c.get(done.headers["location"])
        again = await c.get(_link(mail))
        replay = await _reset(c, _link(mail), "yet another passphrase")

    assert 'href="/password/forgot"' in login.text
    assert asked.status_code == 200 and "we have emailed it a link" in asked.text
    assert mail.to == "rep@example.com" and mail.subject == "Reset your Podium password"
    assert f"{BASE}/password/reset/" in mail.body and "30 minutes" in mail.body
    assert mail.sent_at is None  # recorded in the request's transaction; the sender sends it
    assert form.status_code == 200 and 'name="confirm"' in form.text
    assert done.status_code == 303 and done.headers["location"] == "/login?reset=done"
    assert "Your password was changed and every session was ended" in notice.text
    assert again.status_code == 410 and "already used" in again.text
    assert replay.status_code == 410
    assert await _can_log_in(any_db, "rep@example.com", NEW_PASSWORD)
    assert not await _can_log_in(any_db, "rep@example.com", PASSWORD)
    assert not await _can_log_in(any_db, "rep@example.com", "yet another passphrase")
    token = _link(mail).rsplit("/", 1)[1]
    with any_db.session() as s:
        stored = s.execute(sa.select(PasswordReset)).scalar_one()
    assert stored.token_hash == token_digest(token) and token not in stored.token_hash
    assert stored.used_at == NOW


async def test_a_reset_link_expires_after_30_minutes(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as c:
        await _ask(c, "rep@example.com")
    link = _link(_outbox(any_db)[0])
    async with client_for(any_db, now=NOW + timedelta(minutes=29, seconds=59)) as c:
        still = await c.get(link)
    async with client_for(any_db, now=NOW + timedelta(minutes=30)) as c:
        expired = await c.get(link)
        refused = await _reset(c, link)

    assert still.status_code == 200
    assert expired.status_code == 410 and "has expired" in expired.text
    assert 'href="/password/forgot"' in expired.text
    assert refused.status_code == 410
    assert await _can_log_in(any_db, "rep@example.com", PASSWORD)


async def test_resetting_ends_every_session_so_old_cookies_are_refused(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as phone:
        await log_in(phone, "rep@example.com")
        assert (await phone.get("/claims")).status_code == 200
        async with client_for(any_db, PODIUM_BASE_URL=BASE) as laptop:
            await _ask(laptop, "rep@example.com")
            assert (await _reset(laptop, _link(_outbox(any_db)[0]))).status_code == 303
        after = await phone.get("/claims")

    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    with any_db.session() as s:
        open_sessions = s.execute(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(col(UserSession.revoked_at).is_(None))
        ).scalar_one()
    assert open_sessions == 0


async def test_an_unknown_email_gets_exactly_the_answer_a_known_one_gets(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db) as c:
        known = await _ask(c, "rep@example.com")
        unknown = await _ask(c, "nobody@example.com")

    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("rep@example.com", "X") == unknown.text.replace(
        "nobody@example.com", "X"
    )
    assert [m.to for m in _outbox(any_db)] == ["rep@example.com"]


async def test_reset_requests_are_rate_limited_alike_for_known_and_unknown_emails(
    any_db: Database,
) -> None:
    _people(any_db)
    async with client_for(any_db) as c:
        for _ in range(3):
            assert (await _ask(c, "rep@example.com")).status_code == 200
            assert (await _ask(c, "nobody@example.com")).status_code == 200
        known = await _ask(c, "rep@example.com")
        unknown = await _ask(c, "nobody@example.com")
        other = await _ask(c, "admin@example.com")

    assert known.status_code == unknown.status_code == 429
    assert "Too many requests" in known.text and int(known.headers["Retry-After"]) > 0
    assert known.text.replace("rep@example.com", "X") == unknown.text.replace(
        "nobody@example.com", "X"
    )
    assert other.status_code == 200  # the limit is per email (and per address, higher)
    assert [m.to for m in _outbox(any_db)] == ["rep@example.com"] * 3 + ["admin@example.com"]


async def test_a_new_link_invalidates_the_older_unused_ones(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as c:
        await _ask(c, "rep@example.com")
        await _ask(c, "rep@example.com")
        first, second = (_link(m) for m in _outbox(any_db))
        old = await c.get(first)
        new = await c.get(second)
        unknown = await c.get("/password/reset/not-a-live-token")

    assert old.status_code == 410 and "newer link" in old.text
    assert new.status_code == 200
    assert unknown.status_code == 404


async def test_a_new_password_needs_10_characters_typed_twice_alike(any_db: Database) -> None:
    _people(any_db)
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as c:
        await _ask(c, "rep@example.com")
        link = _link(_outbox(any_db)[0])
        short = await _reset(c, link, "short")
        differ = await _reset(c, link, NEW_PASSWORD, NEW_PASSWORD + "!")
        fine = await _reset(c, link)

    assert short.status_code == 400 and "at least 10 characters" in short.text
    assert differ.status_code == 400 and "The two passwords differ" in differ.text
    assert fine.status_code == 303  # a refused attempt does not spend the link


async def test_the_email_is_written_in_the_account_holders_language(any_db: Database) -> None:
    _people(any_db)
    with any_db.write() as s:
        s.execute(sa.update(User).where(col(User.email) == "rep@example.com").values(language="id"))
    async with client_for(any_db, PODIUM_BASE_URL=BASE) as c:
        await _ask(c, "rep@example.com")  # asked from an English browser
    [mail] = _outbox(any_db)
    assert mail.subject == "Atur ulang kata sandi Podium Anda"
    assert "30 menit" in mail.body and f"{BASE}/password/reset/" in mail.body


# --- The outbox sender ---


def _queued(db: Database, count: int = 1) -> None:
    with db.write() as s:
        for i in range(count):
            s.add(
                OutboxMessage(
                    to=f"to{i}@example.com", subject="Hi", body=f"link {i}", created_at=NOW
                )
            )


def test_without_smtp_the_sender_prints_each_email_once(any_db: Database) -> None:
    _queued(any_db, 2)
    console = io.StringIO()
    sent = deliver_pending(any_db, ConsoleDelivery(console), NOW)
    again = deliver_pending(any_db, ConsoleDelivery(console), NOW + timedelta(hours=1))

    assert (sent, again) == (2, 0)
    assert "To: to0@example.com" in console.getvalue() and "link 1" in console.getvalue()
    assert all(m.sent_at == NOW and m.attempts == 1 for m in _outbox(any_db))


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: the server keeps every message it accepts."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().upper()
            if verb.startswith("EHLO"):
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                self.server.received.append(data.decode())  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # HELO, MAIL FROM, RCPT TO, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_smtp_the_sender_delivers_over_smtp(
    any_db: Database, smtp_server: socketserver.ThreadingTCPServer
) -> None:
    _queued(any_db)
    port = smtp_server.server_address[1]
    smtp = SmtpDelivery.from_url(f"smtp://127.0.0.1:{port}?from=noreply@example.com", BASE)
    assert deliver_pending(any_db, smtp, NOW) == 1
    [message] = smtp_server.received  # type: ignore[attr-defined]
    assert "To: to0@example.com" in message and "From: Podium <noreply@example.com>" in message
    assert "link 0" in message


def test_a_failed_delivery_is_recorded_and_retried_later(any_db: Database) -> None:
    _queued(any_db)
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = SmtpDelivery.from_url(f"smtp://127.0.0.1:{port}", BASE)

    assert deliver_pending(any_db, down, NOW) == 0
    [failed] = _outbox(any_db)
    assert failed.sent_at is None and failed.last_error and failed.attempts == 1
    assert failed.next_attempt_at == NOW + timedelta(minutes=1)
    console = io.StringIO()
    assert deliver_pending(any_db, ConsoleDelivery(console), NOW + timedelta(seconds=30)) == 0
    assert deliver_pending(any_db, ConsoleDelivery(console), NOW + timedelta(minutes=1)) == 1
    assert _outbox(any_db)[0].last_error == ""
