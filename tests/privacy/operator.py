"""The operator's attack: tie each counted ballot to a citizen with only the database files,
the server's log and the public board (ballot-secrecy.md §2, adversary "the operator").

The attack is generic on purpose: it does not know which table or log line leaks, it looks
for every trail the design forbids.

1. **Identifiers.** From the public board: every ballot entry's leaf hash, tracking code,
   nullifier, SHA-256(nullifier) and token message; grouped per nullifier (a re-vote is the
   same voter). From the database: the citizens' pseudonyms (the identity accounts).
2. **Evidence rows.** Every row of every table (the main file and the WAL, read through
   SQLite on a copy) is searched for those identifiers (also inside JSON text) and for
   timestamps. A row that names one citizen gives times for that citizen; a row that names
   one ballot gives times for that ballot.
3. **Board checkpoints.** Each signed checkpoint row (size, time) brackets when the leaves
   it added were accepted.
4. **Order.** The WAL's frames in write order (across generations: salt-1, then
   position): an identifier first written in a frame gets the times of the timed rows
   newly written before and after it, so an untimed pending ballot or register row is
   dated by its neighbours. Row order (SQLite rowids), the physical order of cells inside
   each B-tree page (SQLite places cell bodies downwards as they are inserted, so the
   offset order is the insertion order until the page is rebuilt, for ``WITHOUT ROWID``
   tables too), and log order. An order carries time bounds from timed items to untimed
   neighbours (a sound interval propagation: inconsistent orders are dropped), and log
   lines of the token and cast routes are zipped onto the insertion order of the voter
   register and of the board when their counts match and every zipped time agrees.
5. **Matching.** With the booth's public timing (casting 31 s to 5 min 15 s after the
   right), each (ballot, citizen) pair gets the probability that the gap fits, the matrix is
   made doubly stochastic (Sinkhorn: each citizen holds one nullifier), and the attacker's
   guess per ballot is the set of citizens of maximal weight.

Ballots the attacker cannot tell apart get identical rows at every step, hence identical
candidate sets: within a batch whose order is random and untimed, its expected correct
matches are at most one per batch whatever it does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import sqlite3
import struct
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

__all__ = ["Attack", "Evidence", "attack"]

#: The booth's published timing: the right on opening, 30 s to 5 min of filling, a 1-5 s
#: random delay; sign-in precedes opening by seconds (the attacker's slack).
GAP = (31.0, 315.0)
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")
_HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
_B64U_MSG = re.compile(r"[A-Za-z0-9_-]{128}")


def _times_in(text: str) -> list[float]:
    found = []
    for day, hh, mm, ss, frac in _TIME.findall(text):
        moment = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss or '00'}").replace(tzinfo=UTC)
        found.append(moment.timestamp() + (float(f"0.{frac}") if frac else 0.0))
    return found


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _code(leaf: bytes) -> str:
    return base64.b32encode(leaf[:10]).decode().rstrip("=")


@dataclass
class Ballot:
    """One nullifier: every entry cast with it, the first one's index."""

    nullifier: bytes
    first_index: int
    keys: set[bytes | str] = field(default_factory=set)


@dataclass
class Evidence:
    """What the attack found, kept for the report (which trail gave what)."""

    citizen_times: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ballot_times: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    orders: list[str] = field(default_factory=list)
    log_zips: list[str] = field(default_factory=list)


@dataclass
class Attack:
    """Per nullifier, the attacker's candidate citizens (its guess, ties included)."""

    candidates: dict[bytes, frozenset[str]]
    evidence: Evidence

    def expected_correct(self, truth: dict[bytes, str]) -> float:
        """Expected correct matches when the attacker picks uniformly among its candidates."""
        return sum(
            (1.0 / len(s)) if truth[n] in s else 0.0 for n, s in self.candidates.items() if s
        )


# -- the board ------------------------------------------------------------------------------


def _board_ballots(export: dict[str, Any]) -> list[Ballot]:
    by_nullifier: dict[bytes, Ballot] = {}
    for index, entry in enumerate(export["entries"]):
        if "cast" not in entry:
            continue
        msg = base64.urlsafe_b64decode(entry["cast"]["token"]["msg"] + "==")
        nullifier = hashlib.sha256(msg).digest()
        leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(entry)).digest()
        ballot = by_nullifier.setdefault(nullifier, Ballot(nullifier, index))
        ballot.keys |= {
            nullifier,
            hashlib.sha256(nullifier).digest(),
            leaf,
            _code(leaf),
            _b64u(leaf),
            _b64u(nullifier),
            _b64u(hashlib.sha256(nullifier).digest()),
            entry["cast"]["token"]["msg"],
        }
    return list(by_nullifier.values())


# -- the database ---------------------------------------------------------------------------


@dataclass
class Row:
    table: str
    rowid: int | None
    citizens: set[str]
    ballots: set[int]
    times: list[float]
    columns: dict[str, Any]


def _open_copy(database: Path, wal: Path | None, work: Path) -> sqlite3.Connection:
    copy = work / "operator.sqlite3"
    shutil.copyfile(database, copy)
    if wal is not None:
        shutil.copyfile(wal, work / "operator.sqlite3-wal")
    return sqlite3.connect(f"file:{copy}?mode=ro", uri=True)


def _rows(conn: sqlite3.Connection) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    tables = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    for name, sql in tables:
        without_rowid = "WITHOUT ROWID" in (sql or "").upper()
        select = f'SELECT * FROM "{name}"' if without_rowid else f'SELECT rowid, * FROM "{name}"'
        cursor = conn.execute(select)
        columns = [d[0] for d in cursor.description]
        for values in cursor:
            if without_rowid:
                yield name, None, dict(zip(columns, values, strict=True))
            else:
                yield name, values[0], dict(zip(columns[1:], values[1:], strict=True))


def _classify(
    table: str,
    rowid: int | None,
    columns: dict[str, Any],
    citizens: set[str],
    ballot_of: dict[bytes | str, int],
) -> Row:
    row = Row(table, rowid, set(), set(), [], columns)
    for raw in columns.values():
        value = raw
        if isinstance(raw, bytes):
            if raw in ballot_of:
                row.ballots.add(ballot_of[raw])
            try:
                value = raw.decode()
            except UnicodeDecodeError:
                continue
        if not isinstance(value, str):
            continue
        if value in ballot_of:
            row.ballots.add(ballot_of[value])
        row.citizens |= {h for h in _HEX32.findall(value) if h in citizens}
        row.ballots |= {ballot_of[m] for m in _B64U_MSG.findall(value) if m in ballot_of}
        row.times += _times_in(value)
    return row


# -- physical order inside B-tree pages ------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = buf[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError("unreachable")


def _leaf_cells(page: bytes, header_at: int) -> list[tuple[int, bytes]]:
    """(cell offset, cell bytes prefix) of a table or index leaf page, in key order."""
    kind = page[header_at]
    if kind not in (0x0A, 0x0D):
        return []
    count = struct.unpack_from(">H", page, header_at + 3)[0]
    pointers = [struct.unpack_from(">H", page, header_at + 8 + 2 * i)[0] for i in range(count)]
    return [(p, page[p : p + 200]) for p in pointers if 0 < p < len(page)]


def physical_orders(
    database: Path, wal: Path | None, keys: Iterable[bytes | str]
) -> dict[str, list[list[bytes | str]]]:
    """Per page image (main file pages and WAL frames), the identifiers found in its leaf
    cells sorted by descending cell offset (insertion order), for pages holding at least
    two of ``keys``. Keyed by "file:page"."""
    wanted = [(k if isinstance(k, bytes) else k.encode(), k) for k in keys]
    images: list[tuple[str, bytes]] = []
    data = database.read_bytes()
    size = struct.unpack_from(">H", data, 16)[0]
    size = 65536 if size == 1 else size
    images.extend(
        (f"main:{n + 1}", data[n * size : (n + 1) * size]) for n in range(len(data) // size)
    )
    if wal is not None and wal.exists():
        raw = wal.read_bytes()
        frame = 24 + size
        for i in range((len(raw) - 32) // frame):
            start = 32 + i * frame
            page_no = struct.unpack_from(">I", raw, start)[0]
            images.append((f"wal-frame{i}:{page_no}", raw[start + 24 : start + frame]))
    orders: dict[str, list[list[bytes | str]]] = {}
    for name, page in images:
        header_at = 100 if name.endswith(":1") and name.startswith("main") else 0
        cells = _leaf_cells(page, header_at)
        found: list[tuple[int, bytes | str]] = []
        for offset, body in cells:
            for encoded, key in wanted:
                if encoded in body:
                    found.append((offset, key))
                    break
        if len(found) >= 2:
            found.sort(key=lambda t: -t[0])
            orders.setdefault(name, []).append([k for _, k in found])
    return orders


def _wal_frames(wal: Path) -> list[tuple[int, bytes]]:
    """The WAL's frames in the order they were written: (page number, page image).

    After a checkpoint SQLite rewrites the WAL from its start with salt-1 incremented, so
    the frames of an older generation that were not overwritten yet lie after the current
    ones; sorting by (salt-1, position) puts every surviving frame in write order."""
    raw = wal.read_bytes()
    if len(raw) < 32:
        return []
    size = struct.unpack_from(">I", raw, 8)[0]
    frame = 24 + size
    found = []
    for i in range((len(raw) - 32) // frame):
        start = 32 + i * frame
        page_no, _, salt1 = struct.unpack_from(">III", raw, start)
        found.append((salt1, i, page_no, raw[start + 24 : start + frame]))
    found.sort(key=lambda f: (f[0], f[1]))
    return [(page_no, image) for _, _, page_no, image in found]


def _cell_bodies(page: bytes) -> list[bytes]:
    """The bodies of a leaf page's cells (table or index leaf; bounded prefix)."""
    for header_at in (0, 100):
        if len(page) > header_at and page[header_at] in (0x0A, 0x0D):
            return [body for _, body in _leaf_cells(page, header_at)]
    return []


@dataclass
class Chronology:
    """Where each identifier first appears in the WAL's write order, and the time bounds
    of every frame from the timestamps written in new cells around it."""

    first: dict[bytes | str, int]
    bounds: list[tuple[float, float]]


def wal_chronology(
    wal: Path | None,
    keys: Iterable[bytes | str],
    window: tuple[float, float],
    *,
    citizens: set[str],
    election_id: str,
) -> Chronology | None:
    """A new cell body (never seen in an earlier frame) was written by that frame's commit;
    the latest time it carries is when (the clock that writes rows is the commit's). The
    frames form one global order across every table: untimed rows (a pending ballot, a
    register row) get the times of the timed rows written just before and after them."""
    if wal is None or not wal.exists():
        return None
    frames = _wal_frames(wal)
    wanted = [(k if isinstance(k, bytes) else k.encode(), k) for k in keys]
    election = election_id.encode()
    seen: set[bytes] = set()
    first: dict[bytes | str, int] = {}
    stamp: list[float | None] = []
    for index, (_, page) in enumerate(frames):
        latest: float | None = None
        for body in _cell_bodies(page):
            if body in seen:
                continue
            seen.add(body)
            text = body.decode("latin-1")
            times = [t for t in _times_in(text) if window[0] <= t <= window[1]]
            if times:
                latest = max(times) if latest is None else max(latest, *times)
            for encoded, key in wanted:
                if key in first or encoded not in body:
                    continue
                # A citizen counts where the register names them with this election.
                if key in citizens and election not in body:
                    continue
                first[key] = index
        stamp.append(latest)
    lows: list[float] = []
    low = window[0]
    for value in stamp:
        low = max(low, value) if value is not None else low
        lows.append(low)
    highs: list[float] = [window[1]] * len(stamp)
    high = window[1]
    for i in range(len(stamp) - 1, -1, -1):
        value = stamp[i]
        if value is not None:
            high = min(high, value)
        highs[i] = high
    return Chronology(first, list(zip(lows, highs, strict=True)))


# -- the attack -------------------------------------------------------------------------------


def _propagate(
    sequence: list[int], intervals: dict[int, tuple[float, float]]
) -> dict[int, tuple[float, float]] | None:
    """Carry bounds along an order (item k happened after k-1); None if inconsistent."""
    result = dict(intervals)
    lo = float("-inf")
    for item in sequence:
        a, b = result[item]
        lo = max(lo, a)
        result[item] = (lo, b)
    hi = float("inf")
    for item in reversed(sequence):
        a, b = result[item]
        hi = min(hi, b)
        result[item] = (a, hi)
    if any(a > b + 1e-6 for a, b in result.values()):
        return None
    return result


def _gap_probability(issue: tuple[float, float], cast: tuple[float, float]) -> float:
    n = 12
    hits = 0
    for x in range(n):
        s = issue[0] + (issue[1] - issue[0]) * (x + 0.5) / n
        for y in range(n):
            t = cast[0] + (cast[1] - cast[0]) * (y + 0.5) / n
            hits += GAP[0] <= t - s <= GAP[1]
    return hits / (n * n)


def _sinkhorn(matrix: list[list[float]], rounds: int = 200) -> list[list[float]]:
    m = [row[:] for row in matrix]
    for _ in range(rounds):
        for row in m:
            total = sum(row)
            if total > 0:
                row[:] = [v / total for v in row]
        for c in range(len(m[0]) if m else 0):
            total = sum(row[c] for row in m)
            if total > 0:
                for row in m:
                    row[c] /= total
    return m


def _log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for text in log.read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


def attack(
    *,
    database: Path,
    wal: Path | None,
    log: Path,
    export: dict[str, Any],
    election_id: str,
) -> Attack:
    evidence = Evidence()
    ballots = _board_ballots(export)
    ballot_of: dict[bytes | str, int] = {k: i for i, b in enumerate(ballots) for k in b.keys}
    with tempfile.TemporaryDirectory() as work:
        conn = _open_copy(database, wal, Path(work))
        try:
            everything = list(_rows(conn))
        finally:
            conn.close()
    # Citizens: the accounts (any 32-hex id of a row of the identity accounts table), of
    # whom those in a row that also names the election obtained a right.
    accounts = {str(cols["id"]) for table, _, cols in everything if table == "identity_citizens"}
    rows = [_classify(t, r, c, accounts, ballot_of) for t, r, c in everything]
    register = sorted(
        {
            c
            for row in rows
            if len(row.citizens) == 1 and election_id in map(str, row.columns.values())
            for c in row.citizens
        }
    )
    # The voting window: from the board's first checkpoint to its last.
    log_id = next(
        cols["id"]
        for table, _, cols in everything
        if table == "audit_logs" and election_id in str(cols["name"])
    )
    checkpoints = sorted(
        (int(cols["size"]), _times_in(str(cols["created_at"]))[0])
        for table, _, cols in everything
        if table == "audit_checkpoints" and cols["log_id"] == log_id
    )
    window = (checkpoints[0][1], checkpoints[-1][1])

    def inside(t: float) -> bool:
        return window[0] <= t <= window[1]

    issue: dict[str, tuple[float, float]] = dict.fromkeys(register, window)
    cast: dict[int, tuple[float, float]] = dict.fromkeys(range(len(ballots)), window)
    # 2. Direct times.
    per_citizen: dict[str, list[float]] = defaultdict(list)
    per_ballot: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        times = [t for t in row.times if inside(t)]
        if not times:
            continue
        if len(row.citizens) == 1 and not row.ballots:
            (who,) = row.citizens
            if who in issue:
                per_citizen[who] += times
                evidence.citizen_times[row.table].add(", ".join(sorted(row.columns)))
        if len(row.ballots) == 1 and not row.citizens:
            (which,) = row.ballots
            per_ballot[which] += times
            evidence.ballot_times[row.table].add(", ".join(sorted(row.columns)))
    for who, times in per_citizen.items():
        issue[who] = (min(times), max(times))
    for which, times in per_ballot.items():
        cast[which] = (min(times), max(times))
    # 3. Checkpoints bracket each first entry.
    for i, ballot in enumerate(ballots):
        before = [t for size, t in checkpoints if size <= ballot.first_index]
        after = [t for size, t in checkpoints if size > ballot.first_index]
        lo, hi = (before[-1] if before else window[0]), (after[0] if after else window[1])
        a, b = cast[i]
        if max(a, lo) <= min(b, hi):
            cast[i] = (max(a, lo), min(b, hi))
    # 4a. The WAL's write order across all tables, timed by the rows written around.
    register_keys = [f"{c}" for c in register]
    chronology = wal_chronology(
        wal,
        [*ballot_of, *register_keys],
        window,
        citizens=set(register_keys),
        election_id=election_id,
    )
    if chronology is not None:
        for key, frame in chronology.first.items():
            lo, hi = chronology.bounds[frame]
            if key in ballot_of:
                targets: list[tuple[dict[Any, tuple[float, float]], Any, str]] = [
                    (cast, ballot_of[key], "ballot")
                ]
            elif isinstance(key, str) and key in issue:
                targets = [(issue, key, "citizen")]
            else:
                continue
            for store, item, side in targets:
                a, b = store[item]
                if max(a, lo) <= min(b, hi) and (max(a, lo), min(b, hi)) != (a, b):
                    store[item] = (max(a, lo), min(b, hi))
                    label = f"WAL write order ({side} first written between timed rows)"
                    if label not in evidence.orders:
                        evidence.orders.append(label)
    # 4b. Orders: rowids of tables naming one ballot / one citizen, then page cell order.
    ballot_orders: dict[str, list[int]] = defaultdict(list)
    citizen_orders: dict[str, list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r.table, r.rowid or 0)):
        if row.rowid is None:
            continue
        if len(row.ballots) == 1 and not row.citizens:
            ballot_orders[f"rowid {row.table}"].append(next(iter(row.ballots)))
        elif len(row.citizens) == 1 and not row.ballots and row.citizens <= set(register):
            citizen_orders[f"rowid {row.table}"].append(next(iter(row.citizens)))
    pages = physical_orders(database, wal, [*ballot_of, *register])
    for page, groups in pages.items():
        for group in groups:
            if all(isinstance(k, str) and k in issue for k in group):
                citizen_orders[f"cells {page}"] = [str(k) for k in group]
            elif all(k in ballot_of for k in group):
                ballot_orders[f"cells {page}"] = [ballot_of[k] for k in group]
    # Log lines of the token and cast routes, zipped onto an insertion order of equal size.
    lines = _log_lines(log)
    token_times = [
        _times_in(line["time"])[0]
        for line in lines
        if str(line.get("route", "")).endswith("/tokens") and line.get("status") == 200
    ]
    cast_times = [
        _times_in(line["time"])[0]
        for line in lines
        if str(line.get("route", "")).endswith("/ballots") and line.get("status") == 201
    ]
    for name, sequence in list(citizen_orders.items()):
        unique = list(dict.fromkeys(sequence))
        if len(unique) == len(token_times) == len(register) > 1 and all(
            issue[who][0] - 1 <= t <= issue[who][1] + 1
            for who, t in zip(unique, token_times, strict=True)
        ):
            # Every zipped time agrees with that citizen's own times: the order is real.
            evidence.log_zips.append(f"token-route log lines onto {name}")
            issue.update((who, (t, t)) for who, t in zip(unique, token_times, strict=True))
    entries = [i for i, e in enumerate(export["entries"]) if "cast" in e]
    if len(cast_times) == len(entries) > 1:
        # The board's own order, if arrival order, takes the cast lines one by one.
        nullifier_at = {}
        for i, ballot in enumerate(ballots):
            nullifier_at[ballot.first_index] = i
        firsts = [nullifier_at[e] for e in entries if e in nullifier_at]
        firsts_times = [t for e, t in zip(entries, cast_times, strict=True) if e in nullifier_at]
        if all(
            cast[i][0] - 1 <= t <= cast[i][1] + 1 for i, t in zip(firsts, firsts_times, strict=True)
        ):
            evidence.log_zips.append("cast-route log lines onto the board order")
            cast.update((i, (t, t)) for i, t in zip(firsts, firsts_times, strict=True))
    for name, citizens_seq in citizen_orders.items():
        seq = list(dict.fromkeys(citizens_seq))
        done = _propagate_str(seq, issue)
        if done is not None and done != issue:
            evidence.orders.append(name)
            issue = done
    for name, ballot_seq in ballot_orders.items():
        seq_i = list(dict.fromkeys(ballot_seq))
        result = _propagate(seq_i, cast)
        if result is not None and result != cast:
            evidence.orders.append(name)
            cast = result
    # 5. Matching.
    matrix = [[_gap_probability(issue[c], cast[i]) for c in register] for i in range(len(ballots))]
    weights = _sinkhorn(matrix)
    candidates: dict[bytes, frozenset[str]] = {}
    for i, ballot in enumerate(ballots):
        top = max(weights[i]) if weights[i] else 0.0
        candidates[ballot.nullifier] = (
            frozenset(c for c, w in zip(register, weights[i], strict=True) if w >= top * (1 - 1e-6))
            if top > 0
            else frozenset(register)
        )
    return Attack(candidates, evidence)


def _propagate_str(
    sequence: list[str], intervals: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]] | None:
    index = {c: i for i, c in enumerate(intervals)}
    as_int = {index[c]: v for c, v in intervals.items()}
    result = _propagate([index[c] for c in sequence if c in index], as_int)
    if result is None:
        return None
    names = list(intervals)
    return {names[i]: v for i, v in result.items()}
