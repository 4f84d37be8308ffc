"""Leaderboards: which rows make a board, and keeping every watched board current.

route → ``Leaderboards.view`` → ranking backend (in-process index or Redis) → built lazily by
``load_rows`` from ``period_total`` (never from summing the ledger). Ingestion calls
``Leaderboards.apply`` after each commit with the participants whose totals changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import redis
import sqlalchemy as sa
from sqlmodel import col

from app.db import Database
from app.i18n import ANONYMOUS
from app.models import League, LedgerEntry, Partner, PeriodTotal, Program, Region, Rep, Target
from app.programs import rules_of
from app.ranking import InProcessRanking, RankingBackend, RedisRanking, board_key
from game.boards import (
    ALL_TIME,
    Audience,
    BoardSpec,
    Metric,
    Scope,
    ScopeKind,
    Totals,
    board_value,
)
from game.periods import parse_period_key, period_starting, previous_period
from game.ranking import Row, Standing

log = logging.getLogger(__name__)
T = TypeVar("T")
Move = tuple[str, int, int, int]
"""(board, participant id, value, seq): one participant's new place on one board."""

KIND = {Audience.REPS: "rep", Audience.PARTNERS: "partner"}
# A view looks at the ledger at most this often (seconds): boards lag a write made by another
# process by at most this much; a write made by this process is folded in at its commit.
VIEW_MAX_AGE = 0.1
# Personal alerts look at most this many participants behind a mover's new place: one sale
# that jumps a rep past thousands must not fan out thousands of toasts (the board shows it).
MAX_PASSED = 50
AUDIENCE = {"rep": Audience.REPS, "partner": Audience.PARTNERS}


def baseline_key(program: Program, period_key: str) -> str | None:
    """The period a participant's growth is measured against, or None for all-time."""
    if period_key == ALL_TIME:
        return None
    rules = rules_of(program)
    period = parse_period_key(period_key, rules.cadence, rules.zone)
    if program.growth_baseline == "last_year":
        first = period.first_day.replace(year=period.first_day.year - 1)
        return period_starting(first, rules.cadence, rules.zone).key
    return previous_period(period, rules.zone).key


# The running totals a board value is made from, in the order of game.boards.Totals' fields.
TOTALS_COLUMNS = (
    col(PeriodTotal.points),
    col(PeriodTotal.units),
    col(PeriodTotal.revenue_minor),
    col(PeriodTotal.points_seq),
    col(PeriodTotal.units_seq),
    col(PeriodTotal.revenue_seq),
)


def scope_filter(query: Any, spec: BoardSpec, participant: Any) -> Any:
    """Restrict a totals query to the board's scope (region, league, team)."""
    if spec.scope.kind == ScopeKind.EVERYONE:
        return query
    if spec.audience == Audience.REPS:
        query = query.join(Rep, col(Rep.id) == participant).join(
            Partner, col(Partner.id) == col(Rep.partner_id)
        )
    else:
        query = query.join(Partner, col(Partner.id) == participant)
    match spec.scope.kind:
        case ScopeKind.REGION:
            query = query.join(Region, col(Region.id) == col(Partner.region_id))
            return query.where(col(Region.code) == spec.scope.code)
        case ScopeKind.LEAGUE:
            query = query.join(League, col(League.id) == col(Partner.league_id))
            return query.where(col(League.code) == spec.scope.code)
        case ScopeKind.TEAM:
            return query.where(col(Partner.code) == spec.scope.code)
    return query


def load_rows(session: Any, program: Program, spec: BoardSpec) -> Iterator[Row]:
    """Every (participant id, value, seq) on the board, straight from the running totals."""
    kind = KIND[spec.audience]
    pid = col(PeriodTotal.participant_id)
    query = sa.select(pid, *TOTALS_COLUMNS).where(
        col(PeriodTotal.program_id) == program.id,
        col(PeriodTotal.period_key) == spec.period_key,
        col(PeriodTotal.kind) == kind,
    )
    query = scope_filter(query, spec, pid)
    targets: dict[int, int] = {}
    baselines: dict[int, int] = {}
    if spec.metric == Metric.TARGET_PCT:
        targets = dict(
            session.execute(
                sa.select(col(Target.participant_id), col(Target.revenue_minor)).where(
                    col(Target.program_id) == program.id,
                    col(Target.period_key) == spec.period_key,
                    col(Target.kind) == kind,
                )
            ).all()
        )
    elif spec.metric == Metric.GROWTH_PCT:
        base = baseline_key(program, spec.period_key)
        baselines = dict(
            session.execute(
                sa.select(col(PeriodTotal.participant_id), col(PeriodTotal.revenue_minor)).where(
                    col(PeriodTotal.program_id) == program.id,
                    col(PeriodTotal.period_key) == base,
                    col(PeriodTotal.kind) == kind,
                )
            ).all()
        )
    for row in session.execute(query).yield_per(20_000):
        totals = Totals(row[1], row[2], row[3], row[4], row[5], row[6])
        valued = board_value(spec.metric, totals, targets.get(row[0]), baselines.get(row[0]))
        if valued is not None:
            yield row[0], valued[0], valued[1]


@dataclass(frozen=True)
class BoardRow:
    """One line of a board as a page shows it."""

    rank: int
    position: int
    tied: bool
    participant_id: int
    code: str
    name: str
    affiliation: str  # the rep's partner, or the partner's city and region
    value: int
    is_you: bool


@dataclass(frozen=True)
class BoardView:
    spec: BoardSpec
    size: int
    top: list[BoardRow]
    around: list[BoardRow]  # the window around "you" when you are not in the top rows
    you: BoardRow | None


@dataclass(frozen=True)
class BoardMoves:
    """One change of a board seen from its movers (for personal alerts): their standings
    before and after, and the current standings of those they may have passed."""

    board: str
    spec: BoardSpec
    before: dict[int, Standing | None]
    after: dict[int, Standing]
    passed: list[Standing]


class BoardSource(Protocol):
    """Boards that are not a (scope, metric, period) of the running totals but are ranked and
    kept current the same way: challenge standings. Its boards' names start with ``prefix``."""

    prefix: str

    def load(self, board: str) -> list[Row]:
        """Every (participant id, value, seq) on the board, from the store."""

    def moves(self, program: Program, participants: set[tuple[str, int]], after: int) -> list[Move]:
        """The new places of ``participants`` (kind, id), whose ledger entries after ``after``
        a catch-up is folding in, on this source's boards."""


@dataclass
class _Program:
    program: Program
    watermark: int = 0  # every ledger entry up to this id is folded into the held boards
    announced: int = 0  # changes up to this entry were announced though Redis was away
    checked: float = 0.0  # when the ledger was last looked at (monotonic seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Leaderboards:
    """Every board of every program, kept current from the ledger.

    Boards are built on first view from ``period_total`` and then moved by ``catch_up``, which
    reads the ledger entries after this process's watermark (a primary-key range scan) and
    advances the participants they touched. It runs after each commit and before each view, so
    writes from other processes (``podium import``, other app servers) show up too. Advances
    carry the ledger id that reached the value and never go backwards, so racing writers
    cannot leave a stale value behind.
    """

    def __init__(
        self,
        db: Database,
        redis_client: redis.Redis | None = None,
        redis_prefix: str = "podium:board:",
        view_max_age: float = VIEW_MAX_AGE,
        **held: Any,
    ) -> None:
        self.db = db
        self.view_max_age = view_max_age
        self._specs: dict[str, tuple[int, BoardSpec]] = {}
        self._programs: dict[int, _Program] = {}
        self._guard = threading.Lock()
        self.redis: RedisRanking | None = (
            RedisRanking(redis_client, redis_prefix) if redis_client else None
        )
        self.backend: RankingBackend = self.redis or InProcessRanking(self._load, **held)
        # Other kinds of boards kept by the same backend and catch-up (see ``BoardSource``).
        self.sources: list[BoardSource] = []
        self._versions: dict[
            str, int
        ] = {}  # in-process: the version each source board was built at
        # Called with the ids of the boards an advance may have moved (live pushes listen
        # here). Called from whichever thread advanced; a listener must not block or raise.
        self.on_change: list[Callable[[Program, set[str]], None]] = []
        # Personal alerts: the everyone board of reps for these metrics reports its movers.
        # Same rules as ``on_change`` (any thread; must not block or raise).
        self.on_moves: list[Callable[[Program, list[BoardMoves]], None]] = []
        self.moves_metrics: Callable[[Program], set[Metric]] = lambda program: {Metric.POINTS}

    # naming ------------------------------------------------------------------------------------

    def board_id(self, program_id: int, spec: BoardSpec) -> str:
        board = board_key(
            program_id, spec.period_key, f"{spec.audience.value}.{spec.scope}", spec.metric.value
        )
        if board not in self._specs:
            self._specs[board] = (program_id, spec)
        return board

    def _state(self, program: Program) -> _Program:
        assert program.id is not None
        with self._guard:
            state = self._programs.get(program.id)
            if state is None:
                state = self._programs[program.id] = _Program(program, self._max_entry(program.id))
            else:
                state.program = program  # pick up edited rules (growth baseline)
            return state

    def _max_entry(self, program_id: int) -> int:
        with self.db.session() as s:
            return int(
                s.execute(
                    sa.select(sa.func.coalesce(sa.func.max(col(LedgerEntry.id)), 0)).where(
                        col(LedgerEntry.program_id) == program_id
                    )
                ).scalar_one()
            )

    # building ----------------------------------------------------------------------------------

    def _load(self, board: str) -> list[Row]:
        for source in self.sources:
            if board.startswith(source.prefix):
                return source.load(board)
        program_id, spec = self._specs[board]
        with self.db.session() as s:
            program = s.get(Program, program_id)
            assert program is not None
            return list(load_rows(s, program, spec))

    def _ensure_built(self, program: Program, board: str, version: int | None = None) -> None:
        """Build a board once for every process in Redis (the in-process backend builds through
        its loader on first read). A board with a ``version`` is built again when the version
        changes: its rows changed without a ledger entry (a challenge launched or joined)."""
        if self.redis is None:
            if version is not None and self._versions.get(board) != version:
                self.backend.drop(board)  # the next read builds it from the store
                self._versions[board] = version
            return
        if self.redis.is_built(board, version):
            return
        client = self.redis._client
        lock = f"{self.redis.keys(board)[0]}:lock"
        if client.set(lock, "1", nx=True, ex=120):
            try:
                since = self._max_entry(program.id)  # type: ignore[arg-type]
                self.redis.replace(board, self._load(board))
                self.redis.mark_built(board, version)
                # Entries committed while the rows were read were skipped by their writers
                # (the board was not built yet): fold them in now.
                changed = self._changed_since(program.id, since)[0]  # type: ignore[arg-type]
                self._advance(program, changed, since, only=board)
            finally:
                client.delete(lock)
            return
        for _ in range(600):  # another process is building it
            if self.redis.is_built(board, version):
                return
            time.sleep(0.05)
        raise TimeoutError(f"board {board} is still being built by another process")

    # keeping current ---------------------------------------------------------------------------

    def _changed_since(self, program_id: int, after: int) -> tuple[set[tuple[str, str, int]], int]:
        with self.db.session() as s:
            rows = s.execute(
                sa.select(
                    col(LedgerEntry.id),
                    col(LedgerEntry.period_key),
                    col(LedgerEntry.partner_id),
                    col(LedgerEntry.rep_id),
                ).where(col(LedgerEntry.program_id) == program_id, col(LedgerEntry.id) > after)
            ).all()
        changed: set[tuple[str, str, int]] = set()
        newest = after
        for entry_id, period_key, partner_id, rep_id in rows:
            newest = max(newest, entry_id)
            for key in (period_key, ALL_TIME):
                changed.add((key, "partner", partner_id))
                if rep_id is not None:
                    changed.add((key, "rep", rep_id))
        return changed, newest

    def catch_up(self, program: Program, max_age: float = 0.0) -> int:
        """Fold every ledger entry after the watermark into the boards; the entries seen.

        ``max_age`` lets a reader skip the look at the ledger when it looked that recently:
        views pass a fraction of a second (a busy board would otherwise query the ledger on
        every request), writers pass 0 after their own commit."""
        state = self._state(program)
        if max_age and time.monotonic() - state.checked < max_age:
            return 0
        with state.lock:
            state.checked = time.monotonic()
            changed, newest = self._changed_since(program.id, state.watermark)  # type: ignore[arg-type]
            if changed:
                try:
                    self._advance(
                        program,
                        changed,
                        state.watermark,
                        announce_failure=newest > state.announced,
                    )
                except redis.RedisError:
                    state.announced = max(state.announced, newest)
                    # Redis is away: keep the watermark, so these entries are folded in once it
                    # is back; meanwhile views read a board built from the store (see view).
                    log.warning("boards: Redis unavailable, %d changes wait", len(changed))
                    return 0
            seen = newest - state.watermark
            state.watermark = newest
        return seen

    def _advance(
        self,
        program: Program,
        changed: set[tuple[str, str, int]],
        after: int,
        only: str | None = None,
        announce_failure: bool = False,
    ) -> None:
        if not changed:
            return
        with self.db.session() as s:
            facts = _facts(s, program, changed)
        moves: list[Move] = []
        tracked: dict[str, tuple[BoardSpec, set[int]]] = {}
        metrics = self.moves_metrics(program) if self.on_moves else set()
        program_id = program.id
        assert program_id is not None
        for (period_key, kind, pid), (totals, places, target, baseline) in facts.items():
            audience = AUDIENCE[kind]
            for scope in places:
                for metric in Metric:
                    if period_key == ALL_TIME and metric.is_percentage:
                        continue
                    board = self.board_id(
                        program_id, BoardSpec(audience, scope, metric, period_key)
                    )
                    if only is not None and board != only:
                        continue
                    valued = board_value(metric, totals, target, baseline)
                    if valued is not None:
                        moves.append((board, pid, valued[0], valued[1]))
                        if (
                            metric in metrics
                            and scope.kind == ScopeKind.EVERYONE
                            and audience == Audience.REPS
                            and period_key != ALL_TIME
                        ):
                            spec = BoardSpec(audience, scope, metric, period_key)
                            tracked.setdefault(board, (spec, set()))[1].add(pid)
        if self.sources:
            participants = {(kind, pid) for _, kind, pid in changed}
            for source in self.sources:
                moves += [
                    move
                    for move in source.moves(program, participants, after)
                    if only is None or move[0] == only
                ]
        before = self._standings_before(tracked)
        if self.redis is not None:
            try:
                self.redis.advance_many(moves)
            except redis.RedisError:
                # Views rank from the store meanwhile, so live pages can still show this
                # write: announce it (once, ``announce_failure``: a re-render's own catch-up
                # fails the same way and must not announce it again, in a loop).
                if moves and announce_failure:
                    for listener in self.on_change:
                        listener(program, {move[0] for move in moves})
                raise
        else:
            for board, pid, value, seq in moves:
                self.backend.advance(board, pid, value, seq)
        if moves and self.on_change:
            boards = {move[0] for move in moves}
            for listener in self.on_change:
                listener(program, boards)
        if before:
            seen = self._moves_after(tracked, before)
            if seen:
                for moves_listener in self.on_moves:
                    moves_listener(program, seen)

    def _standings_before(
        self, tracked: dict[str, tuple[BoardSpec, set[int]]]
    ) -> dict[str, dict[int, Standing | None]]:
        """The movers' standings before an advance, on the tracked boards already held: a
        board built now would be built from totals that already include the change."""
        out: dict[str, dict[int, Standing | None]] = {}
        for board, (_spec, pids) in tracked.items():
            try:
                if self.redis is not None:
                    if not self.redis.is_built(board):
                        continue
                elif not isinstance(self.backend, InProcessRanking) or (
                    board not in self.backend.held()
                ):
                    continue
                out[board] = {pid: self.backend.standing(board, pid) for pid in pids}
            except Exception as exc:  # alerts are a nicety: never in the way of the boards
                # A warning, not a traceback: while Redis is away this happens on every write.
                log.warning("boards: no standings for alerts (%s)", exc)
        return out

    def _moves_after(
        self,
        tracked: dict[str, tuple[BoardSpec, set[int]]],
        before: dict[str, dict[int, Standing | None]],
    ) -> list[BoardMoves]:
        seen = []
        for board, was in before.items():
            try:
                after: dict[int, Standing] = {}
                passed: list[Standing] = []
                for pid, old in was.items():
                    now = self.backend.standing(board, pid)
                    if now is None:
                        continue
                    after[pid] = now  # kept even when not moving up: a tier may be reached
                    if old is not None and now.position >= old.position:
                        continue  # did not move up: passed nobody
                    # Those now just behind the mover, down to where it was.
                    span = MAX_PASSED if old is None else old.position - now.position
                    passed += self.backend.page(board, now.position + 1, min(span, MAX_PASSED))
                if after:
                    seen.append(BoardMoves(board, tracked[board][0], was, after, passed))
            except Exception as exc:
                log.warning("boards: no standings for alerts (%s)", exc)
        return seen

    # reading -----------------------------------------------------------------------------------

    def settle(self, program: Program) -> None:
        """``catch_up`` after a commit, for writers: the write is already stored, so a board
        backend that is down (Redis gone) must not turn it into an error. The watermark has
        not moved, so the next catch-up folds the entries in."""
        try:
            self.catch_up(program)
        except Exception:
            log.exception("boards could not catch up after a write; they will on the next view")

    def version(self, program: Program) -> int:
        """A number that changes whenever any board of the program may have changed (the
        newest ledger entry folded in): a cache key for anything derived from the boards."""
        self.catch_up(program, self.view_max_age)
        return self._state(program).watermark

    def fresh_versions(self) -> tuple[tuple[int, int], ...] | None:
        """``versions()`` without I/O when every program was checked recently enough, else
        None (then call ``versions()`` from a worker thread)."""
        now = time.monotonic()
        with self._guard:
            states = list(self._programs.values())
        if not states or any(now - st.checked >= self.view_max_age for st in states):
            return None
        return tuple((st.program.id, st.watermark) for st in states)  # type: ignore[misc]

    def versions(self) -> tuple[tuple[int, int], ...]:
        """The version of every program this process has shown: a cache key for pages."""
        with self._guard:
            known = [state.program for state in self._programs.values()]
        return tuple((p.id, self.version(p)) for p in known)  # type: ignore[misc]

    def view(
        self,
        program: Program,
        spec: BoardSpec,
        you: int | None = None,
        limit: int = 10,
        around: int = 5,
    ) -> BoardView:
        board = self.board_id(program.id, spec)  # type: ignore[arg-type]
        top, size, mine, window = self.ranked(
            program, board, lambda backend, b: _query(backend, b, you, limit, around)
        )
        shown = top + window
        with self.db.session() as s:
            labels = labels_of(s, spec.audience, {st.participant_id for st in shown})
        rows = [_row(st, labels, you) for st in top]
        near = [_row(st, labels, you) for st in window]
        you_row = next((r for r in rows + near if r.is_you), None)
        if you_row is None and mine is not None:
            with self.db.session() as s:
                labels.update(labels_of(s, spec.audience, {mine.participant_id}))
            you_row = _row(mine, labels, you)
        return BoardView(spec=spec, size=size, top=rows, around=near, you=you_row)

    def ranked(
        self,
        program: Program,
        board: str,
        query: Callable[[RankingBackend, str], T],
        version: int | None = None,
    ) -> T:
        """Ask one board anything, current as a view is, built on first use; with Redis away,
        asked of a board built from the store for this one question."""
        self.catch_up(program, self.view_max_age)
        try:
            self._ensure_built(program, board, version)
            return query(self.backend, board)
        except redis.RedisError:
            log.warning("boards: Redis unavailable, ranking %s from the store", board)
            return query(InProcessRanking(self._load, max_boards=1), board)

    def standing_of(
        self, program: Program, spec: BoardSpec, participant_id: int
    ) -> Standing | None:
        board = self.board_id(program.id, spec)  # type: ignore[arg-type]
        return self.ranked(program, board, lambda backend, b: backend.standing(b, participant_id))


def _query(
    backend: RankingBackend, board: str, you: int | None, limit: int, around: int
) -> tuple[list[Standing], int, Standing | None, list[Standing]]:
    """Top rows, board size, your standing and the window around you (when not in the top)."""
    top = backend.top(board, limit)
    size = backend.count(board)
    mine = backend.standing(board, you) if you is not None else None
    window = (
        backend.around(board, you, around)
        if you is not None and mine is not None and mine.position >= limit
        else []
    )
    return top, size, mine, window


def _row(st: Standing, labels: dict[int, tuple[str, str, str]], you: int | None) -> BoardRow:
    code, name, affiliation = labels.get(st.participant_id, ("?", "?", ""))
    return BoardRow(
        rank=st.rank,
        position=st.position,
        tied=st.tied,
        participant_id=st.participant_id,
        code=code,
        name=name,
        affiliation=affiliation,
        value=st.value,
        is_you=st.participant_id == you,
    )


def labels_of(session: Any, audience: Audience, ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """code, display name ("Anonymous" for those who opted out) and affiliation by id."""
    if not ids:
        return {}
    if audience == Audience.REPS:
        rows = session.execute(
            sa.select(
                col(Rep.id),
                col(Rep.code),
                col(Rep.name),
                col(Rep.anonymous),
                col(Partner.name),
                col(Partner.anonymous),
            )
            .join(Partner, col(Partner.id) == col(Rep.partner_id))
            .where(col(Rep.id).in_(ids))
        ).all()
        return {
            r[0]: (r[1], ANONYMOUS if r[3] else r[2], ANONYMOUS if r[5] else r[4]) for r in rows
        }
    rows = session.execute(
        sa.select(
            col(Partner.id),
            col(Partner.code),
            col(Partner.name),
            col(Partner.anonymous),
            col(Partner.city),
            col(Region.name),
        )
        .join(Region, col(Region.id) == col(Partner.region_id))
        .where(col(Partner.id).in_(ids))
    ).all()
    return {
        r[0]: (r[1], ANONYMOUS if r[3] else r[2], ", ".join(x for x in (r[4], r[5]) if x))
        for r in rows
    }


# Participant ids per IN list: PostgreSQL takes at most 65,535 parameters in one statement.
FACTS_CHUNK = 5000


def _facts(
    session: Any, program: Program, changed: set[tuple[str, str, int]]
) -> dict[tuple[str, str, int], tuple[Totals, list[Scope], int | None, int | None]]:
    """For each changed (period, kind, participant): its totals now, the scopes it belongs
    to, its target and its baseline revenue."""
    out: dict[tuple[str, str, int], tuple[Totals, list[Scope], int | None, int | None]] = {}
    ids = {c[2] for c in changed}
    if len(ids) > FACTS_CHUNK:  # a close's bonuses or a big import touch 100k+ participants
        ordered = sorted(ids)
        for start in range(0, len(ordered), FACTS_CHUNK):
            part = set(ordered[start : start + FACTS_CHUNK])
            out.update(_facts(session, program, {c for c in changed if c[2] in part}))
        return out
    periods = {c[0] for c in changed}
    totals = {
        (r[0], r[1], r[2]): Totals(*r[3:])
        for r in session.execute(
            sa.select(
                col(PeriodTotal.period_key),
                col(PeriodTotal.kind),
                col(PeriodTotal.participant_id),
                *TOTALS_COLUMNS,
            ).where(
                col(PeriodTotal.program_id) == program.id,
                col(PeriodTotal.period_key).in_(periods),
                col(PeriodTotal.participant_id).in_(ids),
            )
        )
    }
    places = _places(
        session,
        {c[2] for c in changed if c[1] == "rep"},
        {c[2] for c in changed if c[1] == "partner"},
    )
    targets = {
        (r[0], r[1], r[2]): r[3]
        for r in session.execute(
            sa.select(
                col(Target.period_key),
                col(Target.kind),
                col(Target.participant_id),
                col(Target.revenue_minor),
            ).where(
                col(Target.program_id) == program.id,
                col(Target.period_key).in_(periods),
                col(Target.participant_id).in_(ids),
            )
        )
    }
    bases = {p: baseline_key(program, p) for p in periods}
    baselines = {
        (r[0], r[1], r[2]): r[3]
        for r in session.execute(
            sa.select(
                col(PeriodTotal.period_key),
                col(PeriodTotal.kind),
                col(PeriodTotal.participant_id),
                col(PeriodTotal.revenue_minor),
            ).where(
                col(PeriodTotal.program_id) == program.id,
                col(PeriodTotal.period_key).in_({b for b in bases.values() if b}),
                col(PeriodTotal.participant_id).in_(ids),
            )
        )
    }
    for period_key, kind, pid in changed:
        found = totals.get((period_key, kind, pid))
        if found is None or (kind, pid) not in places:
            continue
        base = bases[period_key]
        out[(period_key, kind, pid)] = (
            found,
            places[(kind, pid)],
            targets.get((period_key, kind, pid)),
            baselines.get((base, kind, pid)) if base else None,
        )
    return out


def _places(
    session: Any, rep_ids: set[int], partner_ids: set[int]
) -> dict[tuple[str, int], list[Scope]]:
    """Every scope a participant appears in: everyone, its region, its league, (reps) its team."""
    out: dict[tuple[str, int], list[Scope]] = {}
    query = (
        sa.select(col(Partner.id), col(Partner.code), col(Region.code), col(League.code))
        .join(Region, col(Region.id) == col(Partner.region_id))
        .join(League, col(League.id) == col(Partner.league_id))
    )
    if partner_ids:
        for pid, _code, region, league in session.execute(
            query.where(col(Partner.id).in_(partner_ids))
        ):
            out[("partner", pid)] = [
                Scope(ScopeKind.EVERYONE),
                Scope(ScopeKind.REGION, region),
                Scope(ScopeKind.LEAGUE, league),
            ]
    if rep_ids:
        rows = session.execute(
            query.add_columns(col(Rep.id))
            .join(Rep, col(Rep.partner_id) == col(Partner.id))
            .where(col(Rep.id).in_(rep_ids))
        )
        for _pid, code, region, league, rep_id in rows:
            out[("rep", rep_id)] = [
                Scope(ScopeKind.EVERYONE),
                Scope(ScopeKind.REGION, region),
                Scope(ScopeKind.LEAGUE, league),
                Scope(ScopeKind.TEAM, code),
            ]
    return out
