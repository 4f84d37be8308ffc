"""Badges in the world: definitions in the store, evaluation after writes, the gallery's data.

Evaluation never runs inside ingestion (its hot path stays as it is). Whoever commits ledger
entries calls ``evaluate_new_entries`` afterwards: it reads the entries after the program's
watermark, gathers the facts of the participants they touched, asks ``game.badges`` what is
due and inserts it. The unique key (badge, level, participant, period) with ON CONFLICT DO
NOTHING makes re-evaluation, replays and two processes evaluating at once harmless: an award
is written once whoever gets there first. ``evaluate_period_close`` awards top-N finishes from
the final ranking of a period that has ended.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app import formatting
from app.boards import load_rows
from app.db import Database
from app.i18n import N_, gettext
from app.models import (
    BadgeAward,
    BadgeWatermark,
    Challenge,
    ChallengeResult,
    Event,
    League,
    LedgerEntry,
    Partner,
    PeriodTotal,
    Program,
    Region,
    Rep,
    User,
)
from app.models import BadgeDefinition as BadgeRow
from app.programs import rules_of
from game.badges import (
    ALL_TIME,
    Audience,
    Award,
    BadgeDefinition,
    Facts,
    Kind,
    PeriodFigures,
    Progress,
    Window,
    awards_due,
    final_standings,
    placement_awards,
    progress,
)
from game.boards import Audience as BoardAudience
from game.boards import BoardSpec, Metric, Scope, ScopeKind
from game.periods import parse_period_key, periods_between

log = logging.getLogger(__name__)

CHUNK = 500  # participants per facts query (IN lists stay small on both databases)
BOARD_AUDIENCE = {Audience.REP: BoardAudience.REPS, Audience.PARTNER: BoardAudience.PARTNERS}


# --- definitions -------------------------------------------------------------------------------


def definition_of(row: BadgeRow) -> BadgeDefinition:
    return BadgeDefinition.from_data(row.rules)


def definitions(session: Session, program: Program, active_only: bool = True) -> list[BadgeRow]:
    query = sa.select(BadgeRow).where(col(BadgeRow.program_id) == program.id)
    if active_only:
        query = query.where(col(BadgeRow.active).is_(True))
    return list(session.execute(query.order_by(col(BadgeRow.position), col(BadgeRow.id))).scalars())


def save_definition(
    db: Database, program: Program, data: dict[str, Any], now: datetime
) -> BadgeRow:
    """Create a badge, or update the one with this code; ValueError says what is wrong. An
    edited badge keeps its awards; its artwork is redrawn because its hash changes."""
    definition = BadgeDefinition.from_data(data)
    assert program.id is not None
    with db.write() as s:
        row = s.execute(
            sa.select(BadgeRow).where(
                col(BadgeRow.program_id) == program.id, col(BadgeRow.code) == definition.code
            )
        ).scalar_one_or_none()
        if row is None:
            position = s.execute(
                sa.select(sa.func.count()).where(col(BadgeRow.program_id) == program.id)
            ).scalar_one()
            row = BadgeRow(
                program_id=program.id,
                code=definition.code,
                position=position,
                created_at=now,
                name="",
                kind="",
                audience="",
            )
        row.name = definition.name
        row.kind = definition.criterion.kind.value
        row.audience = definition.audience.value
        row.secret = definition.secret
        row.rules = definition.to_data()
        row.active = True
        row.updated_at = now
        s.add(row)
        s.flush()
        s.refresh(row)
    return row


# --- facts -----------------------------------------------------------------------------------


def _period_order(program: Program, now: datetime) -> tuple[list[str], bool]:
    """Every period key of the program up to now (or its end), and whether the last is open."""
    rules = rules_of(program)
    until = min(now, program.ends_at - timedelta(microseconds=1))
    if until < program.starts_at:
        return [], False
    periods = periods_between(
        program.starts_at, until + timedelta(microseconds=1), rules.cadence, rules.zone
    )
    return [p.key for p in periods], bool(periods) and now < periods[-1].end


def facts_of(
    session: Session, program: Program, touched: Iterable[tuple[Audience, int]], now: datetime
) -> dict[tuple[Audience, int], Facts]:
    """Per participant: what it did in each period (net of reversals) and what it holds."""
    order, last_open = _period_order(program, now)
    rules = rules_of(program)
    out: dict[tuple[Audience, int], Facts] = {}
    by_kind: dict[Audience, list[int]] = defaultdict(list)
    for kind, pid in touched:
        by_kind[kind].append(pid)
    for kind, all_ids in by_kind.items():
        for start in range(0, len(all_ids), CHUNK):
            ids = sorted(set(all_ids[start : start + CHUNK]))
            figures: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
            for pid, key, points, units, revenue in session.execute(
                sa.select(
                    col(PeriodTotal.participant_id),
                    col(PeriodTotal.period_key),
                    col(PeriodTotal.points),
                    col(PeriodTotal.units),
                    col(PeriodTotal.revenue_minor),
                ).where(
                    col(PeriodTotal.program_id) == program.id,
                    col(PeriodTotal.kind) == kind.value,
                    col(PeriodTotal.participant_id).in_(ids),
                    col(PeriodTotal.period_key) != ALL_TIME,
                )
            ):
                figures[pid][key] = {
                    "points": points,
                    "units": units,
                    "revenue": revenue,
                    "events": {},
                    "challenges_won": 0,
                }
            # Events per type and period; an event whose ledger entry was reversed is undone.
            holder = col(Event.rep_id) if kind == Audience.REP else col(Event.partner_id)
            reversal = sa.orm.aliased(LedgerEntry)
            for pid, etype, key, n in session.execute(
                sa.select(holder, col(Event.type), col(Event.period_key), sa.func.count())
                .join(LedgerEntry, col(LedgerEntry.event_id) == col(Event.id))
                .outerjoin(reversal, col(reversal.reverses_id) == col(LedgerEntry.id))
                .where(
                    col(Event.program_id) == program.id,
                    holder.in_(ids),
                    col(reversal.id).is_(None),
                )
                .group_by(holder, col(Event.type), col(Event.period_key))
            ):
                slot = figures[pid].setdefault(
                    key, {"points": 0, "units": 0, "revenue": 0, "events": {}, "challenges_won": 0}
                )
                slot["events"][etype] = n
            for pid, settled_at in session.execute(
                sa.select(col(ChallengeResult.participant_id), col(ChallengeResult.settled_at))
                .join(Challenge, col(Challenge.id) == col(ChallengeResult.challenge_id))
                .where(
                    col(Challenge.program_id) == program.id,
                    col(ChallengeResult.kind) == kind.value,
                    col(ChallengeResult.participant_id).in_(ids),
                    col(ChallengeResult.won).is_(True),
                )
            ):
                key = rules.period_of(settled_at).key
                slot = figures[pid].setdefault(
                    key,
                    {"points": 0, "units": 0, "revenue": 0, "events": {}, "challenges_won": 0},
                )
                slot["challenges_won"] += 1
            held: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
            for pid, code, level, key in session.execute(
                sa.select(
                    col(BadgeAward.participant_id),
                    col(BadgeRow.code),
                    col(BadgeAward.level),
                    col(BadgeAward.period_key),
                )
                .join(BadgeRow, col(BadgeRow.id) == col(BadgeAward.badge_id))
                .where(
                    col(BadgeAward.program_id) == program.id,
                    col(BadgeAward.kind) == kind.value,
                    col(BadgeAward.participant_id).in_(ids),
                )
            ):
                held[pid].add((code, level, key))
            for pid in ids:
                periods = {k: PeriodFigures(**v) for k, v in figures.get(pid, {}).items()}
                # A period outside the program's list (data from before a date change) still
                # counts, at its place in time order.
                extra = sorted(k for k in periods if k not in set(order))
                out[(kind, pid)] = Facts(
                    kind, pid, periods, [*extra, *order], frozenset(held[pid]), last_open
                )
    return out


# --- awarding --------------------------------------------------------------------------------


def recipient_hash(identity: str, salt: str) -> str:
    """Open Badges IdentityHash: "sha256$" + hex SHA-256 of the identity followed by the salt."""
    return "sha256$" + hashlib.sha256((identity + salt).encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _recipients(session: Session, awards: list[Award]) -> dict[tuple[Audience, int], str]:
    """The email each award is issued to: the rep's own; a partner's first partner admin."""
    reps = {a.participant_id for a in awards if a.kind == Audience.REP}
    partners = {a.participant_id for a in awards if a.kind == Audience.PARTNER}
    out: dict[tuple[Audience, int], str] = {}
    if reps:
        for rid, email in session.execute(
            sa.select(col(Rep.id), col(Rep.email)).where(col(Rep.id).in_(reps))
        ):
            if email:
                out[(Audience.REP, rid)] = normalise_email(email)
    if partners:
        for pid, email in session.execute(
            sa.select(col(User.partner_id), col(User.email))
            .where(col(User.partner_id).in_(partners), col(User.role) == "partner_admin")
            .order_by(col(User.id).desc())  # the first admin wins: the dict keeps the last
        ):
            out[(Audience.PARTNER, pid)] = normalise_email(email)
    return out


def store_awards(
    session: Session, program: Program, awards: list[Award], source: str, now: datetime
) -> int:
    """Insert ``awards``, skipping any already there (the unique key); the number inserted."""
    if not awards:
        return 0
    ids = {
        code: bid
        for code, bid in session.execute(
            sa.select(col(BadgeRow.code), col(BadgeRow.id)).where(
                col(BadgeRow.program_id) == program.id
            )
        )
    }
    emails = _recipients(session, awards)
    rows = []
    for a in awards:
        if a.code not in ids:
            continue
        salt = secrets.token_hex(16)
        email = emails.get((a.kind, a.participant_id))
        rows.append(
            {
                "uid": secrets.token_urlsafe(18),
                "program_id": program.id,
                "badge_id": ids[a.code],
                "level": a.level,
                "kind": a.kind.value,
                "participant_id": a.participant_id,
                "period_key": a.period_key,
                "earned_in": a.earned_in,
                "place": a.place,
                "source": source,
                "earned_at": now,
                "recipient_type": "email" if email else "url",
                "recipient_hash": recipient_hash(email, salt) if email else "",
                "salt": salt,
                "revocation_reason": "",
            }
        )
    inserted = 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(rows), CHUNK):
        statement = (
            insert(BadgeAward)
            .values(rows[start : start + CHUNK])
            .on_conflict_do_nothing()
            .returning(col(BadgeAward.id))  # the rows written: rowcount is unreliable here
        )
        inserted += len(session.execute(statement).all())
    return inserted


def _watermark(session: Session, program_id: int) -> tuple[int, int]:
    row = session.get(BadgeWatermark, program_id)
    return (row.entry_id, row.challenge_result_id) if row else (0, 0)


def _advance_watermark(
    session: Session, program_id: int, entry_id: int, result_id: int, now: datetime
) -> None:
    """Move the watermark forward, never back (a slower concurrent run may finish later)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(BadgeWatermark)
        .values(program_id=program_id, entry_id=0, challenge_result_id=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    table = BadgeWatermark.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(table)
        .where(table.c.program_id == program_id)
        .values(
            entry_id=sa.func.greatest(table.c.entry_id, entry_id)
            if session.get_bind().dialect.name == "postgresql"
            else sa.func.max(table.c.entry_id, entry_id),
            challenge_result_id=sa.func.greatest(table.c.challenge_result_id, result_id)
            if session.get_bind().dialect.name == "postgresql"
            else sa.func.max(table.c.challenge_result_id, result_id),
            updated_at=now,
        )
    )


def evaluate_participants(
    db: Database, program: Program, touched: set[tuple[Audience, int]], now: datetime
) -> list[Award]:
    """Award what these participants have earned and not yet hold; the awards inserted."""
    if not touched:
        return []
    with db.session() as s:
        defs = [definition_of(r) for r in definitions(s, program)]
        if not defs:
            return []
        facts = facts_of(s, program, touched, now)
    due = [a for f in facts.values() for a in awards_due(defs, f)]
    if not due:
        return []
    with db.write() as s:
        store_awards(s, program, due, "entries", now)
    return due


def evaluate_new_entries(db: Database, program: Program, now: datetime) -> int:
    """Evaluate the participants touched by ledger entries (and settled challenge results)
    after the program's watermark, then move it. Idempotent and safe to run concurrently; the
    number of awards due (some may have been written by a concurrent run)."""
    assert program.id is not None
    with db.session() as s:
        entry_mark, result_mark = _watermark(s, program.id)
        rows = s.execute(
            sa.select(
                col(LedgerEntry.id), col(LedgerEntry.partner_id), col(LedgerEntry.rep_id)
            ).where(col(LedgerEntry.program_id) == program.id, col(LedgerEntry.id) > entry_mark)
        ).all()
        touched: set[tuple[Audience, int]] = set()
        newest_entry = entry_mark
        for entry_id, partner_id, rep_id in rows:
            newest_entry = max(newest_entry, entry_id)
            touched.add((Audience.PARTNER, partner_id))
            if rep_id is not None:
                touched.add((Audience.REP, rep_id))
        newest_result = result_mark
        results = s.execute(
            sa.select(
                col(ChallengeResult.id),
                col(ChallengeResult.kind),
                col(ChallengeResult.participant_id),
            )
            .join(Challenge, col(Challenge.id) == col(ChallengeResult.challenge_id))
            .where(col(Challenge.program_id) == program.id, col(ChallengeResult.id) > result_mark)
        ).all()
        for rid, kind, pid in results:
            newest_result = max(newest_result, rid)
            touched.add((Audience(kind), pid))
    if newest_entry == entry_mark and newest_result == result_mark:
        return 0
    due = evaluate_participants(db, program, touched, now)
    rewarded = award_challenge_rewards(db, program, now, after=result_mark) if results else 0
    with db.write() as s:
        _advance_watermark(s, program.id, newest_entry, newest_result, now)
    return len(due) + rewarded


def settle_badges(db: Database, program: Program, now: datetime) -> None:
    """``evaluate_new_entries`` after a commit, for writers: the write already stands, so a
    failure here is logged, never raised (the watermark stays, the next call catches up)."""
    try:
        evaluate_new_entries(db, program, now)
    except Exception:
        log.exception("badges could not be evaluated after a write; the next write retries")


def award_challenge_rewards(db: Database, program: Program, now: datetime, after: int = 0) -> int:
    """Give each winner of a settled challenge the challenge's reward badge (its top level),
    once per challenge: the award's period is "challenge-<id>"."""
    with db.session() as s:
        rows = s.execute(
            sa.select(
                col(ChallengeResult.kind),
                col(ChallengeResult.participant_id),
                col(ChallengeResult.challenge_id),
                col(ChallengeResult.settled_at),
                col(Challenge.reward_badge),
            )
            .join(Challenge, col(Challenge.id) == col(ChallengeResult.challenge_id))
            .where(
                col(Challenge.program_id) == program.id,
                col(ChallengeResult.won).is_(True),
                col(ChallengeResult.id) > after,
                col(Challenge.reward_badge).is_not(None),
            )
        ).all()
        defs = {r.code: definition_of(r) for r in definitions(s, program, active_only=False)}
    rules = rules_of(program)
    awards = []
    for kind, pid, challenge_id, settled_at, code in rows:
        d = defs.get(code)
        if d is None or d.audience.value != kind:
            continue
        awards.append(
            Award(
                code,
                d.steps[-1].name,
                d.audience,
                pid,
                f"challenge-{challenge_id}",
                rules.period_of(settled_at).key,
            )
        )
    if not awards:
        return 0
    with db.write() as s:
        return store_awards(s, program, awards, "challenge", now)


def evaluate_period_close(db: Database, program: Program, period_key: str, now: datetime) -> int:
    """Award the top-N finishes of a period that has ended, from its final ranking (the tie
    rule of every board). Safe to call again (a re-close) and concurrently: the awards
    inserted. A later scheduled job freezes snapshots and calls this at each period end."""
    rules = rules_of(program)
    period = parse_period_key(period_key, rules.cadence, rules.zone)
    if now < period.end:
        raise ValueError(
            f"period {period_key} has not ended yet; it ends at {period.end.isoformat()}"
        )
    inserted = 0
    with db.session() as s:
        defs = [definition_of(r) for r in definitions(s, program)]
        tops = [d for d in defs if d.criterion.kind == Kind.TOP_N]
        regions = [code for (code,) in s.execute(sa.select(col(Region.code)))]
        leagues = [code for (code,) in s.execute(sa.select(col(League.code)))]
        awards: list[Award] = []
        for d in tops:
            held = frozenset(
                (pid, level, key)
                for pid, level, key in s.execute(
                    sa.select(
                        col(BadgeAward.participant_id),
                        col(BadgeAward.level),
                        col(BadgeAward.period_key),
                    )
                    .join(BadgeRow, col(BadgeRow.id) == col(BadgeAward.badge_id))
                    .where(col(BadgeRow.program_id) == program.id, col(BadgeRow.code) == d.code)
                )
            )
            scope = d.criterion.board_scope
            scopes = (
                [Scope(ScopeKind.EVERYONE)]
                if scope == "everyone"
                else [
                    Scope(ScopeKind(scope), code)
                    for code in (regions if scope == "region" else leagues)
                ]
            )
            for sc in scopes:
                spec = BoardSpec(
                    BOARD_AUDIENCE[d.audience], sc, Metric(d.criterion.board_metric), period_key
                )
                standings = final_standings(load_rows(s, program, spec))
                for a in placement_awards(d, standings, period_key, held):
                    awards.append(a)
                    held = held | {(a.participant_id, a.level, a.period_key)}
    if awards:
        with db.write() as s:
            inserted = store_awards(s, program, awards, "period_close", now)
    return inserted


def revoke_award(db: Database, uid: str, reason: str, now: datetime) -> BadgeAward:
    """Revoke an award: its assertion answers 410 revoked from now on; the row stays."""
    with db.write() as s:
        award: BadgeAward | None = s.execute(
            sa.select(BadgeAward).where(col(BadgeAward.uid) == uid)
        ).scalar_one_or_none()
        if award is None:
            raise ValueError("there is no such award")
        if award.revoked_at is None:
            award.revoked_at = now
            award.revocation_reason = reason.strip()[:200] or "Revoked by the issuer"
            s.add(award)
        return award


# --- reading: gallery, showcase, earned page ----------------------------------------------------


LEVEL_NAMES = {"": N_("Badge"), "bronze": N_("Bronze"), "silver": N_("Silver"), "gold": N_("Gold")}
EVENT_NAMES = {
    "sale": N_("sale"),
    "training": N_("training"),
    "certification": N_("certification"),
    "outlet_opened": N_("new outlet"),
}
METRIC_NAMES = {"points": N_("points"), "units": N_("units"), "revenue": N_("revenue")}


def level_label(level: str, lang: str) -> str:
    return gettext(lang, LEVEL_NAMES.get(level, level.title()))


def _amount(measure: str, values: list[int], lang: str, currency: str) -> str:
    joined = " / ".join(
        formatting.money(v, currency, lang) if measure == "revenue" else formatting.number(v, lang)
        for v in values
    )
    match measure:
        case "units":
            return gettext(lang, "%(n)s units", n=joined)
        case "points":
            return gettext(lang, "%(n)s points", n=joined)
        case "sales":
            return gettext(lang, "%(n)s sales", n=joined)
    return joined


def criteria_text(d: BadgeDefinition, lang: str, currency: str) -> str:
    """The criteria as a sentence a participant understands, in ``lang``."""
    c = d.criterion
    values = [lv.threshold for lv in d.steps]
    levels = (
        " "
        + gettext(
            lang, "(%(levels)s)", levels=" / ".join(level_label(lv.name, lang) for lv in d.levels)
        )
        if d.levels
        else ""
    )
    per_period = c.window == Window.PERIOD
    match c.kind:
        case Kind.FIRST_EVENT:
            return gettext(
                lang,
                "Record your first %(event)s.",
                event=gettext(lang, EVENT_NAMES.get(c.event_type, c.event_type)),
            )
        case Kind.THRESHOLD:
            target = _amount(c.measure.value, values, lang, currency) + levels
            if per_period:
                return gettext(lang, "Reach %(target)s within one period.", target=target)
            return gettext(lang, "Reach %(target)s in total.", target=target)
        case Kind.STREAK:
            minimum = _amount(c.measure.value, [c.minimum], lang, currency)
            return gettext(
                lang,
                "Reach at least %(minimum)s in %(n)s periods in a row.",
                minimum=minimum,
                n=" / ".join(map(str, values)) + levels,
            )
        case Kind.TOP_N:
            metric = gettext(lang, METRIC_NAMES.get(c.board_metric, c.board_metric))
            n = " / ".join(map(str, values)) + levels
            if c.board_scope == "region":
                return gettext(
                    lang,
                    "Finish in the top %(n)s of your region by %(metric)s when a period closes.",
                    n=n,
                    metric=metric,
                )
            if c.board_scope == "league":
                return gettext(
                    lang,
                    "Finish in the top %(n)s of your league by %(metric)s when a period closes.",
                    n=n,
                    metric=metric,
                )
            return gettext(
                lang,
                "Finish in the top %(n)s by %(metric)s when a period closes.",
                n=n,
                metric=metric,
            )
        case Kind.CHALLENGE_WON:
            n = " / ".join(map(str, values)) + levels
            if per_period:
                return gettext(lang, "Win %(n)s challenges within one period.", n=n)
            return gettext(lang, "Win %(n)s challenges.", n=n)
        case Kind.TRAINING:
            n = " / ".join(map(str, values)) + levels
            if per_period:
                return gettext(
                    lang, "Complete %(n)s trainings or certifications within one period.", n=n
                )
            return gettext(lang, "Complete %(n)s trainings or certifications.", n=n)
    return ""


def progress_text(d: BadgeDefinition, p: Progress, lang: str, currency: str) -> str:
    if p.next is None:
        return gettext(lang, "Top level reached.")
    measure = d.criterion.measure.value
    if d.criterion.kind in (Kind.THRESHOLD,) or (
        d.criterion.kind == Kind.STREAK and measure in ("units", "points", "revenue", "sales")
    ):
        if d.criterion.kind == Kind.STREAK:
            return gettext(
                lang,
                "%(value)s of %(target)s periods in a row",
                value=p.value,
                target=p.next.threshold,
            )
        return gettext(
            lang,
            "%(value)s of %(target)s",
            value=_amount(measure, [p.value], lang, currency),
            target=_amount(measure, [p.next.threshold], lang, currency),
        )
    return gettext(
        lang,
        "%(value)s of %(target)s",
        value=formatting.number(p.value, lang),
        target=formatting.number(p.next.threshold, lang),
    )


@dataclass(frozen=True)
class Holding:
    uid: str
    level: str
    period_key: str
    earned_at: datetime
    place: int | None
    revoked: bool


@dataclass(frozen=True)
class GalleryItem:
    row: BadgeRow
    definition: BadgeDefinition
    name: str
    description: str
    criteria: str
    earned: list[Holding]
    progress: Progress | None
    progress_text: str
    rarity: int  # % of the audience holding it (any level), rounded
    holders: int
    locked_secret: bool  # a secret badge the viewer does not hold: shown as a mystery

    @property
    def art_level(self) -> str:
        """The level whose artwork the gallery shows: the best held, else the first."""
        if self.earned:
            order = ["", "bronze", "silver", "gold"]
            return max((h.level for h in self.earned), key=order.index)
        return self.definition.steps[0].name


def rarity(session: Session, program: Program) -> dict[int, tuple[int, int]]:
    """badge id -> (holders, % of the badge's audience holding it)."""
    reps = session.execute(sa.select(sa.func.count()).select_from(Rep)).scalar_one()
    partners = session.execute(sa.select(sa.func.count()).select_from(Partner)).scalar_one()
    out: dict[int, tuple[int, int]] = {}
    for bid, audience, holders in session.execute(
        sa.select(
            col(BadgeAward.badge_id),
            col(BadgeRow.audience),
            sa.func.count(sa.distinct(col(BadgeAward.participant_id))),
        )
        .join(BadgeRow, col(BadgeRow.id) == col(BadgeAward.badge_id))
        .where(col(BadgeAward.program_id) == program.id, col(BadgeAward.revoked_at).is_(None))
        .group_by(col(BadgeAward.badge_id), col(BadgeRow.audience))
    ):
        whole = reps if audience == "rep" else partners
        out[bid] = (holders, round(100 * holders / whole) if whole else 0)
    return out


def holdings(
    session: Session, program: Program, kind: Audience, pid: int
) -> dict[int, list[Holding]]:
    out: dict[int, list[Holding]] = defaultdict(list)
    for a in session.execute(
        sa.select(BadgeAward)
        .where(
            col(BadgeAward.program_id) == program.id,
            col(BadgeAward.kind) == kind.value,
            col(BadgeAward.participant_id) == pid,
            col(BadgeAward.revoked_at).is_(None),
        )
        .order_by(col(BadgeAward.earned_at), col(BadgeAward.id))
    ).scalars():
        out[a.badge_id].append(Holding(a.uid, a.level, a.period_key, a.earned_at, a.place, False))
    return out


def gallery(
    session: Session,
    program: Program,
    viewer: tuple[Audience, int] | None,
    lang: str,
    now: datetime,
    only_earned: bool = False,
) -> list[GalleryItem]:
    """Every badge (earned or locked) as ``viewer`` sees it; secret badges only when held."""
    rows = definitions(session, program)
    rare = rarity(session, program)
    held: dict[int, list[Holding]] = {}
    facts: Facts | None = None
    if viewer is not None:
        held = holdings(session, program, *viewer)
        facts = facts_of(session, program, [viewer], now).get(viewer)
    items = []
    for row in rows:
        d = definition_of(row)
        mine = held.get(row.id or 0, []) if viewer and d.audience == viewer[0] else []
        if only_earned and not mine:
            continue
        name, description = d.localized(lang)
        p = progress(d, facts) if facts is not None and d.audience == facts.kind else None
        holders, percent = rare.get(row.id or 0, (0, 0))
        items.append(
            GalleryItem(
                row=row,
                definition=d,
                name=name,
                description=description,
                criteria=criteria_text(d, lang, program.currency),
                earned=mine,
                progress=p,
                progress_text=progress_text(d, p, lang, program.currency) if p else "",
                rarity=percent,
                holders=holders,
                locked_secret=d.secret and not mine,
            )
        )
    return items


@dataclass(frozen=True)
class Earned:
    """One earned badge as its public page, share card and certificate show it."""

    award: BadgeAward
    row: BadgeRow
    definition: BadgeDefinition
    program: Program
    participant_code: str
    display_name: str  # "Anonymous" when the participant opted out
    company: str

    def title(self, lang: str) -> str:
        name = self.definition.localized(lang)[0]
        if self.award.level:
            return f"{name} · {level_label(self.award.level, lang)}"
        return name


def earned(session: Session, uid: str, lang: str = "en") -> Earned | None:
    award = session.execute(
        sa.select(BadgeAward).where(col(BadgeAward.uid) == uid)
    ).scalar_one_or_none()
    if award is None:
        return None
    row = session.get(BadgeRow, award.badge_id)
    program = session.get(Program, award.program_id)
    assert row is not None and program is not None
    anonymous = gettext(lang, "Anonymous")
    if award.kind == "rep":
        rep = session.get(Rep, award.participant_id)
        partner = session.get(Partner, rep.partner_id) if rep else None
        code = rep.code if rep else ""
        name = anonymous if rep is None or rep.anonymous else rep.name
        company = anonymous if partner is None or partner.anonymous else partner.name
    else:
        partner = session.get(Partner, award.participant_id)
        code = partner.code if partner else ""
        name = anonymous if partner is None or partner.anonymous else partner.name
        region = session.get(Region, partner.region_id) if partner else None
        company = ", ".join(
            x for x in ((partner.city if partner else ""), region.name if region else "") if x
        )
    return Earned(award, row, definition_of(row), program, code, name, company)


def participant_of(session: Session, code: str) -> tuple[Audience, int, str, bool] | None:
    """(kind, id, name, anonymous) of the rep or partner with this code."""
    code = code.strip().upper()
    rep = session.execute(sa.select(Rep).where(col(Rep.code) == code)).scalar_one_or_none()
    if rep is not None and rep.id is not None:
        return Audience.REP, rep.id, rep.name, rep.anonymous
    partner = session.execute(
        sa.select(Partner).where(col(Partner.code) == code)
    ).scalar_one_or_none()
    if partner is not None and partner.id is not None:
        return Audience.PARTNER, partner.id, partner.name, partner.anonymous
    return None


def find_definition(
    session: Session, program_code: str, badge_code: str
) -> tuple[Program, BadgeRow] | None:
    program = session.execute(
        sa.select(Program).where(col(Program.code) == program_code)
    ).scalar_one_or_none()
    if program is None:
        return None
    row = session.execute(
        sa.select(BadgeRow).where(
            col(BadgeRow.program_id) == program.id, col(BadgeRow.code) == badge_code
        )
    ).scalar_one_or_none()
    return (program, row) if row is not None else None


# --- the demo's badges ---------------------------------------------------------------------------


def _demo(code: str, name: str, name_id: str, description: str, description_id: str,
          **rest: Any) -> dict[str, Any]:  # fmt: skip
    return {"code": code, "name": name, "description": description,
            "translations": {"id": {"name": name_id, "description": description_id}}, **rest}  # fmt: skip


DEMO_BADGES: list[dict[str, Any]] = [
    _demo("first-sale", "First Sale", "Penjualan Pertama",
          "Your first sale recorded in the program.", "Penjualan pertama Anda tercatat di program.",
          icon="star", criterion={"kind": "first_event", "event_type": "sale"}),
    _demo("unit-mover", "Unit Mover", "Penggerak Unit",
          "Units sold since the program started.", "Unit terjual sejak program dimulai.",
          icon="rocket", levels=[{"name": "bronze", "threshold": 25}, {"name": "silver", "threshold": 100},
                                 {"name": "gold", "threshold": 250}],
          criterion={"kind": "threshold", "measure": "units", "window": "all"}),
    _demo("big-month", "Rp 100 Million Month", "Bulan Rp 100 Juta",
          "Sell Rp 100 million or more in one month.", "Jual Rp 100 juta atau lebih dalam satu bulan.",
          icon="bolt", repeat="period",
          criterion={"kind": "threshold", "measure": "revenue", "window": "period",
                     "threshold": 100_000_000 * 100}),
    _demo("on-fire", "On Fire", "Sedang Membara",
          "A sale in every month, month after month.", "Ada penjualan setiap bulan, berturut-turut.",
          icon="flame", levels=[{"name": "bronze", "threshold": 3}, {"name": "silver", "threshold": 6},
                                {"name": "gold", "threshold": 9}],
          criterion={"kind": "streak", "measure": "sales", "minimum": 1}),
    _demo("top-of-the-month", "Top of the Month", "Terbaik Bulan Ini",
          "A top finish on the points board when a month closes.",
          "Finis teratas di papan poin saat bulan ditutup.",
          icon="trophy", repeat="period",
          levels=[{"name": "bronze", "threshold": 10}, {"name": "silver", "threshold": 3},
                  {"name": "gold", "threshold": 1}],
          criterion={"kind": "top_n", "board_metric": "points", "board_scope": "everyone"}),
    _demo("regional-champion", "Regional Champion", "Juara Wilayah",
          "The partner with the most revenue in its region when a month closes.",
          "Mitra dengan pendapatan tertinggi di wilayahnya saat bulan ditutup.",
          icon="crown", audience="partner", repeat="period",
          criterion={"kind": "top_n", "board_metric": "revenue", "board_scope": "region",
                     "threshold": 1}),
    _demo("always-learning", "Always Learning", "Terus Belajar",
          "Product trainings and certifications completed.",
          "Pelatihan produk dan sertifikasi yang diselesaikan.",
          icon="book", levels=[{"name": "bronze", "threshold": 1}, {"name": "silver", "threshold": 3},
                               {"name": "gold", "threshold": 5}],
          criterion={"kind": "training"}),
    _demo("challenge-champion", "Challenge Champion", "Juara Tantangan",
          "Won a sales challenge.", "Memenangkan tantangan penjualan.",
          icon="target", criterion={"kind": "challenge_won", "threshold": 1}),
    _demo("outlet-pioneer", "Outlet Pioneer", "Perintis Gerai",
          "Opened a new outlet.", "Membuka gerai baru.",
          icon="handshake", audience="partner", secret=True,
          criterion={"kind": "first_event", "event_type": "outlet_opened"}),
]  # fmt: skip


def seed_demo_badges(db: Database, program: Program, now: datetime) -> int:
    """Define the demo's badges, award what the seeded history earned and the placements of
    every month that has ended; the awards made."""
    for data in DEMO_BADGES:
        save_definition(db, program, data, now)
    made = evaluate_new_entries(db, program, now)
    order, last_open = _period_order(program, now)
    for key in order[:-1] if last_open else order:
        made += evaluate_period_close(db, program, key, now)
    return made
