"""Leaderboard pages: a board with filters, a participant's standings and rank history, past
periods, TV mode (a secret link, no login) and the admin page that hands TV links out.

Every page works as plain links and GET forms; htmx only swaps a named block (``board_area``,
``tv_board``) of the same template, so the page and its fragment can never disagree.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_decimal
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy.orm import aliased
from sqlmodel import col
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app import formatting
from app.accounts import Login, Role
from app.boards import KIND, BoardRow, BoardView, baseline_key, labels_of, scope_filter
from app.context import AppState, is_htmx, login_of, render, state_of
from app.i18n import ANONYMOUS, N_, Refusal, gettext
from app.models import League, Partner, PeriodTotal, Program, Region, Rep, Target, TvLink
from app.participants import find_participant
from app.programs import current_program, rules_of
from app.routes.pages import base_context, language_of
from game.boards import ALL_TIME, Audience, BoardSpec, Metric, Scope, ScopeKind
from game.periods import Period, parse_period_key, periods_between

# Message ids (English); pages translate them with ``_()`` / ``gettext`` in the reader's language.
TIE_RULE = N_(
    "Equal values share a rank (1, 2, 2, 4); within a tie, whoever reached the value first is listed first."
)
AUDIENCE_LABEL = {Audience.REPS: N_("Reps"), Audience.PARTNERS: N_("Partners")}
METRIC_LABEL = {
    Metric.POINTS: N_("Points"),
    Metric.UNITS: N_("Units sold"),
    Metric.REVENUE: N_("Revenue"),
    Metric.TARGET_PCT: N_("%% of target"),
    Metric.GROWTH_PCT: N_("Growth %%"),
}
PAGE_LIMIT = 10  # the top rows of a board page
TV_LIMIT = 12  # what a 1080p office TV shows in type readable across the room
HISTORY_PERIODS = 24  # the rank chart's reach: every period of a monthly program's two years
MAX_PARAM = 64  # longer query values are cut before they are echoed in a message


# -- reading a board request --------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """The regions and leagues a board can be scoped to, code → name, in display order."""

    regions: dict[str, str]
    leagues: dict[str, str]


def places_of(session: Any) -> Places:
    regions = session.execute(
        sa.select(col(Region.code), col(Region.name)).order_by(col(Region.name))
    ).all()
    leagues = session.execute(
        sa.select(col(League.code), col(League.name)).order_by(
            col(League.position), col(League.name)
        )
    ).all()
    return Places({code: name for code, name in regions}, {code: name for code, name in leagues})


def program_periods(program: Program, now: datetime) -> list[Period]:
    """The program's periods from its start up to the one running now, oldest first.

    Before the start that is the first period, after the end every period: a board always has
    a period to show."""
    rules = rules_of(program)
    end = min(max(now, program.starts_at), program.ends_at)
    end = max(end, program.starts_at + timedelta(microseconds=1))
    return periods_between(program.starts_at, end, rules.cadence, rules.zone)


class BoardRequestError(Refusal, ValueError):
    """A board that cannot be shown, said so the person can pick one that can."""


def error_text(exc: ValueError, lang: str) -> str:
    """A refusal in the reader's language; the domain's own parsing errors (``game/``, English)
    are framed by a translated sentence."""
    if isinstance(exc, Refusal):
        return exc.text(lang)
    return gettext(lang, "This cannot be used: %(detail)s", detail=sentence(str(exc)))


def sentence(message: str) -> str:
    """A message as a sentence: capitalised (codes keep their case), with a full stop."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def _period_key(program: Program, periods: list[Period], wanted: str) -> str:
    text = wanted.strip()
    if not text:
        return periods[-1].key
    if text.lower() == ALL_TIME:
        return ALL_TIME
    rules = rules_of(program)
    key = parse_period_key(text.upper(), rules.cadence, rules.zone).key
    if key not in {p.key for p in periods}:
        raise BoardRequestError(
            N_(
                "Period %(key)s is not part of this program so far; pick one from %(first)s to %(last)s, or all."
            ),
            key=key,
            first=periods[0].key,
            last=periods[-1].key,
        )
    return key


def _check_scope(session: Any, scope: Scope, places: Places) -> None:
    """Refuse a scope naming a region, league or partner that does not exist: an empty board
    would look like nobody sold anything, which is a lie."""
    code = scope.code or ""
    match scope.kind:
        case ScopeKind.REGION if code not in places.regions:
            raise BoardRequestError(
                N_("There is no region '%(code)s'; regions are %(known)s."),
                code=code,
                known=", ".join(sorted(places.regions)),
            )
        case ScopeKind.LEAGUE if code not in places.leagues:
            raise BoardRequestError(
                N_("There is no league '%(code)s'; leagues are %(known)s."),
                code=code,
                known=", ".join(places.leagues),
            )
        case ScopeKind.TEAM:
            found = session.execute(
                sa.select(col(Partner.id)).where(sa.func.upper(col(Partner.code)) == code)
            ).first()
            if found is None:
                raise BoardRequestError(
                    N_("There is no partner '%(code)s' to show the team board of."), code=code
                )


def parse_board(
    session: Any,
    program: Program,
    periods: list[Period],
    places: Places,
    *,
    period: str = "",
    audience: str = "",
    scope: str = "",
    metric: str = "",
) -> BoardSpec:
    """The board a request asks for; empty values take the defaults (current period, reps,
    everyone, points). Raises ValueError with a message a person can act on."""
    period_key = _period_key(program, periods, period[:MAX_PARAM])
    audience = audience.strip().lower()[:MAX_PARAM] or Audience.REPS.value
    try:
        who = Audience(audience)
    except ValueError:
        raise BoardRequestError(
            N_("Unknown audience '%(value)s'; use reps or partners."), value=audience
        ) from None
    where = Scope.parse(scope[:MAX_PARAM].strip() or ScopeKind.EVERYONE.value)
    _check_scope(session, where, places)
    metric = metric.strip().lower()[:MAX_PARAM] or Metric.POINTS.value
    try:
        measure = Metric(metric)
    except ValueError:
        raise BoardRequestError(
            N_("Unknown metric '%(value)s'; use %(known)s."),
            value=metric,
            known=", ".join(m.value for m in Metric),
        ) from None
    if period_key == ALL_TIME and measure == Metric.TARGET_PCT:
        raise BoardRequestError(
            N_("%% of target compares one period with its target; pick a period, not all time.")
        )
    if period_key == ALL_TIME and measure == Metric.GROWTH_PCT:
        raise BoardRequestError(
            N_("Growth %% compares one period with a baseline period; pick a period, not all time.")
        )
    # BoardSpec refuses the rest, e.g. a team board of partners (a team is one partner's reps).
    return BoardSpec(who, where, measure, period_key)


def you_on(login: Login | None, audience: Audience) -> int | None:
    """Who "you" are on a board of ``audience``: your rep, or the partner you work for."""
    if login is None:
        return None
    return login.user.rep_id if audience == Audience.REPS else login.user.partner_id


# -- showing values and boards ------------------------------------------------------------------


def percent(basis_points: int, language: str) -> str:
    """``11250`` → ``112.5 %``: one decimal, the reader's separators."""
    shown = format_decimal(
        Decimal(basis_points) / 100, format="#,##0.0", locale=formatting.babel_locale(language)
    )
    return f"{shown} %"


def value_format(metric: Metric, currency: str, language: str) -> Callable[[int], str]:
    if metric == Metric.REVENUE:
        return lambda value: formatting.money(value, currency, language)
    if metric.is_percentage:
        return lambda value: percent(value, language)
    return lambda value: formatting.number(value, language)


def period_label(period_key: str, periods: list[Period], language: str, zone: str) -> str:
    if period_key == ALL_TIME:
        return gettext(language, "All time")
    found = next((p for p in periods if p.key == period_key), None)
    if found is None:
        return period_key
    first = formatting.day(found.first_day, language, zone)
    last = formatting.day(found.last_day, language, zone)
    return f"{period_key} · {first} – {last}"


def league_label(name: str, lang: str) -> str:
    """ "League Medium", but not "League Liga Madya" for a league already named as one."""
    first = name.split(" ", 1)[0].casefold()
    return name if first in {"league", "liga"} else gettext(lang, "League %(name)s", name=name)


@pass_context
def league_filter(context: Context, name: str) -> str:
    """``{{ name | league }}`` in a template: ``league_label`` in the page's language."""
    return league_label(name, context.get("lang", "en"))


def region_label(name: str, lang: str) -> str:
    return gettext(lang, "Region %(name)s", name=name)


def team_label(name: str, lang: str) -> str:
    return gettext(lang, "Team %(name)s", name=name)


def scope_label(session: Any, scope: Scope, places: Places, lang: str) -> str:
    match scope.kind:
        case ScopeKind.REGION:
            return region_label(places.regions.get(scope.code or "", scope.code or ""), lang)
        case ScopeKind.LEAGUE:
            return league_label(places.leagues.get(scope.code or "", scope.code or ""), lang)
        case ScopeKind.TEAM:
            row = session.execute(
                sa.select(col(Partner.name), col(Partner.anonymous)).where(
                    sa.func.upper(col(Partner.code)) == scope.code
                )
            ).first()
            shown = gettext(lang, ANONYMOUS) if row is None or row[1] else row[0]
            return team_label(shown, lang)
    return gettext(lang, "Everyone")


def describe(audience: Audience, scope_text: str, metric: Metric, places: Places, lang: str) -> str:
    """A TV link's board in words, e.g. ``Reps · Region Jabodetabek · Points``."""
    scope = Scope.parse(scope_text)
    code = scope.code or ""
    where = {
        ScopeKind.EVERYONE: gettext(lang, "Everyone"),
        ScopeKind.REGION: region_label(places.regions.get(code, code), lang),
        ScopeKind.LEAGUE: league_label(places.leagues.get(code, code), lang),
        ScopeKind.TEAM: team_label(code, lang),
    }[scope.kind]
    return heading(audience, where, metric, lang)


def heading(audience: Audience, where: str, metric: Metric, lang: str) -> str:
    return " · ".join(
        (gettext(lang, AUDIENCE_LABEL[audience]), where, gettext(lang, METRIC_LABEL[metric]))
    )


def anonymous_ids(session: Any, audience: Audience, rows: list[BoardRow]) -> set[int]:
    """Who on these rows opted out of showing their name: they get no link to their page, so a
    public board never leads from "Anonymous" to a code that names the dealer."""
    ids = {r.participant_id for r in rows}
    if not ids:
        return set()
    table = Rep if audience == Audience.REPS else Partner
    return set(
        session.execute(
            sa.select(col(table.id)).where(col(table.id).in_(ids), col(table.anonymous).is_(True))
        ).scalars()
    )


@dataclass(frozen=True)
class Unranked:
    """Participants active in the period who cannot be ranked on a % board."""

    count: int
    names: list[str]
    reason: str


def unranked(
    session: Any, program: Program, spec: BoardSpec, lang: str, shown: int = 3
) -> Unranked | None:
    """Who sold in the period but has no target (``target_pct``) or no baseline sales
    (``growth_pct``), so the % board leaves them out; None for other boards."""
    if not spec.metric.is_percentage:
        return None
    kind = KIND[spec.audience]
    pid = col(PeriodTotal.participant_id)
    if spec.metric == Metric.TARGET_PCT:
        ranked: Any = sa.select(col(Target.participant_id)).where(
            col(Target.program_id) == program.id,
            col(Target.period_key) == spec.period_key,
            col(Target.kind) == kind,
            col(Target.revenue_minor) > 0,
        )
        reason = gettext(lang, "no target for %(period)s", period=spec.period_key)
    else:
        base_key = baseline_key(program, spec.period_key)
        # An alias: the outer query reads period_total too, and a plain subquery would be
        # correlated with it instead of reading the baseline period.
        base = aliased(PeriodTotal)
        ranked = sa.select(col(base.participant_id)).where(
            col(base.program_id) == program.id,
            col(base.period_key) == base_key,
            col(base.kind) == kind,
            col(base.revenue_minor) > 0,
        )
        reason = gettext(lang, "no sales in %(period)s to grow from", period=base_key)
    query = sa.select(pid).where(
        col(PeriodTotal.program_id) == program.id,
        col(PeriodTotal.period_key) == spec.period_key,
        col(PeriodTotal.kind) == kind,
        pid.not_in(ranked),
    )
    query = scope_filter(query, spec, pid)
    count = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    if not count:
        return Unranked(0, [], reason)
    ids = list(session.execute(query.order_by(pid).limit(shown)).scalars())
    labels = labels_of(session, spec.audience, set(ids))
    return Unranked(int(count), [labels[i][1] for i in ids if i in labels], reason)


def _render(
    request: Request, template: str, context: dict[str, Any], block: str, status: int = 200
) -> Response:
    # htmx restores history it has no snapshot of with HX-Request set; that needs the whole
    # page, not the fragment.
    if request.headers.get("HX-History-Restore-Request") == "true":
        return render(request, template, context, status_code=status)
    return render(request, template, context, block=block, status_code=status)


def _board_href(spec: BoardSpec) -> str:
    return (
        f"/boards?period={spec.period_key}&audience={spec.audience.value}"
        f"&scope={spec.scope}&metric={spec.metric.value}"
    )


# -- the board page -----------------------------------------------------------------------------


def _my_team(session: Any, login: Login | None) -> tuple[str, str] | None:
    """(code, name) of the partner whose team board a rep or partner admin may pick."""
    if login is None or login.user.partner_id is None:
        return None
    if login.user.role not in (Role.REP.value, Role.PARTNER_ADMIN.value):
        return None
    partner = session.get(Partner, login.user.partner_id)
    return (partner.code, partner.name) if partner else None


async def cached_page(
    request: Request, endpoint: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Serve ``endpoint``'s page from the page cache while the boards have not changed.

    The key is everything the page depends on: the request (path, query, htmx headers), the
    viewer (session: their name, their row, their CSRF token), the language and the version of
    the boards. Only 200 answers are kept."""
    st = state_of(request)
    login = await login_of(request)
    versions = st.boards.fresh_versions() or await run_in_threadpool(st.boards.versions)
    key = (
        request.url.path,
        request.scope["query_string"],  # as sent: the same page asked alike hits alike
        request.headers.get("HX-Request"),
        request.headers.get("HX-History-Restore-Request"),
        language_of(request, login),
        login.session.id if login else None,
        versions,
    )
    cached = st.pages.get(key)
    if cached is not None:
        return cached
    # Single flight: after a change, the first request renders and the others asking for the
    # same page meanwhile wait for it, instead of every open connection rendering it again.
    pending = _RENDERING.get(key)
    if pending is not None:
        await asyncio.shield(pending)
        cached = st.pages.get(key)
        if cached is not None:
            return cached
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _RENDERING[key] = done
    try:
        response = await endpoint(request)
        return st.pages.put(key, response) if response.status_code == 200 else response
    finally:
        del _RENDERING[key]
        done.set_result(None)


_RENDERING: dict[Any, asyncio.Future[None]] = {}


async def board_page(request: Request) -> Response:
    return await cached_page(request, _board_page)


def board_context(
    st: AppState, login: Login | None, lang: str, wanted: dict[str, str], now: datetime
) -> dict[str, Any]:
    """Everything the board page's ``board_area`` block shows (blocking: call from a thread).

    Shared by the page and by live pushes (``app/live.py``), so a pushed board is rendered
    from exactly the same data as the page."""
    with st.db.session() as s:
        program = current_program(s)
        if program is None:
            return {"program": None}
        periods = program_periods(program, now)
        places = places_of(s)
        out: dict[str, Any] = {
            "program": program,
            "periods": periods[::-1],
            "current_key": periods[-1].key,
            "places": places,
            "my_team": _my_team(s, login),
            "selected": {k: v[:MAX_PARAM] for k, v in wanted.items()},
            "metrics": METRIC_LABEL,
            "rule": TIE_RULE,
            "audience_label": AUDIENCE_LABEL,
        }
        try:
            spec = parse_board(s, program, periods, places, **wanted)
        except ValueError as exc:
            out["error"] = error_text(exc, lang)
            return out
        out["selected"] = {
            "period": spec.period_key,
            "audience": spec.audience.value,
            "scope": str(spec.scope),
            "metric": spec.metric.value,
        }
        out["unranked"] = unranked(s, program, spec, lang)
        out["scope_label"] = scope_label(s, spec.scope, places, lang)
        out["period_label"] = period_label(spec.period_key, periods, lang, program.timezone)
    you = you_on(login, spec.audience)
    view = st.boards.view(program, spec, you=you, limit=PAGE_LIMIT, around=5)
    with st.db.session() as s:
        out["anonymous"] = anonymous_ids(s, spec.audience, view.top + view.around)
    out.update(spec=spec, view=view, identified=you is not None)
    out["fmt_value"] = value_format(spec.metric, program.currency, lang)
    return out


async def _board_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    login: Login | None = context["login"]
    lang: str = context["lang"]
    wanted = {k: request.query_params.get(k, "") for k in ("period", "audience", "scope", "metric")}
    now = st.clock()

    def load() -> dict[str, Any]:
        return board_context(st, login, lang, wanted, now)

    context.update(await run_in_threadpool(load))
    context["rule"] = TIE_RULE
    context["audience_label"] = AUDIENCE_LABEL
    status = 200
    if context.get("error"):
        # htmx 2 does not swap 4xx answers by default, so the person who picked an impossible
        # combination in the form would see nothing happen: a fragment gets the message with 200.
        status = 200 if is_htmx(request) else 400
    return _render(request, "boards.html", context, "board_area", status)


# -- past periods -------------------------------------------------------------------------------


async def history_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang: str = context["lang"]
    raw = request.query_params.get("audience", "").strip().lower()[:MAX_PARAM] or "reps"
    now = st.clock()
    try:
        audience = Audience(raw)
    except ValueError:
        context.update(
            program=None,
            error=gettext(
                context["lang"], "Unknown audience '%(value)s'; use reps or partners.", value=raw
            ),
        )
        return render(request, "boards_history.html", context, status_code=400)

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
        if program is None:
            return {"program": None}
        periods = program_periods(program, now)
        past: list[dict[str, Any]] = []
        shown: list[BoardRow] = []
        for period in reversed(periods[:-1]):
            spec = BoardSpec(audience, Scope(ScopeKind.EVERYONE), Metric.POINTS, period.key)
            view = st.boards.view(program, spec, limit=3)
            shown += view.top
            past.append(
                {
                    "period": period,
                    "label": period_label(period.key, periods, lang, program.timezone),
                    "view": view,
                    "href": _board_href(spec),
                }
            )
        with st.db.session() as s:
            hidden = anonymous_ids(s, audience, shown)
        current = BoardSpec(audience, Scope(ScopeKind.EVERYONE), Metric.POINTS, periods[-1].key)
        return {
            "program": program,
            "past": past,
            "anonymous": hidden,
            "audience": audience,
            "current_href": _board_href(current),
            "current_key": periods[-1].key,
        }

    context.update(await run_in_threadpool(load))
    context["audience_label"] = AUDIENCE_LABEL
    context["rule"] = TIE_RULE
    return render(request, "boards_history.html", context)


# -- a participant's page -----------------------------------------------------------------------


@dataclass(frozen=True)
class BoardStanding:
    """Where one participant stands on one board."""

    label: str
    href: str
    you: BoardRow | None
    size: int


@dataclass(frozen=True)
class RankPoint:
    """One period on the rank chart; ``y`` is None when the participant was not ranked."""

    period: Period
    rank: int | None
    size: int
    points: int
    x: float
    y: float | None
    label: bool  # print the period key under this point (not all fit on a phone)


@dataclass(frozen=True)
class RankChart:
    """A rank-over-time line drawn server-side as SVG (the CSP allows no chart script)."""

    width: int
    height: int
    left: int  # x of the first period
    end: int  # x of the last period
    top: int  # y of rank 1
    bottom: int  # y of the lowest rank reached
    points: list[RankPoint]
    segments: list[str]  # SVG polyline point lists; a gap where the participant was unranked
    worst: int

    @property
    def ranked(self) -> list[RankPoint]:
        return [p for p in self.points if p.y is not None]


def rank_chart(history: list[tuple[Period, BoardView]]) -> RankChart:
    """Rank 1 at the top, the worst rank reached at the bottom, one x step per period."""
    # 360 units wide: on a phone one unit is about one pixel, so 12-unit labels stay legible.
    width, height, left, right, top, bottom_pad = 360, 170, 40, 30, 12, 32
    plot_w, plot_h = width - left - right, height - top - bottom_pad
    ranks = [view.you.rank for _, view in history if view.you is not None]
    worst = max(ranks, default=1)
    count = len(history)
    every = max(1, math.ceil(count / 6))  # at most ~6 period labels fit 360 px
    points: list[RankPoint] = []
    for i, (period, view) in enumerate(history):
        x = left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)
        mine = view.you
        y = None
        if mine is not None:
            y = top + (plot_h * (mine.rank - 1) / (worst - 1) if worst > 1 else 0)
        points.append(
            RankPoint(
                period=period,
                rank=mine.rank if mine else None,
                size=view.size,
                points=mine.value if mine else 0,
                x=round(x, 1),
                y=round(y, 1) if y is not None else None,
                label=(count - 1 - i) % every == 0,
            )
        )
    segments: list[str] = []
    run: list[str] = []
    for p in points:
        if p.y is None:
            if run:
                segments.append(" ".join(run))
            run = []
        else:
            run.append(f"{p.x},{p.y}")
    if run:
        segments.append(" ".join(run))
    return RankChart(width, height, left, left + plot_w, top, top + plot_h, points, segments, worst)


async def participant_page(request: Request) -> Response:
    st = state_of(request)
    context = await base_context(request)
    lang: str = context["lang"]
    code = request.path_params["code"].strip()[:40]
    now = st.clock()

    def load() -> dict[str, Any] | None:
        with st.db.session() as s:
            program = current_program(s)
            found = find_participant(s, code)
            if program is None or found is None:
                return None
            kind, rep, partner = found
            region = s.get(Region, partner.region_id)
            league = s.get(League, partner.league_id)
            assert region is not None and league is not None
        audience = Audience.REPS if kind == "rep" else Audience.PARTNERS
        me = rep.id if rep is not None else partner.id
        assert me is not None
        periods = program_periods(program, now)
        current = periods[-1].key
        scopes = [
            (gettext(lang, "Everyone"), Scope(ScopeKind.EVERYONE)),
            (region_label(region.name, lang), Scope(ScopeKind.REGION, region.code)),
            (league_label(league.name, lang), Scope(ScopeKind.LEAGUE, league.code)),
        ]
        if rep is not None:
            team = gettext(lang, ANONYMOUS) if partner.anonymous else partner.name
            scopes.append((team_label(team, lang), Scope(ScopeKind.TEAM, partner.code)))
        standings = []
        for label, scope in scopes:
            spec = BoardSpec(audience, scope, Metric.POINTS, current)
            # limit=0, around=0: just this participant's own row and the board's size.
            view = st.boards.view(program, spec, you=me, limit=0, around=0)
            standings.append(BoardStanding(label, _board_href(spec), view.you, view.size))
        all_time = BoardSpec(audience, Scope(ScopeKind.EVERYONE), Metric.POINTS, ALL_TIME)
        view = st.boards.view(program, all_time, you=me, limit=0, around=0)
        standings.append(
            BoardStanding(
                gettext(lang, "Everyone, all time"), _board_href(all_time), view.you, view.size
            )
        )
        history = [
            (
                period,
                st.boards.view(
                    program,
                    BoardSpec(audience, Scope(ScopeKind.EVERYONE), Metric.POINTS, period.key),
                    you=me,
                    limit=0,
                    around=0,
                ),
            )
            for period in periods[-HISTORY_PERIODS:]
        ]
        person = rep if rep is not None else partner
        return {
            "program": program,
            "kind": kind,
            "audience": audience,
            "code": person.code,
            "name": gettext(lang, ANONYMOUS) if person.anonymous else person.name,
            "partner_name": gettext(lang, ANONYMOUS) if partner.anonymous else partner.name,
            "partner_code": None if partner.anonymous else partner.code,
            "city": "" if partner.anonymous else partner.city,
            "region": region,
            "league": league,
            "current_key": current,
            "standings": standings,
            "chart": rank_chart(history),
        }

    found = await run_in_threadpool(load)
    if found is None:
        context["missing_code"] = code
        return render(request, "participant.html", context, status_code=404)
    context.update(found)
    context["rule"] = TIE_RULE
    return render(request, "participant.html", context)


# -- TV mode ------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _live_link(session: Any, token: str) -> TvLink | None:
    # A token is 43 urlsafe characters; anything much longer is not one, so skip the query.
    if not token or len(token) > 100:
        return None
    link = session.execute(
        sa.select(TvLink).where(col(TvLink.token_hash) == token_hash(token))
    ).scalar_one_or_none()
    return link if link is not None and link.revoked_at is None else None


async def tv_page(request: Request) -> Response:
    # The link is checked on every request, so a revoked screen goes dark at once on every
    # process; only the rendering of a live one comes from the cache.
    st = state_of(request)
    token = request.path_params["token"]

    def live() -> bool:
        with st.db.session() as s:
            return _live_link(s, token) is not None

    if not await run_in_threadpool(live):
        return await _tv_page(request)
    return await cached_page(request, _tv_page)


def tv_context(st: AppState, token: str, lang: str, now: datetime) -> dict[str, Any] | None:
    """What a live TV link's ``tv_board`` block shows, or None when the link is not live
    (blocking: call from a thread). Shared by the page and by live pushes."""
    with st.db.session() as s:
        link = _live_link(s, token)
        if link is None:
            return None
        program = s.get(Program, link.program_id)
        assert program is not None
        places = places_of(s)
        periods = program_periods(program, now)
        spec = BoardSpec(
            Audience(link.audience),
            Scope.parse(link.scope),
            Metric(link.metric),
            periods[-1].key,
        )
        where = scope_label(s, spec.scope, places, lang)
    view = st.boards.view(program, spec, limit=TV_LIMIT)
    zone = rules_of(program).zone
    return {
        "program": program,
        "label": link.label,
        "spec": spec,
        "view": view,
        "heading": heading(spec.audience, where, spec.metric, lang),
        "period_label": period_label(spec.period_key, periods, lang, program.timezone),
        "updated": now.astimezone(zone).strftime("%H:%M"),
        "fmt_value": value_format(spec.metric, program.currency, lang),
        "token": token,
        "lang": lang,
        "rule": TIE_RULE,
        "fmt_number": lambda v: formatting.number(v, lang),
    }


async def _tv_page(request: Request) -> Response:
    st = state_of(request)
    token = request.path_params["token"]
    now = st.clock()
    lang = language_of(request, None)  # nobody logs in on a TV: the browser's language

    def load() -> dict[str, Any] | None:
        return tv_context(st, token, lang, now)

    found = await run_in_threadpool(load)
    context: dict[str, Any] = {
        "token": token,
        "lang": lang,
        "rule": TIE_RULE,
        "fmt_number": lambda v: formatting.number(v, lang),
    }
    if found is None:
        context["gone"] = True
        # A TV polling a link that was just revoked must stop showing the board; htmx ignores
        # a 404, so its poll gets the "no longer active" block (which polls no more) with 200.
        status = 200 if is_htmx(request) else 404
        return _render(request, "tv.html", context, "tv_board", status)
    context.update(found)
    return _render(request, "tv.html", context, "tv_board")


async def _require_program_admin(request: Request) -> Response | None:
    login = await login_of(request)
    if login is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if login.user.role != Role.PROGRAM_ADMIN:
        context = await base_context(request)
        context["forbidden"] = True
        return render(request, "admin_tv.html", context, status_code=403)
    return None


def _tv_links(session: Any, program: Program, places: Places, lang: str) -> list[dict[str, Any]]:
    links = session.execute(
        sa.select(TvLink)
        .where(col(TvLink.program_id) == program.id)
        .order_by(col(TvLink.id).desc())
    ).scalars()
    return [
        {
            "link": link,
            "board": describe(
                Audience(link.audience), link.scope, Metric(link.metric), places, lang
            ),
        }
        for link in links
    ]


async def _admin_tv_context(request: Request) -> dict[str, Any]:
    st = state_of(request)
    context = await base_context(request)
    lang: str = context["lang"]

    def load() -> dict[str, Any]:
        with st.db.session() as s:
            program = current_program(s)
            if program is None:
                return {"program": None}
            places = places_of(s)
            links = _tv_links(s, program, places, lang)
            return {"program": program, "places": places, "links": links}

    context.update(await run_in_threadpool(load))
    context["metrics"] = METRIC_LABEL
    context["audience_label"] = AUDIENCE_LABEL
    program: Program | None = context["program"]
    if program is not None:
        context["fmt_moment"] = lambda at: formatting.moment(at, program.timezone, lang)
    context.setdefault(
        "form", {"label": "", "audience": "reps", "scope": "everyone", "metric": "points"}
    )
    return context


async def admin_tv_page(request: Request) -> Response:
    if (refused := await _require_program_admin(request)) is not None:
        return refused
    return render(request, "admin_tv.html", await _admin_tv_context(request))


async def admin_tv_create(request: Request) -> Response:
    if (refused := await _require_program_admin(request)) is not None:
        return refused
    st = state_of(request)
    login = await login_of(request)
    assert login is not None
    form = await request.form()
    fields = {
        name: str(form.get(name, ""))[: 120 if name == "label" else MAX_PARAM].strip()
        for name in ("label", "audience", "scope", "metric")
    }
    now = st.clock()

    def create() -> str:
        """Store the link and return its token: the only time it exists outside a hash."""
        if not fields["label"]:
            raise BoardRequestError(
                N_("Give the link a label, e.g. the office or screen it is for.")
            )
        with st.db.write() as s:
            program = current_program(s)
            if program is None:
                raise BoardRequestError(N_("There is no program yet."))
            periods = program_periods(program, now)
            spec = parse_board(
                s,
                program,
                periods,
                places_of(s),
                audience=fields["audience"],
                scope=fields["scope"],
                metric=fields["metric"],
            )
            token = secrets.token_urlsafe(32)
            s.add(
                TvLink(
                    token_hash=token_hash(token),
                    program_id=program.id,  # type: ignore[arg-type]
                    label=fields["label"],
                    audience=spec.audience.value,
                    scope=str(spec.scope),
                    metric=spec.metric.value,
                    created_by=login.user.id,
                    created_at=now,
                )
            )
            return token

    try:
        token = await run_in_threadpool(create)
    except ValueError as exc:
        context = await _admin_tv_context(request)
        context["error"] = error_text(exc, context["lang"])
        context["form"] = fields
        return render(request, "admin_tv.html", context, status_code=400)
    context = await _admin_tv_context(request)
    # The host the admin is using is the one the office TV will reach too.
    context["created_url"] = str(request.base_url).rstrip("/") + f"/tv/{token}"
    context["created_label"] = fields["label"]
    return render(request, "admin_tv.html", context, status_code=201)


async def admin_tv_revoke(request: Request) -> Response:
    if (refused := await _require_program_admin(request)) is not None:
        return refused
    st = state_of(request)
    link_id = request.path_params["id"]
    now = st.clock()

    def revoke() -> bool:
        with st.db.write() as s:
            link = s.get(TvLink, link_id)
            if link is None:
                return False
            if link.revoked_at is None:  # revoking twice keeps the first date
                link.revoked_at = now
            return True

    if not await run_in_threadpool(revoke):
        context = await _admin_tv_context(request)
        context["error"] = gettext(
            context["lang"], "There is no TV link number %(number)s.", number=link_id
        )
        return render(request, "admin_tv.html", context, status_code=404)
    return RedirectResponse("/admin/tv", status_code=303)


routes = [
    Route("/boards", board_page, methods=["GET"]),
    Route("/boards/history", history_page, methods=["GET"]),
    Route("/participants/{code}", participant_page, methods=["GET"]),
    Route("/tv/{token}", tv_page, methods=["GET"]),
    Route("/admin/tv", admin_tv_page, methods=["GET"]),
    Route("/admin/tv", admin_tv_create, methods=["POST"]),
    Route("/admin/tv/{id:int}/revoke", admin_tv_revoke, methods=["POST"]),
]
