"""Standings on a leaderboard: standard competition ranking with a first-to-reach tie rule.

Equal values share a rank (1, 2, 2, 4). Within a tie whoever reached the value first is listed
first; "first" is the ``seq`` of the ledger entry that last changed the value (lower = earlier),
and the participant id settles the rest so the order is always the same. So the list order is
(value desc, seq asc, participant id asc), but the rank depends on the value alone.

``RankIndex`` keeps one board in memory as an order-statistic index: every update and every
query is O(log n). Each participant is one packed int in a ``SortedList``:

    key = (-value << 126) | (seq << 63) | participant_id

Ascending keys are exactly the list order. Against a (-value, seq, participant_id) tuple, one
int bisects twice as fast (4.4 µs vs 8.3 µs at a million entries), builds faster and takes less
memory. Values are unbounded; seq and participant id must lie in [0, 2**63), the range of the
database's bigint ids.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from sortedcontainers import SortedList

Row = tuple[int, int, int]
"""(participant_id, value, seq): what a board holds for one participant."""

ID_BITS = 63
ID_LIMIT = 1 << ID_BITS  # seq and participant id lie in [0, ID_LIMIT)
_MASK = ID_LIMIT - 1
_VALUE_SHIFT = 2 * ID_BITS


class Standing(NamedTuple):
    """Where one participant stands on a board.

    A NamedTuple rather than a frozen dataclass: equally immutable and typed, and three times
    cheaper to make (0.4 µs vs 1.1 µs), which is most of the cost of a top-10 page.
    """

    participant_id: int
    value: int
    seq: int
    rank: int  # 1 + the number of participants with a strictly greater value
    position: int  # 0-based place in list order
    tied: bool  # another participant has the same value, hence the same rank


def competition_ranks(rows: Iterable[Row]) -> list[Standing]:
    """The whole board, ranked the obvious way: sort, then walk. The tests' oracle."""
    ordered = sorted(rows, key=lambda r: (-r[1], r[2], r[0]))
    values = [value for _, value, _ in ordered]
    standings: list[Standing] = []
    for position, (participant_id, value, seq) in enumerate(ordered):
        rank = 1 + sum(1 for other in values if other > value)
        tied = values.count(value) > 1
        standings.append(Standing(participant_id, value, seq, rank, position, tied))
    return standings


def ranked_window(
    rows: Sequence[Row],
    first_position: int,
    first_rank: int,
    value_before: int | None = None,
    value_after: int | None = None,
) -> list[Standing]:
    """Standings for consecutive ``rows`` in list order, starting at ``first_position``.

    ``first_rank`` is the rank of the first row; the rows beside the window (``value_before``,
    ``value_after``, None at the ends of the board) tell whether the edge rows are tied.
    For rows read from elsewhere, e.g. Redis; ``RankIndex`` walks its own keys the same way.
    """
    if not rows:
        return []
    following: list[int | None] = [value for _, value, _ in rows[1:]]
    following.append(value_after)
    standings: list[Standing] = []
    rank = first_rank
    previous = value_before
    position = first_position
    for (participant_id, value, seq), after in zip(rows, following, strict=True):
        if value != previous and position != first_position:
            rank = position + 1
        tied = value in (previous, after)
        standings.append(Standing(participant_id, value, seq, rank, position, tied))
        previous = value
        position += 1
    return standings


def _key(participant_id: int, value: int, seq: int) -> int:
    if not 0 <= participant_id < ID_LIMIT:
        raise ValueError(f"participant id {participant_id} outside [0, 2**63)")
    if not 0 <= seq < ID_LIMIT:
        raise ValueError(f"seq {seq} outside [0, 2**63)")
    return (-value << _VALUE_SHIFT) | (seq << ID_BITS) | participant_id


def _row(key: int) -> Row:
    return key & _MASK, -(key >> _VALUE_SHIFT), (key >> ID_BITS) & _MASK


class RankIndex:
    """One leaderboard in memory: set, add and remove participants, ask for standings."""

    __slots__ = ("_by_participant", "_keys")

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        """A board holding ``rows``; a participant listed twice keeps its last row."""
        keys = {pid: _key(pid, value, seq) for pid, value, seq in rows}
        # Make the int objects in list order, so that neighbours in the list are neighbours
        # in memory: a bisect then touches fewer cache lines on a large board.
        ordered = [key | 0 for key in sorted(keys.values())]
        self._by_participant: dict[int, int] = {key & _MASK: key for key in ordered}
        self._keys: SortedList = SortedList()
        self._keys.update(ordered)

    def __len__(self) -> int:
        return len(self._by_participant)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._by_participant

    def __iter__(self) -> Iterator[Row]:
        """Every row in list order."""
        return map(_row, self._keys)

    # updates -------------------------------------------------------------------------------

    def set(self, participant_id: int, value: int, seq: int) -> None:
        """Give ``participant_id`` this value, reached at ``seq``; insert or replace."""
        key = _key(participant_id, value, seq)
        old = self._by_participant.get(participant_id)
        if old is not None:
            self._keys.remove(old)
        self._by_participant[participant_id] = key
        self._keys.add(key)

    def add(self, participant_id: int, delta: int, seq: int) -> int:
        """Add ``delta`` to the value (a newcomer starts at 0) and return the new value.

        The seq moves only when the value does: a zero delta does not make a participant a
        later arrival at a value it already held.
        """
        old = self._by_participant.get(participant_id)
        if old is None:
            self.set(participant_id, delta, seq)
            return delta
        value = -(old >> _VALUE_SHIFT) + delta
        if delta:
            key = _key(participant_id, value, seq)
            self._keys.remove(old)
            self._by_participant[participant_id] = key
            self._keys.add(key)
        return value

    def remove(self, participant_id: int) -> bool:
        """Take ``participant_id`` off the board; False when it was not on it."""
        old = self._by_participant.pop(participant_id, None)
        if old is None:
            return False
        self._keys.remove(old)
        return True

    # queries -------------------------------------------------------------------------------

    def value_of(self, participant_id: int) -> int | None:
        key = self._by_participant.get(participant_id)
        return None if key is None else -(key >> _VALUE_SHIFT)

    def seq_of(self, participant_id: int) -> int | None:
        key = self._by_participant.get(participant_id)
        return None if key is None else (key >> ID_BITS) & _MASK

    def rank_for(self, value: int) -> int:
        """The rank ``value`` would hold now: 1 + the number of participants with more."""
        above: int = self._keys.bisect_left(-value << _VALUE_SHIFT)
        return above + 1

    def standing(self, participant_id: int) -> Standing | None:
        key = self._by_participant.get(participant_id)
        if key is None:
            return None
        lists = self._keys._lists
        pos, sub, idx, position = self._locate(key)
        value = -(key >> _VALUE_SHIFT)
        low = -value << _VALUE_SHIFT  # the smallest key a participant with this value can have
        before = sub[idx - 1] if idx else lists[pos - 1][-1] if pos else None
        if before is not None and before >= low:  # tied with someone listed earlier
            rank, tied = self._above(low, pos, sub, idx, position) + 1, True
        else:
            after = sub[idx + 1] if idx + 1 < len(sub) else None
            if after is None and pos + 1 < len(lists):
                after = lists[pos + 1][0]
            rank, tied = position + 1, after is not None and -(after >> _VALUE_SHIFT) == value
        return Standing(participant_id, value, (key >> ID_BITS) & _MASK, rank, position, tied)

    def top(self, n: int) -> list[Standing]:
        return self.page(0, n)

    def around(self, participant_id: int, n: int) -> list[Standing]:
        """Up to ``n`` rows either side of ``participant_id`` in list order; [] if absent."""
        if n < 0:
            raise ValueError("n must not be negative")
        key = self._by_participant.get(participant_id)
        if key is None:
            return []
        position: int = self._keys.bisect_left(key)
        return self._window(max(0, position - n), position + n + 1)

    def page(self, offset: int, limit: int) -> list[Standing]:
        """``limit`` rows from position ``offset`` in list order."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        return self._window(offset, offset + limit)

    def _window(self, first: int, stop: int) -> list[Standing]:
        """Rows ``first`` to ``stop`` (exclusive) in list order, ranked."""
        keys = self._keys
        size = len(keys)
        stop = min(stop, size)
        if first >= stop:
            return []
        lists = keys._lists
        pos, idx = keys._pos(first)
        sub = lists[pos]
        # One key beyond each edge, when there is one, says whether the edge rows are tied.
        before = sub[idx - 1] if idx else lists[pos - 1][-1] if pos else None
        wanted = stop - first + (stop < size)
        near: list[int] = sub[idx : idx + wanted]
        following = pos
        while len(near) < wanted:
            following += 1
            near += lists[following][: wanted - len(near)]
        values = [-(key >> _VALUE_SHIFT) for key in near]
        value = values[0]
        low = -value << _VALUE_SHIFT
        # The first row's rank is its position unless its tie starts before the window.
        rank = first + 1
        previous = None
        if before is not None:
            previous = -(before >> _VALUE_SHIFT)
            if before >= low:
                rank = self._above(low, pos, sub, idx, first) + 1
        last = len(near) - 1
        standings: list[Standing] = []
        for i in range(stop - first):
            key, value = near[i], values[i]
            if i and value != previous:
                rank = first + i + 1
            tied = value == previous or (i < last and values[i + 1] == value)
            standings.append(
                Standing(key & _MASK, value, (key >> ID_BITS) & _MASK, rank, first + i, tied)
            )
            previous = value
        return standings

    # SortedList keeps its keys in sorted sublists (``_lists``, with ``_maxes`` their last keys)
    # and a tree of their lengths that turns (sublist, index) into a position and back (``_loc``,
    # ``_pos``); the sortedcontainers documentation describes this layout under "Implementation
    # Details". Reading it directly lets a query find a key's neighbours, and the start of its
    # tie, inside the sublist it already holds instead of searching the whole board again: a
    # rank costs a quarter to a third less (p50 8.7 vs 11.2 µs at a million participants, 2.4
    # vs 3.8 µs at 10k). Only reads use it; every change goes through SortedList's own methods,
    # and the property tests, run on boards cut into sublists of four, compare every answer
    # with the naive ranking.

    def _locate(self, key: int) -> tuple[int, list[int], int, int]:
        """Where ``key``, which is on the board, lies: sublist number, sublist, index, position."""
        keys = self._keys
        pos = bisect_left(keys._maxes, key)
        sub: list[int] = keys._lists[pos]
        idx = bisect_left(sub, key)
        position: int = keys._loc(pos, idx)
        return pos, sub, idx, position

    def _above(self, low: int, pos: int, sub: list[int], idx: int, position: int) -> int:
        """How many keys are below ``low``, given the key at ``position`` (``sub[idx]``, sublist
        ``pos``) is not; i.e. how many participants have a greater value."""
        if sub[0] < low:  # the tie starts inside this sublist
            return position - idx + bisect_left(sub, low, 0, idx)
        if not pos or self._keys._maxes[pos - 1] < low:  # it starts with this sublist
            return position - idx
        above: int = self._keys.bisect_left(low)
        return above
