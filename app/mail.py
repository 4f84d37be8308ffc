"""Outgoing mail through an outbox table.

An email is a row of ``outbox`` written by ``queue_mail`` in the same transaction as the action
that causes it (an invitation, a reset link): a rolled-back action sends nothing and a committed
one is never forgotten, even if the mail server is down or the process dies. ``OutboxSender``
delivers what is waiting: over SMTP when ``PODIUM_SMTP_URL`` is set, otherwise printed to the
console so someone running ``podium demo`` can click the link.

Several app processes may run a sender: each message is leased (``next_attempt_at``) by a
conditional UPDATE before it is sent, so two senders never send it at the same time. Delivery is
at least once: a process that dies between sending and recording it sends again after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col

from app.db import Database
from app.models import OutboxMessage
from app.settings import Settings

if TYPE_CHECKING:
    from app.context import AppState

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than any SMTP conversation
RETRY_AFTER = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
BATCH = 50
POLL_SECONDS = 5.0  # picks up mail queued by other processes (this one wakes the sender)


def queue_mail(session: Session, to: str, subject: str, body: str, now: datetime) -> OutboxMessage:
    """Record an email to send once ``session`` commits (call inside the action's transaction)."""
    message = OutboxMessage(to=to, subject=subject[:200], body=body, created_at=now)
    session.add(message)
    return message


class Delivery(Protocol):
    def __call__(self, message: OutboxMessage) -> None: ...


@dataclass(frozen=True)
class SmtpDelivery:
    """``smtp://[user:password@]host[:port][?starttls=1&from=address]``; ``smtps://`` speaks TLS
    from the first byte (port 465)."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str
    password: str
    sender: str
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, base_url: str) -> SmtpDelivery:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "PODIUM_SMTP_URL must look like smtp://user:password@host:587?starttls=1"
            )
        query = parse_qs(parts.query)
        implicit = parts.scheme == "smtps"
        domain = urlsplit(base_url).hostname or "localhost"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            sender=query.get("from", [f"podium@{domain}"])[0],
        )

    def __call__(self, message: OutboxMessage) -> None:
        email = EmailMessage()
        email["From"] = formataddr(("Podium", self.sender))
        email["To"] = message.to
        email["Subject"] = message.subject
        # The outbox id makes the Message-ID stable: a resend after a lost answer is
        # recognisable as the same message.
        email["Message-ID"] = make_msgid(f"outbox.{message.id}", self.sender.split("@")[-1])
        email.set_content(message.body)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(email)


@dataclass(frozen=True)
class ConsoleDelivery:
    """No mail server configured: print the email where the person running Podium sees it."""

    stream: IO[str] | None = None

    def __call__(self, message: OutboxMessage) -> None:
        out = self.stream or sys.stderr
        rule = "-" * 72
        print(
            f"\n{rule}\nEmail (not sent: PODIUM_SMTP_URL is not set)\n"
            f"To: {message.to}\nSubject: {message.subject}\n\n{message.body}\n{rule}",
            file=out,
            flush=True,
        )


def delivery_for(settings: Settings) -> Delivery:
    if settings.smtp_url:
        return SmtpDelivery.from_url(settings.smtp_url, settings.base_url)
    return ConsoleDelivery()


def deliver_pending(db: Database, deliver: Delivery, now: datetime, limit: int = BATCH) -> int:
    """Send what is waiting (blocking: call from a thread). Returns how many were sent; a
    failure is recorded on the message and retried later with a growing pause."""
    with db.session() as s:
        due = list(
            s.execute(
                sa.select(col(OutboxMessage.id))
                .where(
                    col(OutboxMessage.sent_at).is_(None),
                    sa.or_(
                        col(OutboxMessage.next_attempt_at).is_(None),
                        col(OutboxMessage.next_attempt_at) <= now,
                    ),
                )
                .order_by(col(OutboxMessage.id))
                .limit(limit)
            ).scalars()
        )
    sent = 0
    for message_id in due:
        message = _lease(db, message_id, now)
        if message is None:  # another sender has it
            continue
        try:
            deliver(message)
        except Exception as exc:
            log.warning("email %s to %s not sent: %s", message.id, message.to, exc)
            pause = RETRY_AFTER[min(message.attempts, len(RETRY_AFTER)) - 1]
            with db.write() as s:
                s.execute(
                    sa.update(OutboxMessage)
                    .where(col(OutboxMessage.id) == message_id)
                    .values(next_attempt_at=now + pause, last_error=str(exc)[:500])
                )
            continue
        with db.write() as s:
            s.execute(
                sa.update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(sent_at=now, last_error="")
            )
        sent += 1
    return sent


def _lease(db: Database, message_id: int, now: datetime) -> OutboxMessage | None:
    with db.write() as s:
        taken = s.execute(
            sa.update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message_id,
                col(OutboxMessage.sent_at).is_(None),
                sa.or_(
                    col(OutboxMessage.next_attempt_at).is_(None),
                    col(OutboxMessage.next_attempt_at) <= now,
                ),
            )
            .values(next_attempt_at=now + LEASE, attempts=col(OutboxMessage.attempts) + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return s.get(OutboxMessage, message_id)


class OutboxSender:
    """Delivers the outbox for the server's lifetime: at once when this process queued mail
    (``wake``), and every few seconds for mail queued elsewhere or due for a retry."""

    def __init__(self, db: Database, deliver: Delivery, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.deliver = deliver
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, state: AppState, stop: asyncio.Event) -> None:
        """A background job of ``create_app`` (same signature as the others)."""
        while not stop.is_set():
            self._wake.clear()
            try:
                await asyncio.to_thread(deliver_pending, self.db, self.deliver, self.clock())
            except Exception:  # the database may be briefly away: try again next round
                log.exception("delivering the outbox failed")
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
