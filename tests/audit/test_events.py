"""Pure parts of the log engine: names and origins, event leaves, commitments, promises, tiles."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.errors import (
    EventError,
    InvalidSignatureError,
    LogNameError,
    PromiseError,
    TreeRangeError,
    UnverifiedNoteError,
)
from audit.events import (
    EventLeaf,
    canonical_details,
    check_log_name,
    coarse_time,
    details_commitment,
    origin_for,
)
from audit.note import Signer
from audit.promise import PromiseBody, open_promise
from audit.tiles import TilePath, decode_bundle, encode_bundle, parse_tile_path

SIGNER = Signer(name="127.0.0.1:8000/audit", seed=bytes(range(32)))
OTHER = Signer(name="127.0.0.1:8000/audit", seed=bytes(range(1, 33)))
T = datetime(2026, 1, 15, 9, 41, tzinfo=UTC)


@pytest.mark.parametrize("name", ["audit", "election-2026.paris_budget", "a", "0" * 64])
def test_valid_log_names(name: str) -> None:
    assert check_log_name(name) == name


@pytest.mark.parametrize("name", ["", "Audit", "-x", ".hidden", "a/b", "a b", "é", "a" * 65, "a+b"])
def test_invalid_log_names(name: str) -> None:
    with pytest.raises(LogNameError):
        check_log_name(name)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000/audit"),
        ("https://Parvis.Example.fr", "parvis.example.fr/audit"),
        ("https://ville.fr/parvis", "ville.fr/parvis/audit"),
        ("http://[::1]:8000", "[::1]:8000/audit"),
    ],
)
def test_origin_is_schemeless_host_and_path(url: str, origin: str) -> None:
    assert origin_for(url, "audit") == origin


def test_origin_refuses_user_information() -> None:
    with pytest.raises(LogNameError, match="user information"):
        origin_for("https://admin:secret@parvis.example.fr", "audit")


def test_coarse_time_truncates_to_the_minute_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert coarse_time(datetime(2026, 1, 15, 10, 41, 59, 999, tzinfo=paris)) == T
    with pytest.raises(EventError):
        coarse_time(datetime(2026, 1, 15, 9, 41))  # naive


def _leaf(**changes: object) -> EventLeaf:
    values: dict[str, object] = {
        "event_type": "consent.given",
        "actor": "citizen:abc",
        "subject": "abc",
        "purpose": "newsletter",
        "time": T,
        "commitment": bytes(32),
    }
    values.update(changes)
    return EventLeaf(**values)  # type: ignore[arg-type]


def test_leaf_is_canonical_json_and_round_trips() -> None:
    leaf = _leaf()
    data = leaf.encode()
    assert data == (
        b'{"actor":"citizen:abc","details":"' + base64.b64encode(bytes(32)) + b'",'
        b'"purpose":"newsletter","subject":"abc","time":"2026-01-15T09:41Z",'
        b'"type":"consent.given","v":1}'
    )
    assert EventLeaf.decode(data) == leaf


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b'{"v":1}',
        # keys out of order: same content, not canonical
        b'{"v":1,"actor":"a","details":"' + base64.b64encode(bytes(32)) + b'",'
        b'"purpose":null,"subject":null,"time":"2026-01-15T09:41Z","type":"t"}',
    ],
)
def test_leaf_decode_is_strict(data: bytes) -> None:
    with pytest.raises(EventError):
        EventLeaf.decode(data)


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": ""},
        {"actor": "x" * 257},
        {"subject": "a\nb"},
        {"time": T.replace(second=5)},
        {"commitment": b"short"},
    ],
)
def test_leaf_fields_are_checked(changes: dict[str, object]) -> None:
    with pytest.raises(EventError):
        _leaf(**changes)


class Colour(Enum):
    RED = "red"


def test_details_normalisation_and_refusals() -> None:
    ident = uuid.UUID(int=7)
    details = {"when": date(2026, 1, 2), "id": ident, "c": Colour.RED, "list": (1, 2.5)}
    assert canonical_details(details) == (
        b'{"c":"red","id":"' + str(ident).encode() + b'","list":[1,2.5],"when":"2026-01-02"}'
    )
    assert canonical_details(None) == b"null"
    for bad in ({"x": object()}, {1: "x"}, {"x": float("nan")}):
        with pytest.raises(EventError):
            canonical_details(bad)  # type: ignore[arg-type]


def test_commitment_depends_on_salt_and_details() -> None:
    salt = bytes(32)
    one = details_commitment(salt=salt, canonical=canonical_details({"a": 1}))
    assert one != details_commitment(
        salt=bytes(31) + b"\x01", canonical=canonical_details({"a": 1})
    )
    assert one != details_commitment(salt=salt, canonical=canonical_details({"a": 2}))
    with pytest.raises(EventError):
        details_commitment(salt=b"short", canonical=b"null")


def test_promise_round_trip_and_rejections() -> None:
    body = PromiseBody(origin=SIGNER.name, leaf_hash=bytes(range(32)), integrate_by=1_768_467_660)
    note = body.sign(SIGNER)
    assert open_promise(note, log_key=SIGNER.verifier, origin=SIGNER.name) == body
    assert open_promise(
        note, log_key=SIGNER.verifier, origin=SIGNER.name, leaf_hash=bytes(range(32))
    )
    with pytest.raises(PromiseError, match="another entry"):
        open_promise(note, log_key=SIGNER.verifier, origin=SIGNER.name, leaf_hash=bytes(32))
    with pytest.raises(PromiseError, match="another log"):
        open_promise(note, log_key=SIGNER.verifier, origin="elsewhere/audit")
    with pytest.raises(UnverifiedNoteError):
        open_promise(note, log_key=Signer(name="x/y", seed=bytes(32)).verifier, origin="x/y")
    forged = note.replace("1768467660", "1768467661")
    with pytest.raises(InvalidSignatureError):
        open_promise(forged, log_key=SIGNER.verifier, origin=SIGNER.name)
    # Same name, other key: another key id, so an unknown signer (C2SP signed-note).
    with pytest.raises(UnverifiedNoteError):
        open_promise(body.sign(OTHER), log_key=SIGNER.verifier, origin=SIGNER.name)


def test_a_checkpoint_is_not_a_promise() -> None:
    from audit.note import Checkpoint, sign_note

    checkpoint = sign_note(Checkpoint(SIGNER.name, 3, bytes(32)).text, signers=[SIGNER])
    with pytest.raises(PromiseError):
        open_promise(checkpoint, log_key=SIGNER.verifier, origin=SIGNER.name)


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (TilePath(level=0, index=0), "tile/0/000"),
        (TilePath(level=1, index=1234067), "tile/1/x001/x234/067"),
        (TilePath(level=0, index=1000, width=7), "tile/0/x001/000.p/7"),
        (TilePath(level=None, index=42, width=255), "tile/entries/042.p/255"),
    ],
)
def test_tile_paths_follow_tlog_tiles(tile: TilePath, path: str) -> None:
    assert tile.path == path
    assert parse_tile_path(path.removeprefix("tile/")) == tile


@given(
    level=st.none() | st.integers(0, 63),
    index=st.integers(0, 10**15),
    width=st.integers(1, 256),
)
def test_tile_paths_round_trip(level: int | None, index: int, width: int) -> None:
    tile = TilePath(level=level, index=index, width=width)
    assert parse_tile_path(tile.path.removeprefix("tile/")) == tile


@pytest.mark.parametrize(
    "path",
    [
        "0",
        "0/1",
        "0/0001",
        "00/000",
        "0/x000/001",
        "0/001/002",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/07",
        "64/000",
        "data/000",
        "0/-01",
    ],
)
def test_non_canonical_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(TreeRangeError):
        parse_tile_path(path)


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 300]
    bundle = encode_bundle(entries)
    assert bundle[:3] == b"\x00\x00\x00"
    assert decode_bundle(bundle) == entries
    for truncated in (bundle[:-1], b"\x00"):
        with pytest.raises(TreeRangeError):
            decode_bundle(truncated)
    with pytest.raises(TreeRangeError):
        encode_bundle([b"x" * 65536])
