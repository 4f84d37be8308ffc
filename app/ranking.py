"""Where leaderboards live: in this process, or in Redis shared by every process.

A board is one (program, period, scope, metric); ``board_key`` names it. Both backends answer
every query exactly as ``game.ranking`` defines it (competition ranks, first to reach a value
listed first) and the tests hold them to identical answers.

- ``InProcessRanking`` keeps a ``RankIndex`` per board that somebody is watching. A board is
  built from the store by a loader on its first read, and dropped again when it has been idle
  too long or when the caps on boards and participants are reached, least recently read first.
  Memory therefore follows the boards being watched, not scopes x metrics x periods. Writes to
  a board that is not held are skipped: the store has them, and the loader will read them.
- ``RedisRanking`` keeps every board in Redis, one sorted set per board; see the class for how
  the tie rule is encoded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import redis
from redis.commands.core import Script

from game.ranking import ID_LIMIT, RankIndex, Row, Standing, ranked_window

T = TypeVar("T")

Loader = Callable[[str], Iterable[Row]]
"""Reads one board's rows (participant_id, value, seq) from the store, by board key."""


def board_key(program_id: int, period_key: str, scope: str, metric: str) -> str:
    """The name of one leaderboard, e.g. ``board_key(7, "2025-06", "region:3", "points")``."""
    key = f"{program_id}:{period_key}:{scope}:{metric}"
    if any(c in key for c in "{} \t\r\n"):
        raise ValueError(f"board key {key!r} must not contain braces or whitespace")
    return key


class RankingBackend(Protocol):
    def set(self, board: str, participant_id: int, value: int, seq: int) -> None:
        """Give ``participant_id`` this value, reached at ledger entry ``seq``."""

    def add(self, board: str, participant_id: int, delta: int, seq: int) -> int | None:
        """Add ``delta`` (seq moves only if delta != 0); the new value, None if not held."""

    def remove(self, board: str, participant_id: int) -> None: ...

    def advance(self, board: str, participant_id: int, value: int, seq: int) -> None:
        """Move a participant to the value it reached at ledger entry ``seq``, only on a board
        that is built, and never backwards: a write carrying an older seq than the board holds
        is ignored, so writers that commit and publish in different orders cannot leave a stale
        value behind. A board that is not built is left alone (its build reads the store)."""

    def replace(self, board: str, rows: Iterable[Row]) -> None:
        """Make the board exactly ``rows``, atomically for readers."""

    def drop(self, board: str) -> None: ...

    def count(self, board: str) -> int: ...

    def standing(self, board: str, participant_id: int) -> Standing | None: ...

    def top(self, board: str, n: int) -> list[Standing]: ...

    def around(self, board: str, participant_id: int, n: int) -> list[Standing]: ...

    def page(self, board: str, offset: int, limit: int) -> list[Standing]: ...

    def rank_for(self, board: str, value: int) -> int:
        """The rank ``value`` would hold on the board now."""


# in this process ------------------------------------------------------------------------------


@dataclass
class _Building:
    """A board whose rows are being read: writes meanwhile wait here to be replayed."""

    done: threading.Event = field(default_factory=threading.Event)
    writes: list[tuple[str, int, int, int]] = field(default_factory=list)


class InProcessRanking:
    """Boards held in memory while they are watched; built lazily by ``loader``."""

    def __init__(
        self,
        loader: Loader,
        *,
        max_boards: int = 1000,
        # About 50 bytes a row held (see ``RankIndex``): 8M rows is some 400 MB, and holds every
        # scope and metric of a million-participant program's period (7.4M rows) at once.
        max_participants: int = 8_000_000,
        idle_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self.max_boards = max_boards
        self.max_participants = max_participants
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._boards: OrderedDict[str, RankIndex] = OrderedDict()  # least recently read first
        self._last_read: dict[str, float] = {}
        self._building: dict[str, _Building] = {}

    def held(self) -> list[str]:
        """The boards in memory, least recently read first."""
        with self._lock:
            return list(self._boards)

    # reads build the board when it is not held ------------------------------------------------

    def _read(self, board: str, query: Callable[[RankIndex], T]) -> T:
        while True:
            with self._lock:
                index = self._boards.get(board)
                if index is not None:
                    self._boards.move_to_end(board)
                    self._last_read[board] = self._clock()
                    return query(index)
                building = self._building.get(board)
                mine = building is None
                if building is None:
                    building = self._building[board] = _Building()
            if mine:
                self._build(board, building)
            else:
                building.done.wait()

    def _build(self, board: str, building: _Building) -> None:
        # The store is read without the lock: other boards stay readable meanwhile.
        try:
            index = RankIndex(self._loader(board))
        except BaseException:
            with self._lock:
                del self._building[board]
            building.done.set()
            raise
        with self._lock:
            # A write that raced with the read is replayed unless the rows already include it:
            # a participant's seq only grows, so a row at that seq or later has it.
            for kind, participant_id, number, seq in building.writes:
                if kind == "remove":
                    index.remove(participant_id)
                    continue
                held_seq = index.seq_of(participant_id)
                if held_seq is not None and held_seq >= seq:
                    continue
                if kind in ("set", "advance"):
                    index.set(participant_id, number, seq)
                else:
                    index.add(participant_id, number, seq)
            del self._building[board]
            if board not in self._boards:  # else ``replace`` gave it newer rows meanwhile
                self._hold(board, index)
        building.done.set()

    def _hold(self, board: str, index: RankIndex) -> None:
        now = self._clock()
        self._boards[board] = index
        self._boards.move_to_end(board)
        self._last_read[board] = now
        self._evict_locked(now, keep=board)

    def _evict_locked(self, now: float, keep: str | None = None) -> list[str]:
        evicted = [
            b for b, at in self._last_read.items() if b != keep and now - at > self.idle_seconds
        ]
        for b in evicted:
            self._forget(b)
        participants = sum(len(index) for index in self._boards.values())
        for b in list(self._boards):
            if len(self._boards) <= self.max_boards and participants <= self.max_participants:
                break
            if b == keep:
                continue
            participants -= len(self._boards[b])
            self._forget(b)
            evicted.append(b)
        return evicted

    def _forget(self, board: str) -> None:
        del self._boards[board]
        del self._last_read[board]

    def evict_idle(self) -> list[str]:
        """Drop the boards nobody read for ``idle_seconds``; call it now and then."""
        with self._lock:
            return self._evict_locked(self._clock())

    # writes go to held boards only -----------------------------------------------------------

    def _write(
        self, board: str, kind: str, participant_id: int, number: int, seq: int
    ) -> int | None:
        with self._lock:
            index = self._boards.get(board)
            if index is None:
                building = self._building.get(board)
                if building is not None:
                    building.writes.append((kind, participant_id, number, seq))
                return None
            if kind == "set":
                index.set(participant_id, number, seq)
                return number
            if kind == "advance":
                held_seq = index.seq_of(participant_id)
                if (
                    held_seq is None
                    or seq > held_seq
                    or (seq == held_seq and index.value_of(participant_id) != number)
                ):
                    index.set(participant_id, number, seq)
                return None
            if kind == "add":
                return index.add(participant_id, number, seq)
            index.remove(participant_id)
            return None

    def set(self, board: str, participant_id: int, value: int, seq: int) -> None:
        self._write(board, "set", participant_id, value, seq)

    def advance(self, board: str, participant_id: int, value: int, seq: int) -> None:
        self._write(board, "advance", participant_id, value, seq)

    def add(self, board: str, participant_id: int, delta: int, seq: int) -> int | None:
        return self._write(board, "add", participant_id, delta, seq)

    def remove(self, board: str, participant_id: int) -> None:
        self._write(board, "remove", participant_id, 0, 0)

    def replace(self, board: str, rows: Iterable[Row]) -> None:
        index = RankIndex(rows)
        with self._lock:
            self._hold(board, index)

    def drop(self, board: str) -> None:
        with self._lock:
            if board in self._boards:
                self._forget(board)

    # queries ------------------------------------------------------------------------------------

    def count(self, board: str) -> int:
        return self._read(board, len)

    def standing(self, board: str, participant_id: int) -> Standing | None:
        return self._read(board, lambda index: index.standing(participant_id))

    def top(self, board: str, n: int) -> list[Standing]:
        return self._read(board, lambda index: index.top(n))

    def around(self, board: str, participant_id: int, n: int) -> list[Standing]:
        return self._read(board, lambda index: index.around(participant_id, n))

    def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        return self._read(board, lambda index: index.page(offset, limit))

    def rank_for(self, board: str, value: int) -> int:
        return self._read(board, lambda index: index.rank_for(value))


# in Redis -------------------------------------------------------------------------------------

MAX_REDIS_VALUE = 2**53 - 1
"""Redis scores are doubles. Below 2**53 in magnitude every integer is exact, and so is the sum
of two of them until it reaches 2**53, where a double can no longer tell n from n + 1."""

_TOP = ID_LIMIT - 1

# Every script runs atomically in Redis, and answers in one round trip.
_SET = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then redis.call('ZREM', KEYS[1], old) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

_ADD = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
local delta = tonumber(ARGV[2])
local value = delta
if old then
  value = tonumber(redis.call('ZSCORE', KEYS[1], old)) + delta
  if delta == 0 then return value end
end
if math.abs(value) > tonumber(ARGV[4]) then
  return redis.error_reply('value out of +-(2^53-1): a Redis score cannot hold it exactly')
end
if old then redis.call('ZREM', KEYS[1], old) end
redis.call('ZADD', KEYS[1], value, ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return value
"""

# KEYS[3] marks a built board. Members start with 16 hex digits of (2**63-1 - seq): a larger
# prefix is an older seq, so string comparison tells old from new without 64-bit arithmetic.
_ADVANCE = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  if string.sub(ARGV[3], 1, 16) > string.sub(old, 1, 16) then return 0 end
  redis.call('ZREM', KEYS[1], old)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

_REMOVE = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
redis.call('ZREM', KEYS[1], old)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# The first two members with the participant's score, in list order, say at once whether it
# is tied and whether its tie starts above it; only then is the rank of the tie's first member
# asked. (ZCOUNT would walk the skiplist four times; this walks it twice, three times if tied
# with someone listed earlier.)
_STANDING = """
local member = redis.call('HGET', KEYS[2], ARGV[1])
if not member then return false end
local position = redis.call('ZREVRANK', KEYS[1], member)
local score = redis.call('ZSCORE', KEYS[1], member)
local ties = redis.call('ZREVRANGEBYSCORE', KEYS[1], score, score, 'LIMIT', 0, 2)
local rank = position + 1
if ties[1] ~= member then rank = redis.call('ZREVRANK', KEYS[1], ties[1]) + 1 end
return {member, score, position, rank, #ties}
"""

# Rows first..stop-1 in list order, plus one row either side when there is one (to tell
# whether the edge rows are tied), and the rank of the first row.
_WINDOW = """
local first, stop
if ARGV[1] == 'around' then
  local member = redis.call('HGET', KEYS[2], ARGV[2])
  if not member then return {} end
  local position = redis.call('ZREVRANK', KEYS[1], member)
  local n = tonumber(ARGV[3])
  first = math.max(0, position - n)
  stop = position + n + 1
else
  first = tonumber(ARGV[2])
  stop = first + tonumber(ARGV[3])
end
if stop <= first then return {} end
local lead = 0
if first > 0 then lead = 1 end
local rows = redis.call('ZREVRANGE', KEYS[1], first - lead, stop, 'WITHSCORES')
if #rows <= 2 * lead then return {} end
local rank = first + 1
if lead == 1 and rows[2] == rows[4] then
  local top = redis.call('ZREVRANGEBYSCORE', KEYS[1], rows[4], rows[4], 'LIMIT', 0, 1)
  rank = redis.call('ZREVRANK', KEYS[1], top[1]) + 1
end
return {first, stop, rank, lead, rows}
"""


def _member(participant_id: int, seq: int) -> str:
    if not 0 <= participant_id < ID_LIMIT:
        raise ValueError(f"participant id {participant_id} outside [0, 2**63)")
    if not 0 <= seq < ID_LIMIT:
        raise ValueError(f"seq {seq} outside [0, 2**63)")
    return f"{_TOP - seq:016x}{_TOP - participant_id:016x}"


_LOW64 = (1 << 64) - 1


def _unpack(member: bytes | str) -> tuple[int, int]:
    """(participant_id, seq) from a member."""
    both = int(member, 16)
    return _TOP - (both & _LOW64), _TOP - (both >> 64)


def _check(value: int) -> None:
    if abs(value) > MAX_REDIS_VALUE:
        raise ValueError(f"value {value} out of +-(2**53-1): a Redis score cannot hold it exactly")


class RedisRanking:
    """Every board in Redis: a sorted set for the order, a hash to find a participant.

    The tie rule is encoded so that ZREVRANGE lists (value desc, seq asc, participant asc):

    - score = the value itself, so equal values are equal scores and the competition rank is
      1 + the number of greater scores: the ZREVRANK of the first member of the tie (found by
      ZREVRANGEBYSCORE value value LIMIT 0 1), or ZCOUNT(board, "(value", "+inf") for a value
      nobody holds. Values must lie within +-(2**53-1), exact in a double; 10**15 rupiah in
      minor units still fits. Outside that range ``set`` and ``add`` raise ValueError.
    - member = 16 hex digits of (2**63-1 - seq) then 16 of (2**63-1 - participant_id). Redis
      orders equal scores by member bytes and ZREVRANGE reverses that, so the biggest member,
      i.e. the smallest seq and then the smallest participant id, comes first.
    - the hash maps participant id -> current member, because the member changes with seq.

    Keys are ``{prefix}{<board>}`` and ``{prefix}{<board>}:who``; the braces are a Redis Cluster
    hash tag, so one board's keys share a slot and the scripts may touch both. Every update and
    every query is one Lua script: atomic, and one round trip.
    """

    def __init__(self, client: redis.Redis, prefix: str = "podium:board:") -> None:
        self._client = client
        self.prefix = prefix
        self._set = client.register_script(_SET)
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)
        self._advance = client.register_script(_ADVANCE)
        self._standing = client.register_script(_STANDING)
        self._window = client.register_script(_WINDOW)

    def _run(self, script: Script, board: str, *args: int | str) -> Any:
        # EVALSHA straight away (Script.__call__ costs a few µs more per call); the Script
        # loads itself into a Redis that does not know it yet, e.g. after a restart.
        order, who = self.keys(board)
        try:
            return self._client.evalsha(script.sha, 2, order, who, *args)
        except redis.exceptions.NoScriptError:
            return script((order, who), args)

    def keys(self, board: str) -> tuple[str, str]:
        """The sorted set and the hash that hold ``board``."""
        order = f"{self.prefix}{{{board}}}"
        return order, f"{order}:who"

    def set(self, board: str, participant_id: int, value: int, seq: int) -> None:
        _check(value)
        self._run(self._set, board, participant_id, value, _member(participant_id, seq))

    def add(self, board: str, participant_id: int, delta: int, seq: int) -> int:
        _check(delta)
        member = _member(participant_id, seq)
        try:
            value: int = self._run(self._add, board, participant_id, delta, member, MAX_REDIS_VALUE)
        except redis.ResponseError as error:
            if "2^53" in str(error):
                raise ValueError(str(error)) from None
            raise
        return value

    def remove(self, board: str, participant_id: int) -> None:
        self._run(self._remove, board, participant_id)

    def built_key(self, board: str) -> str:
        return f"{self.keys(board)[0]}:built"

    def is_built(self, board: str, version: int | None = None) -> bool:
        """Whether the board is built (at ``version``, for a board that has versions)."""
        if version is None:
            return bool(self._client.exists(self.built_key(board)))
        built = self._client.get(self.built_key(board))
        return built is not None and int(built) == version

    def mark_built(self, board: str, version: int | None = None) -> None:
        self._client.set(self.built_key(board), 1 if version is None else version)

    def advance(self, board: str, participant_id: int, value: int, seq: int) -> None:
        self.advance_many([(board, participant_id, value, seq)])

    def advance_many(self, moves: Iterable[tuple[str, int, int, int]]) -> None:
        """Several advances in one round trip (one ingest batch touches dozens of boards)."""
        moves = list(moves)
        pipe = self._client.pipeline(transaction=False)
        for board, participant_id, value, seq in moves:
            _check(value)
            order, who = self.keys(board)
            pipe.evalsha(
                self._advance.sha,
                3,
                order,
                who,
                self.built_key(board),
                participant_id,
                value,
                _member(participant_id, seq),
            )
        try:
            pipe.execute()
        except redis.exceptions.NoScriptError:
            self._client.script_load(_ADVANCE)
            self.advance_many(moves)

    def replace(self, board: str, rows: Iterable[Row], chunk: int = 10_000) -> None:
        """Build the board aside, then swap it in with one MULTI: readers see old or new."""
        latest: dict[int, tuple[int, int]] = {}
        for participant_id, value, seq in rows:
            _check(value)
            latest[participant_id] = (value, seq)
        order, who = self.keys(board)
        suffix = f":building:{uuid.uuid4().hex}"
        items = list(latest.items())
        try:
            for start in range(0, len(items), chunk):
                part = items[start : start + chunk]
                members = {pid: _member(pid, seq) for pid, (_, seq) in part}
                pipe = self._client.pipeline(transaction=False)
                pipe.zadd(order + suffix, {members[pid]: value for pid, (value, _) in part})
                pipe.hset(who + suffix, mapping=members)  # type: ignore[arg-type]
                pipe.execute()
            pipe = self._client.pipeline(transaction=True)
            if items:
                pipe.rename(order + suffix, order)
                pipe.rename(who + suffix, who)
            else:
                pipe.delete(order, who)
            pipe.execute()
        finally:
            self._client.delete(order + suffix, who + suffix)

    def drop(self, board: str) -> None:
        self._client.delete(*self.keys(board), self.built_key(board))

    def count(self, board: str) -> int:
        size: int = self._client.zcard(self.keys(board)[0])
        return size

    def standing(self, board: str, participant_id: int) -> Standing | None:
        found = self._run(self._standing, board, participant_id)
        if not found:
            return None
        member, score, position, rank, sharing = found
        pid, seq = _unpack(member)
        return Standing(pid, int(score), seq, rank, position, sharing > 1)

    def top(self, board: str, n: int) -> list[Standing]:
        return self.page(board, 0, n)

    def around(self, board: str, participant_id: int, n: int) -> list[Standing]:
        if n < 0:
            raise ValueError("n must not be negative")
        return self._ranked(self._run(self._window, board, "around", participant_id, n))

    def page(self, board: str, offset: int, limit: int) -> list[Standing]:
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        return self._ranked(self._run(self._window, board, "page", offset, limit))

    def rank_for(self, board: str, value: int) -> int:
        above: int = self._client.zcount(self.keys(board)[0], f"({value}", "+inf")
        return above + 1

    @staticmethod
    def _ranked(reply: Any) -> list[Standing]:
        if not reply:
            return []
        first, stop, rank, lead, flat = reply
        rows: list[Row] = []
        for member, score in zip(flat[0::2], flat[1::2], strict=True):
            both = int(member, 16)
            rows.append((_TOP - (both & _LOW64), int(score), _TOP - (both >> 64)))
        size = stop - first
        window = rows[lead : lead + size]
        before = rows[0][1] if lead else None
        after = rows[lead + size][1] if len(rows) > lead + size else None
        return ranked_window(window, first, rank, before, after)
