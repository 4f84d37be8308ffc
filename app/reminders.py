"""Reminders a scheduled job sends by email: "you need 12 more units for Gold" near the end
of a period, and "the challenge ends in 24 hours". Each is sent once per user and subject (a
unique row), whichever app process runs the job and however often."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.challenges import participants_in
from app.db import Database
from app.formatting import number
from app.i18n import gettext
from app.mail import queue_mail
from app.models import Challenge, PeriodTotal, Program, Reminder, User
from app.programs import rules_of
from game.tiers import tier_progress

TIER_WINDOW = timedelta(hours=48)  # tier reminders in the last two days of a period
CHALLENGE_WINDOW = timedelta(hours=24)
METRIC_WORD = {"units": "units", "points": "points", "revenue": "revenue"}


def _language(user: User) -> str:
    return user.language or "id"


def _tier_reminders(
    session: Session, program: Program, now: datetime
) -> list[tuple[User, str, str]]:
    rules = rules_of(program)
    period = rules.period_of(now)
    if not (period.end - TIER_WINDOW <= now < period.end) or not rules.ladder.tiers:
        return []
    column = {"units": col(PeriodTotal.units), "points": col(PeriodTotal.points),
              "revenue": col(PeriodTotal.revenue_minor)}[rules.ladder.metric.value]  # fmt: skip
    rows = session.execute(
        sa.select(User, column)
        .join(PeriodTotal, col(PeriodTotal.participant_id) == col(User.rep_id))
        .where(
            col(PeriodTotal.program_id) == program.id,
            col(PeriodTotal.period_key) == period.key,
            col(PeriodTotal.kind) == "rep",
            col(User.disabled_at).is_(None),
        )
    ).all()
    out = []
    for user, value in rows:
        progress = tier_progress(int(value), rules.ladder)
        if progress.next is None or value <= 0:
            continue
        lang = _language(user)
        missing = progress.missing
        if rules.ladder.metric.value == "revenue":
            missing = (missing + 99) // 100  # minor units to whole currency units
        text = gettext(
            lang,
            "You need %(missing)s more %(measure)s for %(tier)s before the period ends.",
            missing=number(missing, lang),
            measure=gettext(lang, METRIC_WORD[rules.ladder.metric.value]),
            tier=progress.next.name,
        )
        out.append((user, f"tier:{period.key}:{progress.next.name}"[:80], text))
    return out


def _challenge_reminders(
    session: Session, program: Program, now: datetime
) -> list[tuple[User, str, str]]:
    """Everyone in a live challenge that ends within a day: those with progress in it, and
    those who joined an opt-in one."""
    ending = session.exec(
        select(Challenge).where(
            col(Challenge.program_id) == program.id,
            col(Challenge.status) == "live",
            col(Challenge.ends_at) > now,
            col(Challenge.ends_at) <= now + CHALLENGE_WINDOW,
        )
    ).all()
    rows = [
        (c.id, c.name, kind, pid)
        for c in ending
        for kind, pid in sorted(participants_in(session, c))
    ]
    out = []
    for challenge_id, name, kind, pid in rows:
        who = (
            col(User.rep_id) == pid
            if kind == "rep"
            else sa.and_(col(User.partner_id) == pid, col(User.role) == "partner_admin")
        )
        for user in session.execute(
            sa.select(User).where(who, col(User.disabled_at).is_(None))
        ).scalars():
            lang = _language(user)
            text = gettext(lang, "The challenge “%(name)s” ends in 24 hours.", name=name)
            out.append((user, f"challenge-{challenge_id}:24h", text))
    return out


def send_reminders(db: Database, program: Program, now: datetime) -> int:
    """Queue the reminders due now that were not sent before; how many."""
    with db.session() as s:
        due = _tier_reminders(s, program, now) + _challenge_reminders(s, program, now)
        if not due:
            return 0
        sent = set(
            s.execute(
                sa.select(col(Reminder.user_id), col(Reminder.subject)).where(
                    col(Reminder.user_id).in_({u.id for u, _, _ in due}),
                    col(Reminder.subject).in_({subject for _, subject, _ in due}),
                )
            ).all()
        )
    fresh = [(u, subject, text) for u, subject, text in due if (u.id, subject) not in sent]
    if not fresh:
        return 0
    assert program.id is not None
    try:
        with db.write() as s:
            for user, subject, text in fresh:
                assert user.id is not None
                s.add(Reminder(program_id=program.id, user_id=user.id, subject=subject,
                               text=text[:500], created_at=now))  # fmt: skip
                queue_mail(s, user.email, f"{program.name}: {text}", text, now)
    except IntegrityError:  # another process sent them at the same moment
        return 0
    return len(fresh)
