"""Standings on a leaderboard: standard competition ranking with a first-to-reach tie rule.

Equal values share a rank (1, 2, 2, 4). Within a tie whoever reached the value first is listed
first; "first" is the ``seq`` of the ledger entry that last changed the value (lower = earlier),
and the participant id settles the rest so the order is always the same. So the list order is
(value desc, seq asc, participant id asc), but the rank depends on the value alone.

``RankIndex`` keeps one board in memory as an order-statistic index: every update and every
query is O(log n). It holds no Python object per participant, only machine words: 48 bytes a
participant, where a SortedList of packed ints plus a dict to find them took 150-190, so every
scope and metric of a million-participant program (7.4M rows) fits in 400 MB. The price is
paid on the search: two to four bisects over parallel columns where one packed int took one,
so at a million participants a rank costs some 15 % more and an update about half again as
much (p50 ~18 vs ~12 µs; every figure is in ``tests/perf``). Two copies of the rows, each cut
into chunks of about ``LOAD`` rows held as columns of signed 64-bit ints (``array('q')``), the
way ``SortedList`` cuts its list into sublists:

- in list order: -value, seq, participant id; each chunk's last row is in three flat columns
  (``_max_nv``, ``_max_seq``, ``_max_pid``), and a Fenwick tree over the chunk lengths turns
  (chunk, index) into a position and back;
- in participant-id order: participant id, -value, seq; it finds a participant's row, and so
  its place in list order, where a dict would have cost 70 bytes a participant.

Every search is a C ``bisect`` over one column of one chunk: on -value, then, only inside a tie,
on seq and on participant id. Values are unbounded: a board whose values leave the 64-bit range
keeps its -value columns as Python lists instead (slower and bigger, and only then). Seq and
participant id must lie in [0, 2**63), the range of the database's bigint ids.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from operator import and_, rshift
from typing import NamedTuple, TypeAlias

Row = tuple[int, int, int]
"""(participant_id, value, seq): what a board holds for one participant."""

ID_BITS = 63
ID_LIMIT = 1 << ID_BITS  # seq and participant id lie in [0, ID_LIMIT)
_MASK = ID_LIMIT - 1
_VALUE_SHIFT = 2 * ID_BITS
LOAD = 1000
"""Rows a chunk is cut to; a chunk splits above twice that and merges below half of it."""

Column: TypeAlias = "array[int] | list[int]"


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


def _check(participant_id: int, seq: int) -> None:
    if not 0 <= participant_id < ID_LIMIT:
        raise ValueError(f"participant id {participant_id} outside [0, 2**63)")
    if not 0 <= seq < ID_LIMIT:
        raise ValueError(f"seq {seq} outside [0, 2**63)")


def _fits(negated: int) -> bool:
    """Whether -value fits a signed 64-bit column."""
    return -ID_LIMIT <= negated < ID_LIMIT


def _roomy(column: Column) -> Column:
    """``column``, given the spare room a growing array keeps (about 1/16).

    A slice is allocated to its exact size, so the first row inserted into a chunk cut from one
    would move the whole chunk to a new allocation: for a board just built, a cost most updates
    would pay once, at random, and the slowest of them dominate the tail.
    """
    column.append(0)
    del column[-1]
    return column


def _split(columns: tuple[list[Column], ...], chunk: int, load: int) -> None:
    """Cut chunk ``chunk`` of every column after ``load`` rows."""
    for chunks in columns:
        whole = chunks[chunk]
        chunks.insert(chunk + 1, _roomy(whole[load:]))
        del whole[load:]


def _merge(columns: tuple[list[Column], ...], chunk: int) -> None:
    """Append chunk ``chunk`` of every column to the chunk before it."""
    for chunks in columns:
        chunks[chunk - 1].extend(chunks[chunk])
        del chunks[chunk]


class _Columns:
    """One board's rows, twice: in list order and in participant-id order (module docstring)."""

    __slots__ = (
        "_id_maxes",
        "_id_nv",
        "_id_seq",
        "_ids",
        "_load",
        "_max_nv",
        "_max_pid",
        "_max_seq",
        "_nv",
        "_pid",
        "_seq",
        "_size",
        "_tree",
        "wide",
    )

    def __init__(self, load: int = LOAD) -> None:
        self._load = load
        self.wide = False  # -value columns are lists: some value left the 64-bit range
        # list order: chunk c holds rows _nv[c][i], _seq[c][i], _pid[c][i]; its last row is
        # _max_nv[c], _max_seq[c], _max_pid[c]: flat columns that stay in cache, where a list of
        # tuples cost a tuple and up to three int objects per chunk to walk.
        self._nv: list[Column] = []
        self._seq: list[Column] = []
        self._pid: list[Column] = []
        self._max_nv: Column = array("q")
        self._max_seq: Column = array("q")
        self._max_pid: Column = array("q")
        self._tree: Column = array("q", (0,))  # Fenwick tree of chunk lengths, 1-based
        self._size = 0
        # participant-id order: chunk c holds _ids[c][i], _id_nv[c][i], _id_seq[c][i]
        self._ids: list[Column] = []
        self._id_nv: list[Column] = []
        self._id_seq: list[Column] = []
        self._id_maxes: list[int] = []

    def column(self, values: Iterable[int]) -> Column:
        """A -value column: 64-bit ints, or a list once the board is wide."""
        return list(values) if self.wide else array("q", values)

    def widen(self) -> None:
        self.wide = True
        self._nv = [list(chunk) for chunk in self._nv]
        self._id_nv = [list(chunk) for chunk in self._id_nv]
        self._max_nv = list(self._max_nv)

    def fill(
        self,
        nv: Column,
        seq: Column,
        pid: Column,
        ids: Column,
        id_nv: Column,
        id_seq: Column,
    ) -> None:
        """Hold these rows: whole columns, the first three in list order, the others by id."""
        load = self._load
        cuts = range(0, len(pid), load)
        self._nv = [_roomy(nv[i : i + load]) for i in cuts]
        self._seq = [_roomy(seq[i : i + load]) for i in cuts]
        self._pid = [_roomy(pid[i : i + load]) for i in cuts]
        self._max_nv = self.column(chunk[-1] for chunk in self._nv)
        self._max_seq = array("q", (chunk[-1] for chunk in self._seq))
        self._max_pid = array("q", (chunk[-1] for chunk in self._pid))
        self._size = len(pid)
        self._ids = [_roomy(ids[i : i + load]) for i in cuts]
        self._id_nv = [_roomy(id_nv[i : i + load]) for i in cuts]
        self._id_seq = [_roomy(id_seq[i : i + load]) for i in cuts]
        self._id_maxes = [chunk[-1] for chunk in self._ids]
        self._build_tree()

    def _reset(self, load: int) -> None:
        """Cut the rows into chunks of ``load`` (the tests cut boards small to test chunk edges)."""
        columns = [
            self.column(chain.from_iterable(self._nv)),
            *(array("q", chain.from_iterable(c)) for c in (self._seq, self._pid, self._ids)),
            self.column(chain.from_iterable(self._id_nv)),
            array("q", chain.from_iterable(self._id_seq)),
        ]
        self._load = load
        self.fill(*columns)

    # positions: a Fenwick tree over the chunk lengths ----------------------------------------

    def _build_tree(self) -> None:
        tree = array("q", (0, *map(len, self._pid)))
        size = len(tree)
        for i in range(1, size):
            j = i + (i & -i)
            if j < size:
                tree[j] += tree[i]
        self._tree = tree

    def _grow(self, chunk: int, delta: int) -> None:
        tree = self._tree
        size = len(tree)
        chunk += 1
        while chunk < size:
            tree[chunk] += delta
            chunk += chunk & -chunk

    def position(self, chunk: int, index: int) -> int:
        """The position in list order of row ``index`` of chunk ``chunk``."""
        tree = self._tree
        while chunk:
            index += tree[chunk]
            chunk &= chunk - 1
        return index

    def at(self, position: int) -> tuple[int, int]:
        """(chunk, index) of the row at ``position``, which must be on the board."""
        if position < len(self._pid[0]):
            return 0, position
        tree = self._tree
        top = len(tree) - 1
        chunk = 0
        step = 1 << (top.bit_length() - 1)
        while step:
            ahead = chunk + step
            if ahead <= top and tree[ahead] <= position:
                chunk = ahead
                position -= tree[ahead]
            step >>= 1
        return chunk, position

    # list order ----------------------------------------------------------------------------

    def locate(self, nv: int, seq: int, pid: int) -> int:
        """The first chunk whose last row is not before (nv, seq, pid); the count if none is."""
        max_nv = self._max_nv
        chunk = bisect_left(max_nv, nv)
        if chunk < len(max_nv) and max_nv[chunk] == nv:
            # chunks chunk..hi-1 end inside this value's tie: their last seqs, then pids, decide
            hi = bisect_right(max_nv, nv, chunk)
            max_seq = self._max_seq
            chunk = bisect_left(max_seq, seq, chunk, hi)
            if chunk < hi and max_seq[chunk] == seq:
                hi = bisect_right(max_seq, seq, chunk, hi)
                chunk = bisect_left(self._max_pid, pid, chunk, hi)
        return chunk

    def find(self, nv: int, seq: int, pid: int) -> tuple[int, int]:
        """(chunk, index) of a row that is on the board."""
        chunk = self.locate(nv, seq, pid)
        column = self._nv[chunk]
        lo = bisect_left(column, nv)
        hi = bisect_right(column, nv, lo)
        if hi - lo > 1:  # a tie: seq, then participant id, decide
            column = self._seq[chunk]
            lo = bisect_left(column, seq, lo, hi)
            if lo + 1 < hi and column[lo + 1] == seq:  # the same seq too: participant id decides
                lo = bisect_left(self._pid[chunk], pid, lo, bisect_right(column, seq, lo, hi))
        return chunk, lo

    def above(self, nv: int) -> int:
        """How many rows have a -value below ``nv``, i.e. a value above -nv."""
        chunk = bisect_left(self._max_nv, nv)
        if chunk == len(self._max_nv):
            return self._size
        return self.position(chunk, bisect_left(self._nv[chunk], nv))

    def insert(self, nv: int, seq: int, pid: int) -> None:
        chunks = len(self._pid)
        self._size += 1
        if not chunks:
            self._nv.append(self.column((nv,)))
            self._seq.append(array("q", (seq,)))
            self._pid.append(array("q", (pid,)))
            self._max_nv.append(nv)
            self._max_seq.append(seq)
            self._max_pid.append(pid)
            self._tree = array("q", (0, 1))
            return
        chunk = self.locate(nv, seq, pid)
        if chunk == chunks:  # beyond the last row: append to the last chunk
            chunk -= 1
            index = len(self._pid[chunk])
            self._max_nv[chunk] = nv
            self._max_seq[chunk] = seq
            self._max_pid[chunk] = pid
        else:
            column = self._nv[chunk]
            index = bisect_left(column, nv)
            hi = bisect_right(column, nv, index)
            if index < hi:  # joins a tie
                column = self._seq[chunk]
                last = column[hi - 1]
                if seq > last or (seq == last and pid > self._pid[chunk][hi - 1]):
                    index = hi  # the usual update: the latest seq, listed last in its tie
                else:
                    index = bisect_left(column, seq, index, hi)
                    hi = bisect_right(column, seq, index, hi)
                    if index < hi:
                        index = bisect_left(self._pid[chunk], pid, index, hi)
        self._nv[chunk].insert(index, nv)
        self._seq[chunk].insert(index, seq)
        self._pid[chunk].insert(index, pid)
        if len(self._pid[chunk]) > self._load << 1:
            _split((self._nv, self._seq, self._pid), chunk, self._load)
            self._new_last(chunk)
            self._build_tree()
        else:
            self._grow(chunk, 1)

    def delete(self, chunk: int, index: int) -> None:
        nv, seq, pid = self._nv[chunk], self._seq[chunk], self._pid[chunk]
        del nv[index], seq[index], pid[index]
        self._size -= 1
        left = len(pid)
        if left > self._load >> 1:
            if index == left:
                self._set_last(chunk)
            self._grow(chunk, -1)
        elif len(self._pid) > 1:  # too small: merge with a neighbour
            chunk = chunk or 1
            _merge((self._nv, self._seq, self._pid), chunk)
            del self._max_nv[chunk], self._max_seq[chunk], self._max_pid[chunk]
            chunk -= 1
            self._set_last(chunk)
            if len(self._pid[chunk]) > self._load << 1:
                _split((self._nv, self._seq, self._pid), chunk, self._load)
                self._new_last(chunk)
            self._build_tree()
        elif left:
            self._set_last(0)
            self._tree = array("q", (0, left))
        else:
            self._nv, self._seq, self._pid = [], [], []
            self._max_nv, self._max_seq, self._max_pid = self.column(()), array("q"), array("q")
            self._tree = array("q", (0,))

    def _set_last(self, chunk: int) -> None:
        """Record chunk ``chunk``'s last row."""
        self._max_nv[chunk] = self._nv[chunk][-1]
        self._max_seq[chunk] = self._seq[chunk][-1]
        self._max_pid[chunk] = self._pid[chunk][-1]

    def _new_last(self, chunk: int) -> None:
        """Record the last row of chunk ``chunk``, just split off the front of chunk + 1."""
        self._max_nv.insert(chunk, self._nv[chunk][-1])
        self._max_seq.insert(chunk, self._seq[chunk][-1])
        self._max_pid.insert(chunk, self._pid[chunk][-1])

    # participant-id order ------------------------------------------------------------------

    def find_id(self, pid: int) -> tuple[int, int] | None:
        """(chunk, index) of ``pid`` in participant-id order; None when it is not on the board."""
        maxes = self._id_maxes
        chunk = bisect_left(maxes, pid)
        if chunk == len(maxes):
            return None
        column = self._ids[chunk]
        # Ids are distinct, so at most maxes[chunk] - pid of them follow pid: its index is at
        # least this, and exactly this where the chunk's ids run without gaps (one probe).
        index = len(column) - 1 - maxes[chunk] + pid
        if index < 0 or column[index] != pid:
            index = bisect_left(column, pid, max(index, 0))
            if column[index] != pid:
                return None
        return chunk, index

    def insert_id(self, pid: int, nv: int, seq: int) -> None:
        maxes = self._id_maxes
        if not maxes:
            self._ids.append(array("q", (pid,)))
            self._id_nv.append(self.column((nv,)))
            self._id_seq.append(array("q", (seq,)))
            maxes.append(pid)
            return
        chunk = bisect_left(maxes, pid)
        if chunk == len(maxes):
            chunk -= 1
            index = len(self._ids[chunk])
            maxes[chunk] = pid
        else:
            index = bisect_left(self._ids[chunk], pid)
        self._ids[chunk].insert(index, pid)
        self._id_nv[chunk].insert(index, nv)
        self._id_seq[chunk].insert(index, seq)
        if len(self._ids[chunk]) > self._load << 1:
            _split((self._ids, self._id_nv, self._id_seq), chunk, self._load)
            maxes.insert(chunk, self._ids[chunk][-1])

    def delete_id(self, chunk: int, index: int) -> None:
        ids = self._ids[chunk]
        del ids[index], self._id_nv[chunk][index], self._id_seq[chunk][index]
        maxes = self._id_maxes
        if len(ids) > self._load >> 1:
            maxes[chunk] = ids[-1]
        elif len(maxes) > 1:
            chunk = chunk or 1
            _merge((self._ids, self._id_nv, self._id_seq), chunk)
            del maxes[chunk]
            chunk -= 1
            maxes[chunk] = self._ids[chunk][-1]
            if len(self._ids[chunk]) > self._load << 1:
                _split((self._ids, self._id_nv, self._id_seq), chunk, self._load)
                maxes.insert(chunk, self._ids[chunk][-1])
        elif ids:
            maxes[0] = ids[-1]
        else:
            self._ids, self._id_nv, self._id_seq, self._id_maxes = [], [], [], []


class RankIndex:
    """One leaderboard in memory: set, add and remove participants, ask for standings."""

    __slots__ = ("_keys",)

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        """A board holding ``rows``; a participant listed twice keeps its last row."""
        keys = self._keys = _Columns()
        # Packed ints, only while building: ascending keys are the list order.
        latest: dict[int, int] = {}
        for participant_id, value, seq in rows:
            if not (0 <= participant_id < ID_LIMIT and 0 <= seq < ID_LIMIT):
                _check(participant_id, seq)
            latest[participant_id] = (-value << _VALUE_SHIFT) | (seq << ID_BITS) | participant_id
        if not latest:
            return
        ordered = sorted(latest.values())
        keys.wide = not (_fits(ordered[0] >> _VALUE_SHIFT) and _fits(ordered[-1] >> _VALUE_SHIFT))
        nv = keys.column(map(rshift, ordered, repeat(_VALUE_SHIFT)))
        seqs = array("q", map(and_, map(rshift, ordered, repeat(ID_BITS)), repeat(_MASK)))
        pids = array("q", map(and_, ordered, repeat(_MASK)))
        del ordered
        ids = array("q", sorted(latest))
        by_id = list(map(latest.__getitem__, ids))
        del latest
        id_nv = keys.column(map(rshift, by_id, repeat(_VALUE_SHIFT)))
        id_seq = array("q", map(and_, map(rshift, by_id, repeat(ID_BITS)), repeat(_MASK)))
        del by_id
        keys.fill(nv, seqs, pids, ids, id_nv, id_seq)

    def __len__(self) -> int:
        return self._keys._size

    def __contains__(self, participant_id: object) -> bool:
        return isinstance(participant_id, int) and self._keys.find_id(participant_id) is not None

    def __iter__(self) -> Iterator[Row]:
        """Every row in list order."""
        keys = self._keys
        for nvs, seqs, pids in zip(keys._nv, keys._seq, keys._pid, strict=True):
            for nv, seq, pid in zip(nvs, seqs, pids, strict=True):
                yield pid, -nv, seq

    # updates -------------------------------------------------------------------------------

    def set(self, participant_id: int, value: int, seq: int) -> None:
        """Give ``participant_id`` this value, reached at ``seq``; insert or replace."""
        _check(participant_id, seq)
        self._move(participant_id, -value, seq, self._keys.find_id(participant_id))

    def add(self, participant_id: int, delta: int, seq: int) -> int:
        """Add ``delta`` to the value (a newcomer starts at 0) and return the new value.

        The seq moves only when the value does: a zero delta does not make a participant a
        later arrival at a value it already held.
        """
        keys = self._keys
        found = keys.find_id(participant_id)
        if found is None:
            self.set(participant_id, delta, seq)
            return delta
        chunk, index = found
        nv = keys._id_nv[chunk][index] - delta
        if delta:
            _check(participant_id, seq)
            self._move(participant_id, nv, seq, found)
        return -nv

    def _move(self, pid: int, nv: int, seq: int, found: tuple[int, int] | None) -> None:
        """Put ``pid`` at (-value ``nv``, ``seq``); ``found`` is where it is in id order."""
        keys = self._keys
        if not keys.wide and not _fits(nv):
            keys.widen()
        if found is None:
            keys.insert_id(pid, nv, seq)
        else:
            chunk, index = found
            nvs, seqs = keys._id_nv[chunk], keys._id_seq[chunk]
            old_nv, old_seq = nvs[index], seqs[index]
            nvs[index] = nv
            seqs[index] = seq
            keys.delete(*keys.find(old_nv, old_seq, pid))
        keys.insert(nv, seq, pid)

    def remove(self, participant_id: int) -> bool:
        """Take ``participant_id`` off the board; False when it was not on it."""
        keys = self._keys
        found = keys.find_id(participant_id)
        if found is None:
            return False
        chunk, index = found
        nv, seq = keys._id_nv[chunk][index], keys._id_seq[chunk][index]
        keys.delete_id(chunk, index)
        keys.delete(*keys.find(nv, seq, participant_id))
        return True

    # queries -------------------------------------------------------------------------------

    def value_of(self, participant_id: int) -> int | None:
        keys = self._keys
        found = keys.find_id(participant_id)
        return None if found is None else -keys._id_nv[found[0]][found[1]]

    def seq_of(self, participant_id: int) -> int | None:
        keys = self._keys
        found = keys.find_id(participant_id)
        return None if found is None else keys._id_seq[found[0]][found[1]]

    def rank_for(self, value: int) -> int:
        """The rank ``value`` would hold now: 1 + the number of participants with more."""
        return self._keys.above(-value) + 1

    def standing(self, participant_id: int) -> Standing | None:
        keys = self._keys
        found = keys.find_id(participant_id)
        if found is None:
            return None
        nv = keys._id_nv[found[0]][found[1]]
        seq = keys._id_seq[found[0]][found[1]]
        chunk = keys.locate(nv, seq, participant_id)
        column = keys._nv[chunk]
        first = bisect_left(column, nv)  # where this value starts in the chunk
        end = bisect_right(column, nv, first)  # and ends
        index = first
        if end - first > 1:
            seqs = keys._seq[chunk]
            index = bisect_left(seqs, seq, first, end)
            if index + 1 < end and seqs[index + 1] == seq:  # participant id decides
                stop = bisect_right(seqs, seq, index, end)
                index = bisect_left(keys._pid[chunk], participant_id, index, stop)
        position = keys.position(chunk, index)
        max_nv = keys._max_nv
        if not first and chunk and max_nv[chunk - 1] == nv:  # the tie began in a chunk before
            before = keys._nv[chunk - 1]
            if before[0] < nv:  # in the one just before
                rank = position - index - len(before) + bisect_left(before, nv) + 1
            else:
                rank = keys.above(nv) + 1
            tied = True
        else:
            rank = position - index + first + 1
            tied = end - first > 1 or (
                end == len(column) and chunk + 1 < len(max_nv) and keys._nv[chunk + 1][0] == nv
            )
        return Standing(participant_id, -nv, seq, rank, position, tied)

    def top(self, n: int) -> list[Standing]:
        return self.page(0, n)

    def around(self, participant_id: int, n: int) -> list[Standing]:
        """Up to ``n`` rows either side of ``participant_id`` in list order; [] if absent."""
        if n < 0:
            raise ValueError("n must not be negative")
        keys = self._keys
        found = keys.find_id(participant_id)
        if found is None:
            return []
        nv = keys._id_nv[found[0]][found[1]]
        seq = keys._id_seq[found[0]][found[1]]
        chunk, index = keys.find(nv, seq, participant_id)
        position = keys.position(chunk, index)
        if index >= n:  # the window starts in the same chunk: no need to look it up
            return self._window(position - n, position + n + 1, chunk, index - n)
        return self._window(max(0, position - n), position + n + 1)

    def page(self, offset: int, limit: int) -> list[Standing]:
        """``limit`` rows from position ``offset`` in list order."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        return self._window(offset, offset + limit)

    def _window(self, first: int, stop: int, chunk: int = -1, index: int = 0) -> list[Standing]:
        """Rows ``first`` to ``stop`` (exclusive) in list order, ranked; ``chunk`` and ``index``
        say where row ``first`` is, when the caller knows."""
        keys = self._keys
        size = keys._size
        stop = min(stop, size)
        if first >= stop:
            return []
        if chunk < 0:
            chunk, index = keys.at(first)
        column = keys._nv[chunk]
        # One row beyond each edge, when there is one, says whether the edge rows are tied.
        before = column[index - 1] if index else keys._max_nv[chunk - 1] if chunk else None
        wanted = stop - first + (stop < size)
        nvs = column[index : index + wanted]
        seqs = keys._seq[chunk][index : index + wanted]
        pids = keys._pid[chunk][index : index + wanted]
        following = chunk
        while len(pids) < wanted:
            following += 1
            more = wanted - len(pids)
            nvs.extend(keys._nv[following][:more])
            seqs.extend(keys._seq[following][:more])
            pids.extend(keys._pid[following][:more])
        nv = nvs[0]
        # The first row's rank is its position unless its tie starts before the window.
        rank = first + 1
        if before == nv:
            start = bisect_left(column, nv, 0, index)
            if start or not chunk or keys._max_nv[chunk - 1] != nv:  # it starts in this chunk
                rank = first - index + start + 1
            else:
                rank = keys.above(nv) + 1
        previous = before
        last = len(nvs) - 1
        standings: list[Standing] = []
        for i in range(stop - first):
            nv = nvs[i]
            if i and nv != previous:
                rank = first + i + 1
            tied = nv == previous or (i < last and nvs[i + 1] == nv)
            standings.append(Standing(pids[i], -nv, seqs[i], rank, first + i, tied))
            previous = nv
        return standings
