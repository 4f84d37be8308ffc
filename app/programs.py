"""Loading a program's stored rules into the domain's terms."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.models import Program
from game.periods import Cadence
from game.program import ProgramRules
from game.scoring import ScoringRules
from game.tiers import TierLadder


def rules_of(program: Program) -> ProgramRules:
    return ProgramRules(
        code=program.code,
        starts_at=program.starts_at,
        ends_at=program.ends_at,
        cadence=Cadence(program.cadence),
        zone=ZoneInfo(program.timezone),
        scoring=ScoringRules.from_data(program.scoring),
        ladder=TierLadder.from_data(program.tiers),
    )


def current_program(session: Session, code: str | None = None) -> Program | None:
    """The program named by ``code``, or the most recently created one."""
    query = select(Program)
    query = (
        query.where(col(Program.code) == code) if code else query.order_by(col(Program.id).desc())
    )
    return session.exec(query.limit(1)).first()
